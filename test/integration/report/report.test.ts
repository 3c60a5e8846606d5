/**
 * controls.report opened in a real browser (Debian's chromium through playwright-core): the page
 * of a sequential run, of a CW_SUBPROC run whose worker is killed mid-run, and of a failed run
 * loads with no console error and no request; one block mark per block (a re-run block twice, its
 * lost attempt marked); the quicklook decodes with the output's aspect ratio; the statistics
 * shown are what GDAL reads from the output; `riots report` draws the same page again from the
 * JSON. Screenshots are kept in test-artifacts/.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { apply } from '../../../src/applier/apply.js';
import { UserFunctionError } from '../../../src/errors.js';
import type { RunRecord } from '../../../src/report/record.js';
import { launchBrowser, openPage, screenshot } from '../../helpers/browser.js';
import { py } from '../../helpers/py.js';
import { REPO_ROOT } from '../../helpers/root.js';
import { channelFixture, subprocControls, type ChannelFixture } from '../../helpers/subproc.js';

const COLS = 384;
const ROWS = 256; // 6 x 4 = 24 blocks of 64
const BLOCKS = 24;

let fx: ChannelFixture;
let browser: Browser;

before(async () => {
  fx = await channelFixture('riots-report-test-', COLS, ROWS);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  fx?.close();
});

const recordOf = (html: string): RunRecord => JSON.parse(readFileSync(html.replace(/\.html$/, '.json'), 'utf8')) as RunRecord;

/** What the page shows, read in the browser. */
async function inspect(html: string, shot: string) {
  const { page, errors, requests } = await openPage(browser, html);
  try {
    const marks = await page.$$eval('rect.block', (rs) =>
      rs.map((r) => ({
        block: Number(r.getAttribute('data-block')),
        worker: r.getAttribute('data-worker'),
        lost: r.classList.contains('lost'),
        title: r.querySelector('title')?.textContent ?? '',
      })),
    );
    const images = await page.$$eval('img.quicklook', (is) =>
      is.map((i) => {
        const img = i as unknown as { complete: boolean; naturalWidth: number; naturalHeight: number };
        return { decoded: img.complete && img.naturalWidth > 0, w: img.naturalWidth, h: img.naturalHeight };
      }),
    );
    const text = await page.locator('body').innerText();
    const file = await screenshot(page, shot);
    return { marks, images, text, errors, requests, file };
  } finally {
    await page.close();
  }
}

function gdalStats(file: string): { min: number; max: number; mean: number; std: number } {
  return py(
    `ds = gdal.Open(args['f']); a = ds.GetRasterBand(1).ReadAsArray().astype(np.float64); out({'min': float(a.min()), 'max': float(a.max()), 'mean': float(a.mean()), 'std': float(a.std())})`,
    {
      f: file,
    },
  );
}

test('a sequential run: one mark per block, the quicklook, the statistics GDAL reads, and riots report draws it again', async () => {
  const html = path.join(fx.dir, 'seq-report.html');
  const out = path.join(fx.dir, 'seq-reported.tif');
  await apply(fx.combine, fx.inputs, { out }, { controls: { windowXSize: 64, windowYSize: 64, report: html, statsIgnore: null } });
  const r = await inspect(html, 'report-sequential');
  assert.deepEqual(r.errors, [], 'no console error');
  assert.deepEqual(r.requests, [], 'no request: everything is inline');
  assert.equal(r.marks.length, BLOCKS);
  assert.deepEqual(
    r.marks.map((m) => m.block).sort((a, b) => a - b),
    Array.from({ length: BLOCKS }, (_, i) => i),
  );
  assert.ok(
    r.marks.every((m) => m.worker === 'main' && !m.lost),
    'computed in the main',
  );
  assert.match(r.marks.find((m) => m.block === 7)!.title, /block 7; window x 64–128, y 64–128 \(64×64\); read [\d.]+–[\d.]+ s; main: user function: /);
  assert.equal(r.images.length, 1);
  assert.ok(r.images[0]!.decoded, 'the quicklook decodes');
  assert.ok(Math.abs(r.images[0]!.w / r.images[0]!.h - COLS / ROWS) < 0.01, `aspect ratio ${r.images[0]!.w}x${r.images[0]!.h}`);
  assert.match(r.text, /The run succeeded/);
  // the figures on the page are the output's, as GDAL reads them
  const rec = recordOf(html);
  const g = gdalStats(out);
  const band = rec.outputs[0]!.bands![0]!;
  assert.equal(band.min, g.min);
  assert.equal(band.max, g.max);
  assert.ok(Math.abs(band.mean! - g.mean) < 1e-9 * Math.abs(g.mean) + 1e-9);
  assert.ok(Math.abs(band.stddev! - g.std) < 1e-6 * g.std);
  assert.match(r.text, new RegExp(`max\\s+${String(Number(g.max.toPrecision(6))).replace('.', '\\.')}`));
  assert.equal(rec.events!.readStart.filter((t) => t >= 0).length, BLOCKS);
  assert.equal(rec.events!.writeEnd.filter((t) => t >= 0).length, BLOCKS);
  for (let b = 0; b < BLOCKS; b++) assert.ok(rec.events!.readEnd[b]! <= rec.events!.writeStart[b]!, `block ${b} read before it was written`);
  // drawn again from the JSON: the same page
  const again = path.join(fx.dir, 'again.html');
  const cli = spawnSync(
    process.execPath,
    ['--import', 'tsx', path.join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'report', html.replace(/\.html$/, '.json'), '-o', again],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(cli.status, 0, cli.stderr);
  assert.equal(readFileSync(again, 'utf8'), readFileSync(html, 'utf8'));
});

test('CW_SUBPROC with a worker killed mid-run: its block appears twice, the lost attempt marked, the output still exact', async () => {
  const html = path.join(fx.dir, 'kill-report.html');
  const out = path.join(fx.dir, 'kill-reported.tif');
  const markerDir = path.join(fx.dir, 'kill-marker');
  mkdirSync(markerDir, { recursive: true });
  const victimBlock = 9;
  await apply(
    fx.combine,
    fx.inputs,
    { out },
    { controls: { ...subprocControls(2), report: html }, otherArgs: { killOnceOnBlock: victimBlock, markerDir, busyMs: 5 } },
  );
  assert.deepEqual(readFileSync(out), fx.seqBytes);
  const r = await inspect(html, 'report-cw-subproc-killed-worker');
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.requests, []);
  const rec = recordOf(html);
  assert.equal(rec.events!.lost.length, 1, 'one worker lost');
  const lostMarks = r.marks.filter((m) => m.lost);
  assert.ok(
    lostMarks.some((m) => m.block === victimBlock),
    `block ${victimBlock}'s lost attempt is marked`,
  );
  const counts = new Map<number, number>();
  for (const m of r.marks) counts.set(m.block, (counts.get(m.block) ?? 0) + 1);
  assert.equal(r.marks.length, BLOCKS + lostMarks.length, 'one mark per attempt');
  for (const m of lostMarks) {
    assert.equal(counts.get(m.block), 2, `block ${m.block} appears twice`);
    const rerun = r.marks.find((x) => x.block === m.block && !x.lost)!;
    assert.notEqual(rerun.worker, m.worker, 'run again by the other worker');
  }
  assert.ok(
    r.marks.every((m) => m.worker !== 'main'),
    'every block went to a worker',
  );
  assert.match(r.text, /lost at [\d.]+ s/);
  assert.match(r.text, /run again after a lost worker/);
});

test('a failed run: the report says why, no output was written, and the page still loads clean', async () => {
  const html = path.join(fx.dir, 'fail-report.html');
  const out = path.join(fx.dir, 'fail-reported.tif');
  await assert.rejects(
    apply(fx.combine, fx.inputs, { out }, { controls: { windowXSize: 64, windowYSize: 64, report: html }, otherArgs: { throwOnBlock: 5 } }),
    UserFunctionError,
  );
  assert.equal(existsSync(out), false);
  const r = await inspect(html, 'report-failed');
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.requests, []);
  assert.match(r.text, /The run failed: UserFunctionError: /);
  assert.match(r.text, /Not written/);
  assert.equal(r.images.length, 0);
  const rec = recordOf(html);
  assert.equal(rec.error!.name, 'UserFunctionError');
  assert.ok(
    r.marks.some((m) => m.block === 5),
    'the failing block is on the timeline',
  );
  assert.ok(r.marks.length <= BLOCKS);
});

test('a report whose folder does not exist is refused before the run starts', async () => {
  const out = path.join(fx.dir, 'never.tif');
  rmSync(out, { force: true });
  await assert.rejects(
    apply(fx.combine, fx.inputs, { out }, { controls: { report: path.join(fx.dir, 'no-such-folder', 'r.html') } }),
    /controls\.report: the folder of .* does not exist/,
  );
  await assert.rejects(apply(fx.combine, fx.inputs, { out }, { controls: { report: path.join(fx.dir, 'r.txt') } }), /a path ending in \.html/);
  // a file beside it that is not a riots report is never replaced
  const config = path.join(fx.dir, 'config.json');
  writeFileSync(config, '{"mine": true}\n');
  await assert.rejects(
    apply(fx.combine, fx.inputs, { out }, { controls: { report: path.join(fx.dir, 'config.html') } }),
    /config\.json exists and is not a riots run report/,
  );
  assert.equal(readFileSync(config, 'utf8'), '{"mine": true}\n');
  assert.equal(existsSync(out), false);
});

test('an earlier report at the same path is replaced by the next run', async () => {
  const html = path.join(fx.dir, 'again-report.html');
  const out = path.join(fx.dir, 'again.tif');
  for (const busyMs of [0, 1]) {
    rmSync(out, { force: true });
    await apply(fx.combine, fx.inputs, { out }, { controls: { windowXSize: 64, windowYSize: 64, report: html }, otherArgs: { busyMs } });
  }
  assert.deepEqual(recordOf(html).settings.controls, { windowXSize: 64, windowYSize: 64, report: html });
  assert.ok(recordOf(html).phases.userfunction!.seconds >= (BLOCKS * 1) / 1000, 'the second run (1 ms a block) wrote it');
});

test("a thematic output's quicklook is drawn with its colour table", async () => {
  const html = path.join(fx.dir, 'thematic-report.html');
  const out = path.join(fx.dir, 'classes.tif');
  await apply(
    (_info, inputs, outputs) => {
      const a = inputs.a;
      const o = a.like('Byte', 1);
      const src = a.data;
      for (let i = 0; i < o.data.length; i++) o.data[i] = Math.abs(Number(src[i])) % 5; // classes 0..4
      outputs.out = o;
    },
    fx.inputs,
    { out },
    { controls: { windowXSize: 64, windowYSize: 64, report: html, thematic: true, autoColorTableType: 'random', statsIgnore: null } },
  );
  const { page, errors } = await openPage(browser, html);
  try {
    assert.deepEqual(errors, []);
    // the quicklook's pixels, decoded by the browser
    const px = await page.$eval('img.quicklook', (el) => {
      const img = el as unknown as { naturalWidth: number; naturalHeight: number };
      const c = (globalThis as unknown as { document: { createElement(t: string): unknown } }).document.createElement('canvas') as {
        width: number;
        height: number;
        getContext(t: string): {
          drawImage(i: unknown, x: number, y: number): void;
          getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> };
        };
      };
      c.width = img.naturalWidth;
      c.height = img.naturalHeight;
      const g = c.getContext('2d');
      g.drawImage(el, 0, 0);
      return { w: c.width, h: c.height, rgba: Array.from(g.getImageData(0, 0, c.width, c.height).data) };
    });
    assert.equal(px.w, COLS, 'no overviews at this size: the image itself');
    // GDAL's view: each pixel's class and the colour table entry it maps to
    const truth = py<{ values: number[]; table: number[][] }>(
      `ds = gdal.Open(args['f']); b = ds.GetRasterBand(1); ct = b.GetColorTable()
out({'values': b.ReadAsArray().ravel().tolist(), 'table': [list(ct.GetColorEntry(i)) for i in range(ct.GetCount())]})`,
      { f: out },
    );
    for (const i of [0, 1, 77, COLS * 10 + 5, COLS * ROWS - 1]) {
      const want = truth.table[truth.values[i]!]!;
      assert.deepEqual(px.rgba.slice(i * 4, i * 4 + 4), want, `pixel ${i} (class ${truth.values[i]})`);
    }
    await screenshot(page, 'report-thematic');
  } finally {
    await page.close();
  }
});
