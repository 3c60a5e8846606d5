/**
 * The main process's heap tuning (src/gdal/heap.ts): the same values as the workers' settings,
 * left alone when the user chose, and in a fresh process fewer page faults for dropped block
 * arrays and the heap advised for huge pages; apply() and ratapplier.apply() tune it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { makeRaster, py } from '../../helpers/py.js';
import { REPO_ROOT } from '../../helpers/root.js';
import { contiguousRuns, heapLeftAloneBecause, MALLOC_TUNING_ENV, MMAP_THRESHOLD_BYTES, TRIM_THRESHOLD_BYTES } from '../../../src/gdal/heap.js';
import { WORKER_MALLOC_TUNABLES } from '../../../src/workers/pool/malloc.js';

test('the thresholds are the ones riots gives its workers', () => {
  const tunables = new Map(WORKER_MALLOC_TUNABLES.split(':').map((kv) => kv.split('=') as [string, string]));
  assert.equal(Number(tunables.get('glibc.malloc.mmap_threshold')), MMAP_THRESHOLD_BYTES);
  assert.equal(Number(tunables.get('glibc.malloc.trim_threshold')), TRIM_THRESHOLD_BYTES);
  assert.equal(tunables.get('glibc.malloc.hugetlb'), '1');
});

test('left alone when the user chose: GLIBC_TUNABLES with malloc names, RIOTS_MALLOC_TUNING=0, not Linux', () => {
  assert.equal(heapLeftAloneBecause({}, 'linux'), null);
  assert.equal(heapLeftAloneBecause({ GLIBC_TUNABLES: 'glibc.pthread.rseq=0' }, 'linux'), null);
  assert.equal(heapLeftAloneBecause({ GLIBC_TUNABLES: 'glibc.pthread.rseq=0:glibc.malloc.hugetlb=0' }, 'linux'), 'left: GLIBC_TUNABLES sets malloc');
  assert.equal(heapLeftAloneBecause({ GLIBC_TUNABLES: WORKER_MALLOC_TUNABLES }, 'linux'), 'left: GLIBC_TUNABLES sets malloc');
  for (const v of ['0', 'off', 'OFF', 'false', 'no']) assert.equal(heapLeftAloneBecause({ [MALLOC_TUNING_ENV]: v }, 'linux'), 'left: RIOTS_MALLOC_TUNING');
  assert.equal(heapLeftAloneBecause({ [MALLOC_TUNING_ENV]: '1' }, 'linux'), null);
  assert.equal(heapLeftAloneBecause({}, 'darwin'), 'left: not glibc');
});

/** A fresh Node process running `body` (ESM, riots' sources through tsx); its last stdout line parsed as JSON. */
function inFreshProcess(body: string, env: NodeJS.ProcessEnv = {}): Record<string, unknown> {
  const e = { ...process.env, ...env };
  delete e.GLIBC_TUNABLES;
  if (env.GLIBC_TUNABLES !== undefined) e.GLIBC_TUNABLES = env.GLIBC_TUNABLES;
  if (env[MALLOC_TUNING_ENV] === undefined) delete e[MALLOC_TUNING_ENV];
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', body], { cwd: REPO_ROOT, env: e, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

const DROPPED_ARRAYS = `
import { readFileSync } from 'node:fs';
import { tuneHeap, heapTuningDetail } from './src/gdal/heap.ts';
const state = tuneHeap();
const detail = heapTuningDetail;
const f0 = process.resourceUsage().minorPageFault;
for (let i = 0; i < 500; i++) new Float64Array(100000).fill(i); // 800 KB each, as a chunk column
const faults = process.resourceUsage().minorPageFault - f0;
// smaps: MB of anonymous or heap mappings the kernel may back with huge pages (in madvise mode:
// only what was advised), wherever malloc put its heap
const smaps = readFileSync('/proc/self/smaps', 'utf8').split(/\\n(?=[0-9a-f]+-[0-9a-f]+ )/);
let thpMB = 0;
for (const m of smaps) {
  const head = m.split('\\n')[0];
  const [a, b] = head.split(' ')[0].split('-').map((x) => BigInt('0x' + x));
  if (/THPeligible:\\s+1/.test(m) && (/\\[heap\\]/.test(head) || head.trim().split(/\\s+/).length === 5)) thpMB += Number(b - a) / 2 ** 20;
}
console.log(JSON.stringify({ state, detail, faults, thpMB }));
`;

test('a fresh process: the heap is tuned, advised for huge pages, and dropped arrays fault far less', () => {
  const thp = spawnSync('cat', ['/sys/kernel/mm/transparent_hugepage/enabled'], { encoding: 'utf8' }).stdout;
  const tuned = inFreshProcess(DROPPED_ARRAYS);
  const plain = inFreshProcess(DROPPED_ARRAYS, { [MALLOC_TUNING_ENV]: '0' });
  assert.equal(tuned.state, 'tuned', String(tuned.detail));
  assert.equal(plain.state, 'left: RIOTS_MALLOC_TUNING');
  assert.ok(Number(plain.thpMB) < 64, `without tuning, little is advised (${String(plain.thpMB)} MB; THP in madvise mode here)`);
  if (/\[never\]/.test(thp)) console.log('# huge pages are off on this kernel: the heap advice is not checked');
  else assert.ok(Number(tuned.thpMB) >= 200, `${String(tuned.thpMB)} MB of the heap may use huge pages (THP: ${thp.trim()})`);
  const [t, p] = [Number(tuned.faults), Number(plain.faults)];
  assert.ok(p > 500 * 10, `glibc's defaults fault dropped arrays in again and again (${p} faults)`);
  assert.ok(t < p * 0.3, `${t} page faults tuned against ${p} untuned`);
});

test('left alone under GLIBC_TUNABLES that set malloc (as riots starts its workers)', () => {
  const r = inFreshProcess(DROPPED_ARRAYS, { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' });
  assert.equal(r.state, 'left: GLIBC_TUNABLES sets malloc');
  assert.ok(Number(r.thpMB) < 64, `${String(r.thpMB)} MB advised`);
});

test('apply() and ratapplier.apply() tune the heap when they start, and the runs give the same pixels and rows either way', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'riots-heap-'));
  try {
    const input = path.join(dir, 'in.tif');
    makeRaster({ path: input, cols: 300, rows: 200, expr: 'r * 7 + c' });
    py(
      `
ds = gdal.GetDriverByName('HFA').Create(args['p'], 10, 10, 1, gdal.GDT_Int32)
r = ds.GetRasterBand(1).GetDefaultRAT(); r.SetRowCount(1000)
r.CreateColumn('a', gdal.GFT_Real, gdal.GFU_Generic); r.WriteArray(np.arange(1000) * 0.5, 0)
r = None; ds = None
out(True)
`,
      { p: path.join(dir, 't.img') },
    );
    const runs = ['1', '0'].map((tuning) => {
      const out = path.join(dir, `out-${tuning}.tif`);
      const rat = path.join(dir, `t-${tuning}.img`);
      copyFileSync(path.join(dir, 't.img'), rat);
      const r = inFreshProcess(
        `
import { apply, ratapplier } from './src/index.ts';
import { heapTuningState } from './src/gdal/heap.ts';
const before = heapTuningState() ?? null;
await apply((_i, ins, outs) => { outs.o = ins.a.map((v) => v * 2); }, { a: ${JSON.stringify(input)} }, { o: ${JSON.stringify(out)} });
const afterApply = heapTuningState() ?? null;
await ratapplier.apply((_i, ins, outs) => { outs.t.b = ins.t.a.map((v) => v + 1); }, { t: ${JSON.stringify(rat)} }, { t: ${JSON.stringify(rat)} }, { controls: { blockLen: 300 } });
console.log(JSON.stringify({ before, afterApply }));
`,
        { [MALLOC_TUNING_ENV]: tuning },
      );
      assert.deepEqual(r, { before: null, afterApply: tuning === '1' ? 'tuned' : 'left: RIOTS_MALLOC_TUNING' });
      return py<{ pixels: number[]; rows: number[] }>(
        `
px = gdal.Open(args['o']).ReadAsArray()
tds = gdal.Open(args['t']); rat = tds.GetRasterBand(1).GetDefaultRAT()
b = [rat.GetNameOfCol(i) for i in range(rat.GetColumnCount())].index('b')
out({'pixels': px.ravel()[::97].tolist(), 'rows': rat.ReadAsArray(b).tolist(), 'ok': bool((px == gdal.Open(args['i']).ReadAsArray() * 2).all())})
`,
        { o: out, t: rat, i: input },
      );
    });
    assert.ok((runs[0] as unknown as { ok: boolean }).ok, 'the tuned run doubled every pixel');
    assert.deepEqual(runs[0], runs[1]);
    assert.deepEqual(
      runs[0]!.rows,
      Array.from({ length: 1000 }, (_, i) => i * 0.5 + 1),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ratapplier.apply() tunes the heap on its own', () => {
  const r = inFreshProcess(`
import { ratapplier } from './src/index.ts';
import { heapTuningState } from './src/gdal/heap.ts';
await ratapplier.apply(() => {}, {}, {}).catch(() => undefined);
console.log(JSON.stringify({ after: heapTuningState() ?? null }));
`);
  assert.deepEqual(r, { after: 'tuned' });
});

test('contiguousRuns: pieces back to back (a chunk header apart) make one range; a gap starts another', () => {
  const M = 16n << 20n;
  const base = 0x5555_0000_0000n;
  const step = M - 48n; // glibc: the piece's size less the 64 asked away, plus its 16-byte header
  assert.deepEqual(contiguousRuns([base + step, base, base + 2n * step], M), [[base, base + 2n * step + M - 64n]]);
  assert.deepEqual(contiguousRuns([base, base + 10n * M], M), [
    [base, base + M - 64n],
    [base + 10n * M, base + 11n * M - 64n],
  ]);
  assert.deepEqual(contiguousRuns([], M), []);
});

test('koffi comes from its native module, not its package entry (which loads https, zlib and crypto), and binds libc', () => {
  const code = `
    import { createRequire } from 'node:module';
    const { requireKoffi } = await import('./src/gdal/koffi.ts');
    const koffi = requireKoffi();
    const req = createRequire(import.meta.url);
    const version = req('koffi/package.json').version;
    const entry = req.resolve('koffi');
    const strlen = koffi.load('libc.so.6').func('size_t strlen(const char *s)');
    console.log(JSON.stringify({ same: koffi === requireKoffi(), version: koffi.version === version, entryLoaded: entry in req.cache, strlen: Number(strlen('riots')) }));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()!), { same: true, version: true, entryLoaded: false, strlen: 5 });
});
