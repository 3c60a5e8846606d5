/**
 * RIOS's environment variables for defaults, read as RIOS reads them (rios/const.py,
 * rios/imagereader.py): blank-separated creation options, numbered footprints, the overlap, and
 * a clear error naming a variable that makes no sense.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApplierControls } from '../../src/controls.js';
import { ControlsError } from '../../src/errors.js';
import { envAutoColorTableType, envCreationOptions, envFootprint, envInt } from '../../src/riosenv.js';

test('RIOS_DFLT_CREOPT_<driver> is a blank-separated list; RIOS_DFLT_DRIVEROPTIONS applies to the default driver only', () => {
  const env = { RIOS_DFLT_CREOPT_GTiff: '  COMPRESS=DEFLATE\tTILED=YES  PREDICTOR=2 ' };
  assert.deepEqual(envCreationOptions('GTiff', env), { options: ['COMPRESS=DEFLATE', 'TILED=YES', 'PREDICTOR=2'], from: 'RIOS_DFLT_CREOPT_GTiff' });
  assert.equal(envCreationOptions('HFA', env), undefined);
  // a comma is not a separator for RIOS: the text stays one option (which GDAL's list then refuses)
  assert.deepEqual(envCreationOptions('GTiff', { RIOS_DFLT_CREOPT_GTiff: 'COMPRESS=LZW,TILED=YES' })?.options, ['COMPRESS=LZW,TILED=YES']);
  const old = { RIOS_DFLT_DRIVEROPTIONS: 'COMPRESSED=YES IGNOREUTM=TRUE' };
  assert.deepEqual(
    envCreationOptions('HFA', old),
    { options: ['COMPRESSED=YES', 'IGNOREUTM=TRUE'], from: 'RIOS_DFLT_DRIVEROPTIONS' },
    "RIOS's default driver is HFA",
  );
  assert.equal(envCreationOptions('GTiff', old), undefined);
  assert.deepEqual(envCreationOptions('GTiff', { ...old, RIOS_DFLT_DRIVER: 'GTiff' })?.options, ['COMPRESSED=YES', 'IGNOREUTM=TRUE']);
  assert.deepEqual(envCreationOptions('HFA', { ...old, RIOS_DFLT_CREOPT_HFA: 'COMPRESSED=NO' })?.options, ['COMPRESSED=NO'], 'the per-driver variable wins');
  assert.deepEqual(envCreationOptions('GTiff', { RIOS_DFLT_CREOPT_GTiff: '' })?.options, [], 'set but empty: no options, as in RIOS');
});

test("RIOS_DFLT_FOOTPRINT takes RIOS's numbers and riots' names", () => {
  assert.equal(envFootprint({ RIOS_DFLT_FOOTPRINT: '0' }), 'intersection');
  assert.equal(envFootprint({ RIOS_DFLT_FOOTPRINT: '1' }), 'union');
  assert.equal(envFootprint({ RIOS_DFLT_FOOTPRINT: '2' }), 'reference');
  assert.equal(envFootprint({ RIOS_DFLT_FOOTPRINT: 'Union' }), 'union');
  assert.equal(envFootprint({}), undefined);
  assert.throws(
    () => envFootprint({ RIOS_DFLT_FOOTPRINT: '3' }),
    (e: unknown) => e instanceof ControlsError && /RIOS_DFLT_FOOTPRINT=3 must be 0 \(intersection\)/.test(e.message),
  );
  assert.throws(() => envFootprint({ RIOS_DFLT_FOOTPRINT: 'all' }), ControlsError);
});

test('whole-number variables: RIOS_DFLT_OVERLAP from 0, block sizes from 1', () => {
  assert.equal(envInt('RIOS_DFLT_OVERLAP', 0, { RIOS_DFLT_OVERLAP: '0' }), 0);
  assert.equal(envInt('RIOS_DFLT_OVERLAP', 0, { RIOS_DFLT_OVERLAP: ' 3 ' }), 3);
  assert.throws(() => envInt('RIOS_DFLT_OVERLAP', 0, { RIOS_DFLT_OVERLAP: '-1' }), /RIOS_DFLT_OVERLAP=-1 is not a whole number of at least 0/);
  assert.throws(() => envInt('RIOS_DFLT_BLOCKXSIZE', 1, { RIOS_DFLT_BLOCKXSIZE: '0' }), ControlsError);
});

test('the controls take their defaults from the variables: overlap, footprint, block size', () => {
  const saved = { ...process.env };
  try {
    Object.assign(process.env, { RIOS_DFLT_OVERLAP: '2', RIOS_DFLT_FOOTPRINT: '1', RIOS_DFLT_BLOCKXSIZE: '128' });
    const c = new ApplierControls({});
    assert.equal(c.global.overlap, 2);
    assert.equal(c.global.footprint, 'union');
    assert.equal(c.global.windowXSize, 128);
    const given = new ApplierControls({ overlap: 0, footprint: 'intersection' });
    assert.equal(given.global.overlap, 0, 'a control given wins over the variable');
    assert.equal(given.global.footprint, 'intersection');
  } finally {
    for (const k of ['RIOS_DFLT_OVERLAP', 'RIOS_DFLT_FOOTPRINT', 'RIOS_DFLT_BLOCKXSIZE']) delete process.env[k];
    Object.assign(process.env, saved);
  }
});

test('RIOS_DFLT_AUTOCOLORTABLETYPE sets autoColorTableType; a type riots cannot make names the variable', () => {
  assert.equal(envAutoColorTableType({}), undefined);
  assert.equal(envAutoColorTableType({ RIOS_DFLT_AUTOCOLORTABLETYPE: ' rainbow ' }), 'rainbow');
  assert.throws(
    () => envAutoColorTableType({ RIOS_DFLT_AUTOCOLORTABLETYPE: 'viridis' }),
    (e: unknown) => e instanceof ControlsError && /RIOS_DFLT_AUTOCOLORTABLETYPE=viridis is not one of random, rainbow, gray/.test(e.message),
  );
  const saved = process.env.RIOS_DFLT_AUTOCOLORTABLETYPE;
  try {
    process.env.RIOS_DFLT_AUTOCOLORTABLETYPE = 'gray';
    assert.equal(new ApplierControls({}).forImage('out').autoColorTableType, 'gray');
    assert.equal(new ApplierControls({ autoColorTableType: null }).forImage('out').autoColorTableType, null);
  } finally {
    if (saved === undefined) delete process.env.RIOS_DFLT_AUTOCOLORTABLETYPE;
    else process.env.RIOS_DFLT_AUTOCOLORTABLETYPE = saved;
  }
});
