/**
 * The OSR layer: CRS equality across spellings, point transformation in traditional GIS order,
 * against Python's osr on the same points.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSrs, sameCrs, toWkt, transformPoints } from '../../../src/gdal/srs.js';
import { py } from '../../helpers/gridpy.js';

test('sameCrs: four CRSs in every spelling OSR writes are equal to themselves only', () => {
  const spellings = py<Record<string, string[]>>(`
from osgeo import osr
res = {}
for code in (4326, 32755, 3577, 28355):  # 28355 is UTM 55S on GDA94: like 32755 but another datum
    s = osr.SpatialReference(); s.ImportFromEPSG(code)
    res[str(code)] = [s.ExportToWkt(), s.ExportToWkt(['FORMAT=WKT2_2018']), s.ExportToPrettyWkt(), s.ExportToProj4(), 'EPSG:%d' % code]
out(res)
`);
  const codes = Object.keys(spellings);
  for (const a of codes) {
    for (const b of codes) {
      for (const sa of spellings[a]!) {
        for (const sb of spellings[b]!) assert.equal(sameCrs(sa, sb), a === b, `${a} as ${sa.slice(0, 40)} vs ${b} as ${sb.slice(0, 40)}`);
      }
    }
  }
  assert.equal(sameCrs('', spellings['4326']![0]!), false);
  assert.equal(sameCrs('garbage', 'garbage'), true, 'identical text is equal without parsing');
  assert.equal(sameCrs('garbage', 'EPSG:4326'), false);
  assert.equal(parseSrs('garbage'), null);
});

test('transformPoints matches osr with traditional GIS axis order, both directions', () => {
  const xs = new Float64Array([400000, 500000, 612345.6, 455000]);
  const ys = new Float64Array([6100000, 5950000, 6012345.6, 7000000]);
  const want = py<[number, number][]>(
    `
from osgeo import osr
a = osr.SpatialReference(); a.ImportFromEPSG(32755); a.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
b = osr.SpatialReference(); b.ImportFromEPSG(4326); b.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
ct = osr.CoordinateTransformation(a, b)
out([list(ct.TransformPoint(x, y)[:2]) for x, y in zip(args['xs'], args['ys'])])
`,
    { xs: Array.from(xs), ys: Array.from(ys) },
  );
  const tx = xs.slice();
  const ty = ys.slice();
  transformPoints(toWkt('EPSG:32755'), 'EPSG:4326', tx, ty);
  for (let i = 0; i < xs.length; i++) {
    assert.ok(Math.abs(tx[i]! - want[i]![0]) < 1e-9 && Math.abs(ty[i]! - want[i]![1]) < 1e-9, `${tx[i]},${ty[i]} vs ${want[i]}`);
    assert.ok(tx[i]! > 140 && tx[i]! < 155, 'x is the longitude');
  }
  // and back
  transformPoints('EPSG:4326', toWkt('EPSG:32755'), tx, ty);
  for (let i = 0; i < xs.length; i++) assert.ok(Math.abs(tx[i]! - xs[i]!) < 1e-6 && Math.abs(ty[i]! - ys[i]!) < 1e-6);
});

test('transformPoints: unparseable projections are a GridError', () => {
  assert.throws(() => transformPoints('nonsense', 'EPSG:4326', new Float64Array(1), new Float64Array(1)), { code: 'GRID_ERROR' });
  assert.throws(() => toWkt('nonsense'), { code: 'GRID_ERROR' });
});
