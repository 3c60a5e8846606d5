/**
 * Output files: drivers and creation options (defaults, env, per image), tile sizes that fit
 * the window, nodata, thematic flag, layer names, the GDAL cache bound, progress, and the
 * public API's names.
 */
import { REPO_ROOT } from '../../helpers/root.js';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as riots from '../../../src/index.js';
import { apply, ControlsError, ApplierControls } from '../../../src/index.js';
import { resolveCreationOptions, tileSizeFor } from '../../../src/gdal/creation.js';
import { makeRaster, py } from '../../helpers/py.js';

let dir: string;
const f = (n: string): string => path.join(dir, n);
before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'riots-out-'));
  makeRaster({ path: f('in.tif'), cols: 700, rows: 500, dtype: 'Int16', expr: '(r * 3 + c) % 300' });
});
after(() => rmSync(dir, { recursive: true, force: true }));

const copyFn = (_i: unknown, inputs: Record<string, riots.Block>, outputs: Record<string, riots.Block>): void => {
  outputs.o = inputs.a!;
};

interface Structure {
  driver: string;
  block: number[];
  structure: Record<string, string>;
  nodata: number | null;
  layerType: string | null;
  desc: string;
  same: boolean;
}
function structure(file: string): Structure {
  return py<Structure>(
    `
ds = gdal.Open(args['f']); b = ds.GetRasterBand(1)
src = gdal.Open(args['src'])
out({'driver': ds.GetDriver().ShortName, 'block': b.GetBlockSize(), 'structure': ds.GetMetadata('IMAGE_STRUCTURE'),
     'nodata': b.GetNoDataValue(), 'layerType': b.GetMetadataItem('LAYER_TYPE'), 'desc': b.GetDescription(),
     'same': bool((ds.ReadAsArray() == src.ReadAsArray()).all())})
`,
    { f: file, src: f('in.tif') },
  );
}

test('default GTiff: tiled deflate, band interleaved, nodata 0, tiles of the window', async () => {
  await apply(copyFn, { a: f('in.tif') }, { o: f('default.tif') });
  const s = structure(f('default.tif'));
  assert.equal(s.driver, 'GTiff');
  assert.deepEqual(s.block, [256, 256]);
  assert.equal(s.structure.COMPRESSION, 'DEFLATE');
  assert.equal(s.structure.INTERLEAVE, 'BAND');
  assert.equal(s.nodata, 0);
  assert.ok(s.same);
});

test('a window that is not a multiple of 256 gets a tile size that divides it', async () => {
  await apply(copyFn, { a: f('in.tif') }, { o: f('w96.tif') }, { controls: { windowXSize: 96, windowYSize: 160 } });
  assert.deepEqual(structure(f('w96.tif')).block, [96, 160]);
  assert.equal(tileSizeFor(640), 320);
  assert.equal(tileSizeFor(1024), 512);
  assert.equal(tileSizeFor(100), undefined);
  assert.throws(() => resolveCreationOptions('GTiff', undefined, 100, 256, 'o'), ControlsError);
  assert.throws(() => resolveCreationOptions('GTiff', ['TILED=YES', 'BLOCKXSIZE=256'], 512 + 128, 256, 'o'), /does not divide/);
  await assert.rejects(apply(copyFn, { a: f('in.tif') }, { o: f('w100.tif') }, { controls: { windowXSize: 100 } }), ControlsError);
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.includes('riots-tmp')),
    [],
  );
});

test('RIOS_DFLT_DRIVER and RIOS_DFLT_CREOPT_<driver> (blank-separated, as RIOS reads it), and per-image overrides', async () => {
  process.env.RIOS_DFLT_DRIVER = 'HFA';
  process.env.RIOS_DFLT_CREOPT_HFA = 'COMPRESSED=YES';
  process.env.RIOS_DFLT_CREOPT_GTiff = ' TILED=YES  COMPRESS=LZW BLOCKXSIZE=64 BLOCKYSIZE=64 ';
  try {
    await apply(
      (_i, inputs, outputs) => {
        outputs.img = inputs.a!;
        outputs.tif = inputs.a!;
        outputs.tif2 = inputs.a!;
      },
      { a: f('in.tif') },
      { img: f('env.img'), tif: f('env.tif'), tif2: f('env2.tif') },
      {
        controls: {
          calcStats: false,
          images: { tif: { driver: 'GTiff' }, tif2: { driver: 'GTiff', creationOptions: ['TILED=YES', 'COMPRESS=ZSTD'] } },
        },
      },
    );
  } finally {
    delete process.env.RIOS_DFLT_DRIVER;
    delete process.env.RIOS_DFLT_CREOPT_HFA;
    delete process.env.RIOS_DFLT_CREOPT_GTiff;
  }
  assert.equal(structure(f('env.img')).driver, 'HFA');
  assert.ok(structure(f('env.img')).same);
  const t = structure(f('env.tif'));
  assert.equal(t.driver, 'GTiff');
  assert.equal(t.structure.COMPRESSION, 'LZW');
  assert.deepEqual(t.block, [64, 64], 'every option of the list applied');
  assert.equal(structure(f('env2.tif')).structure.COMPRESSION, 'ZSTD');
});

test("RIOS_DFLT_DRIVEROPTIONS (RIOS's older form) applies to RIOS_DFLT_DRIVER's driver; RIOS_DFLT_CREOPT_<driver> wins over it", async () => {
  process.env.RIOS_DFLT_DRIVER = 'GTiff';
  process.env.RIOS_DFLT_DRIVEROPTIONS = 'TILED=YES COMPRESS=PACKBITS';
  try {
    await apply(copyFn, { a: f('in.tif') }, { o: f('envold.tif') }, { controls: { calcStats: false } });
    assert.equal(structure(f('envold.tif')).structure.COMPRESSION, 'PACKBITS');
    process.env.RIOS_DFLT_CREOPT_GTiff = 'TILED=YES COMPRESS=LZW';
    await apply(copyFn, { a: f('in.tif') }, { o: f('envnew.tif') }, { controls: { calcStats: false } });
    assert.equal(structure(f('envnew.tif')).structure.COMPRESSION, 'LZW');
  } finally {
    delete process.env.RIOS_DFLT_DRIVER;
    delete process.env.RIOS_DFLT_DRIVEROPTIONS;
    delete process.env.RIOS_DFLT_CREOPT_GTiff;
  }
});

test('statsIgnore sets nodata per image, null means none; thematic and layer names', async () => {
  await apply(
    (_i, inputs, outputs) => {
      outputs.o = inputs.a!;
      outputs.none = inputs.a!;
      outputs.them = inputs.a.map((v) => v % 7, 'Byte');
    },
    { a: f('in.tif') },
    { o: f('nd.tif'), none: f('nonodata.tif'), them: f('them.tif') },
    { controls: { statsIgnore: 5, images: { none: { statsIgnore: null }, them: { thematic: true, layerNames: ['classes'] } } } },
  );
  assert.equal(structure(f('nd.tif')).nodata, 5);
  assert.equal(structure(f('nonodata.tif')).nodata, null);
  const th = structure(f('them.tif'));
  assert.equal(th.layerType, 'thematic');
  assert.equal(th.desc, 'classes');
  assert.equal(th.nodata, 5);
});

test('controls are checked on construction', () => {
  assert.throws(() => new ApplierControls({ windowXSize: 0 }), ControlsError);
  assert.throws(() => new ApplierControls({ resampleMethod: 'nearest' as never }), /resampleMethod/);
  assert.throws(() => new ApplierControls({ bogus: 1 } as never), /controls\.bogus is not a setting of controls; its settings: windowXSize, /);
  assert.throws(
    () => new ApplierControls({ images: { x: { windowXSize: 4 } as never } }),
    /controls\.images\.x\.windowXSize: windowXSize is the same for every image; set it at the top of controls/,
  );
  assert.throws(() => new ApplierControls({ footprint: 'reference' }), /referenceImage/);
  const c = new ApplierControls({ statsIgnore: 3, images: { a: { statsIgnore: null } } });
  assert.equal(c.get('statsIgnore', 'a'), null);
  assert.equal(c.get('statsIgnore', 'b'), 3);
});

test('GDAL_CACHEMAX is bounded unless the user set it', () => {
  const script = `import('./src/gdal/index.ts').then(({ gdal }) => console.log(gdal.config.get('GDAL_CACHEMAX')))`;
  const run = (env: NodeJS.ProcessEnv): string =>
    spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: REPO_ROOT, env, encoding: 'utf8' }).stdout.trim();
  const env = { ...process.env };
  delete env.GDAL_CACHEMAX;
  assert.equal(run(env), '64');
  assert.equal(run({ ...env, GDAL_CACHEMAX: '64' }), '64');
});

test('progress: percentage lines when stderr is not a TTY', () => {
  const script = path.join(dir, 'progress.mts');
  writeFileSync(
    script,
    `import { apply } from ${JSON.stringify(path.resolve(REPO_ROOT, 'src', 'index.ts'))};
await apply(() => {}, { a: ${JSON.stringify(f('in.tif'))} }, {}, { controls: { progress: true, windowXSize: 64, windowYSize: 64 } });\n`,
  );
  const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.at(-1), 'riots: 100% (88/88 blocks)');
  assert.ok(lines.length >= 10 && lines.length <= 12, lines.join('\n'));
  assert.ok(!r.stderr.includes('\r'));
});

test('the public API exports exactly these names', () => {
  assert.deepEqual(Object.keys(riots).sort(), [
    'ApplierControls',
    'AuthError',
    'AwsError',
    'Block',
    'CLASS_STATS',
    'CW_AWSBATCH',
    'CW_ECS',
    'CW_NONE',
    'CW_PBS',
    'CW_SLURM',
    'CW_SUBPROC',
    'CW_THREADS',
    'ChannelError',
    'ConcurrencyStyle',
    'ControlsError',
    'DATA_TYPES',
    'GdalError',
    'GridError',
    'GridMismatchError',
    'InputError',
    'InputMissingError',
    'InputNotRasterError',
    'InterruptedError',
    'OutputBlockError',
    'OutputDirError',
    'OutputError',
    'PixelGrid',
    'ProtocolError',
    'RatError',
    'ReaderInfo',
    'ReferenceImageError',
    'RiotsError',
    'SchedulerCommandError',
    'TimeoutError',
    'Timings',
    'UsageError',
    'UserFunctionError',
    'WORKER_EVENTS',
    'WorkerError',
    'WorkerLostError',
    'apply',
    'calcClassStats',
    'computeWorkerId',
    'defineUserFunction',
    'describeBlock',
    'errorFromJSON',
    'errorToJSON',
    'fileinfo',
    'formatTimingsReport',
    'isBigIntBlock',
    'isComputeWorker',
    'makeExtraParamsFargate',
    'makeExtraParamsPrivateCluster',
    'pixelGridFromFile',
    'rat',
    'ratapplier',
  ]);
});

test("with no driver set, the output format follows the file name (GDAL's own extensions); RIOS_DFLT_DRIVER and controls driver win", async () => {
  await apply(
    (_i, inputs, outputs) => {
      outputs.img = inputs.a!;
      outputs.tiff = inputs.a!;
      outputs.odd = inputs.a!;
    },
    { a: f('in.tif') },
    { img: f('byname.img'), tiff: f('byname.tiff'), odd: f('byname.riotsout') },
    { controls: { calcStats: false } },
  );
  assert.equal(structure(f('byname.img')).driver, 'HFA');
  assert.ok(structure(f('byname.img')).same);
  assert.equal(structure(f('byname.tiff')).driver, 'GTiff');
  assert.equal(structure(f('byname.riotsout')).driver, 'GTiff', 'an extension no driver claims: the default');
  // a VRT holds no pixels: refused before anything is written
  await assert.rejects(apply(copyFn, { a: f('in.tif') }, { o: f('byname.vrt') }), { code: 'CONTROLS', message: /does not write \.vrt outputs.*gdalbuildvrt/ });
  assert.equal(existsSync(f('byname.vrt')), false);
  // the user's choice wins over the name
  process.env.RIOS_DFLT_DRIVER = 'GTiff';
  try {
    await apply(copyFn, { a: f('in.tif') }, { o: f('env-wins.img') }, { controls: { calcStats: false } });
  } finally {
    delete process.env.RIOS_DFLT_DRIVER;
  }
  assert.equal(structure(f('env-wins.img')).driver, 'GTiff');
  await apply(copyFn, { a: f('in.tif') }, { o: f('ctl-wins.img') }, { controls: { calcStats: false, driver: 'GTiff' } });
  assert.equal(structure(f('ctl-wins.img')).driver, 'GTiff');
});

test("creation options are checked against the driver's own list before any output is created", async () => {
  const refused = async (controls: Record<string, unknown>, out: string, message: RegExp): Promise<void> => {
    await assert.rejects(apply(copyFn, { a: f('in.tif') }, { o: f(out) }, { controls: { calcStats: false, ...controls } }), { code: 'CONTROLS', message });
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.startsWith(out.replace(/\..*$/, ''))),
      [],
      `nothing written for ${out}`,
    );
  };
  // a misspelt name: GDAL would warn and write an uncompressed file
  await refused(
    { creationOptions: ['TILED=YES', 'COMPRES=ZSTD'] },
    'co-name.tif',
    /'o' \(.*co-name\.tif\): creationOptions: driver GTiff has no creation option COMPRES \(did you mean COMPRESS\?\); its options are .*COMPRESS/,
  );
  // a value outside the list, with the valid ones named
  await refused(
    { creationOptions: ['COMPRESS=NOPE'] },
    'co-value.tif',
    /COMPRESS=NOPE is not valid for driver GTiff: COMPRESS must be one of NONE, LZW, .*DEFLATE/,
  );
  await refused({ creationOptions: ['ZLEVEL=high'] }, 'co-int.tif', /ZLEVEL=high is not valid for driver GTiff: ZLEVEL must be a whole number/);
  await refused(
    { driver: 'HFA', creationOptions: ['COMPRESSED=maybe'] },
    'co-bool.img',
    /COMPRESSED=maybe is not valid for driver HFA: COMPRESSED must be a boolean/,
  );
  await refused({ creationOptions: ['TILED'] }, 'co-syntax.tif', /creationOptions must be a list of NAME=VALUE strings \(got \["TILED"\]\)/);
  // the environment's options are checked too, and named as their source
  process.env.RIOS_DFLT_CREOPT_GTiff = 'TILED=YES COMPRESS=ZSTDD';
  try {
    await refused({}, 'co-env.tif', /RIOS_DFLT_CREOPT_GTiff: COMPRESS=ZSTDD is not valid for driver GTiff/);
  } finally {
    delete process.env.RIOS_DFLT_CREOPT_GTiff;
  }
  // a driver that writes only copies of finished rasters is refused with the way round it
  await refused({ driver: 'COG' }, 'co-cog.tif', /GDAL's COG driver cannot write a raster block by block .*gdal_translate -of COG/);
  // names and values in any case, HFA's alias COMPRESS of COMPRESSED, and riots' defaults of each driver pass
  await apply(
    copyFn,
    { a: f('in.tif') },
    { o: f('co-ok.tif') },
    { controls: { calcStats: false, creationOptions: ['tiled=yes', 'compress=zstd', 'ZSTD_LEVEL=3'] } },
  );
  assert.equal(structure(f('co-ok.tif')).structure.COMPRESSION, 'ZSTD');
  await apply(copyFn, { a: f('in.tif') }, { o: f('co-ok.img') }, { controls: { calcStats: false, creationOptions: ['COMPRESS=YES'] } });
  assert.ok(structure(f('co-ok.img')).same);
  for (const [driver, name] of [
    ['GTiff', 'co-def.tif'],
    ['HFA', 'co-def.img'],
  ] as const) {
    await apply(copyFn, { a: f('in.tif') }, { o: f(name) }, { controls: { calcStats: false, driver } });
    assert.equal(structure(f(name)).driver, driver);
    assert.ok(structure(f(name)).same);
  }
});
