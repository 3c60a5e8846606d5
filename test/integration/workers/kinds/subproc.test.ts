/**
 * CW_SUBPROC: worker processes on this machine speaking the data channel. Outputs are compared
 * byte for byte with a sequential run; every test checks that no worker process and no riots
 * temporary folder is left.
 */
import { REPO_ROOT } from '../../../helpers/root.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, readlinkSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { apply } from '../../../../src/applier/apply.js';
import { UserFunctionError, WorkerError } from '../../../../src/errors.js';
import { gdal } from '../../../../src/gdal/index.js';
import { bytesPerElement, type DataType } from '../../../../src/dtypes.js';
import { channelFixture, makeInputs, type ChannelFixture, subprocControls, withEventLog, writeUserModule } from '../../../helpers/subproc.js';

const ROOT = REPO_ROOT;
let dir: string;
let inputs: { a: string; b: string };
let combine: Parameters<typeof apply>[0];
let seqBytes: Buffer;
const COLS = 300;
const ROWS = 260; // 5 x 5 blocks of 64, ragged edges
const BLOCKS = 25;

let fx: ChannelFixture;

before(async () => {
  fx = await channelFixture('riots-subproc-test-', COLS, ROWS, { count: 0 });
  ({ dir, inputs, combine, seqBytes } = fx);
});

after(() => fx.close());

describe('CW_SUBPROC', () => {
  for (const read of [false, true]) {
    test(`output identical to a sequential run (computeWorkersRead ${read}), otherArgs per worker`, async () => {
      await withEventLog(
        async (log) => {
          const out = path.join(dir, `sub-${read}.tif`);
          const otherArgs = { count: 0 };
          // startupReadAheadMB 0: the workers that read do every read (the read-ahead is tested below)
          const r = await apply(combine, inputs, { out }, { controls: subprocControls(3, { startupReadAheadMB: 0 }, read), otherArgs });
          assert.deepEqual(readFileSync(out), seqBytes);
          assert.equal(otherArgs.count, 0, "the caller's otherArgs is left untouched");
          // one final copy per worker that connected (under load a late worker may not have joined)
          assert.equal(r.otherArgsList.length, log.of('connected').length);
          assert.ok(r.otherArgsList.length >= 1 && r.otherArgsList.length <= 3);
          const counts = (r.otherArgsList as { count: number }[]).map((o) => o.count);
          assert.equal(
            counts.reduce((s, c) => s + c, 0),
            BLOCKS,
            `every block counted once: ${counts.join(', ')}`,
          );
          assert.equal(log.of('result').length, BLOCKS);
          assert.equal(r.timings.toJSON().userfunction?.count, BLOCKS, 'worker timings merged');
          assert.equal(r.timings.toJSON().reading?.count, BLOCKS);
          const workersRead = [...r.workerTimings.values()].reduce((s, t) => s + (t.toJSON().reading?.count ?? 0), 0);
          assert.equal(workersRead, read ? BLOCKS : 0, read ? 'the workers did the reading' : 'the main did the reading');
          assert.ok(r.workerTimings.size >= 1);
        },
        { workersStarted: true },
      );
    });
  }

  for (const read of [false, true]) {
    test(`while the workers start, the main reads ahead up to startupReadAheadMB, then the workers take over (computeWorkersRead ${read})`, async () => {
      await withEventLog(
        async (log) => {
          // the worker is held at its start until the main has had time to read everything it may
          log.on((e) => {
            if (e.event === 'launched') {
              const pid = Number(/pid (\d+)/.exec(e.handle)![1]);
              process.kill(pid, 'SIGSTOP');
              setTimeout(() => process.kill(pid, 'SIGCONT'), 1500);
            }
          });
          // room for 7 blocks of the two inputs (Int16 and Float32, 64 x 64) beyond the usual
          const blockBytes = [inputs.a, inputs.b].reduce((n, f) => {
            const ds = gdal.open(f);
            const bytes = ds.bands.count() * bytesPerElement(ds.bands.get(1).dataType as DataType) * 64 * 64;
            ds.close();
            return n + bytes;
          }, 0);
          const extra = 7;
          const out = path.join(dir, `ahead-${read}.tif`);
          const r = await apply(combine, inputs, { out }, { controls: subprocControls(1, { startupReadAheadMB: (extra * blockBytes + 1) / 2 ** 20 }, read) });
          assert.deepEqual(readFileSync(out), seqBytes);
          const mainReads = r.timings.toJSON().reading!.count - [...r.workerTimings.values()].reduce((s, t) => s + (t.toJSON().reading?.count ?? 0), 0);
          // the usual room between read and write: readAhead 1 + capacity (1 worker x 2 tasks x 4) + 1 = 10; plus 7
          const expectedAhead = 1 + 1 * 2 * 4 + 1 + extra;
          assert.ok(expectedAhead < BLOCKS);
          if (read) assert.equal(mainReads, expectedAhead, 'the main read the blocks it had room for while the workers were held, the workers the rest');
          else assert.equal(mainReads, BLOCKS);
        },
        { workersStarted: true },
      );
    });
  }

  for (const read of [false, true]) {
    test(`the main reuses its block buffers over a long run, and the output stays identical (computeWorkersRead ${read})`, async () => {
      // 10 x 10 blocks, far more than are ever in flight: buffers must come back and go out again
      mkdirSync(path.join(dir, `pool-${read}`));
      const big = makeInputs(path.join(dir, `pool-${read}`), 640, 640);
      const seq = path.join(dir, `pool-seq-${read}.tif`);
      await apply(combine, big, { out: seq }, { controls: { windowXSize: 64, windowYSize: 64 }, otherArgs: { count: 0 } });
      await withEventLog(
        async (log) => {
          const out = path.join(dir, `pool-sub-${read}.tif`);
          await apply(combine, big, { out }, { controls: subprocControls(1, { startupReadAheadMB: 0 }, read), otherArgs: { count: 0 } });
          assert.deepEqual(readFileSync(out), readFileSync(seq));
          const [buffers] = log.of('buffers');
          assert.ok(buffers, 'the backend reported its buffers');
          // every result (and, when the main reads, both inputs of every block) came from the pool
          assert.ok(buffers.taken >= 100 * (read ? 1 : 3), `taken ${buffers.taken}`);
          assert.ok(buffers.reused >= buffers.taken / 2, `reused ${buffers.reused} of ${buffers.taken}`);
        },
        { workersStarted: true },
      );
    });
  }

  test('a reading worker that cannot open the inputs fails the run with its error, after saying it was ready', async () => {
    // GDAL is loaded in this process already; the workers load it afresh without the GTiff driver
    process.env.GDAL_SKIP = 'GTiff';
    try {
      await withEventLog(
        async (log) => {
          const out = path.join(dir, 'noreader.tif');
          const err = await apply(combine, inputs, { out }, { controls: subprocControls(1, { startupReadAheadMB: 0 }, true) }).then(
            () => assert.fail('the run should fail'),
            (e: unknown) => e as Error,
          );
          assert.ok(err instanceof WorkerError, String(err));
          assert.match(err.message, /CW_SUBPROC worker 0 could not set up \(user function or inputs\)/);
          assert.ok(err.message.includes(path.basename(inputs.a)), err.message);
          assert.equal(log.of('ready').length, 1, 'the worker said it was ready before its inputs were open');
          assert.equal(log.of('result').length, 0);
          assert.equal(existsSync(out), false);
        },
        { workersStarted: true },
      );
    } finally {
      delete process.env.GDAL_SKIP;
    }
  });

  test('relative input paths work for workers that read, though they run in another folder', async () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      await apply(combine, { a: path.basename(inputs.a), b: path.basename(inputs.b) }, { out: 'relative.tif' }, { controls: subprocControls(2, {}, true) });
    } finally {
      process.chdir(cwd);
    }
    assert.deepEqual(readFileSync(path.join(dir, 'relative.tif')), seqBytes);
  });

  test('the channel key never appears in a worker argv or environment', async () => {
    await withEventLog(
      async (log) => {
        const seen: { pid: number; argv: string; env: string; key: string }[] = [];
        log.on((e) => {
          // every worker, as soon as it runs (a slow one may be cancelled before it connects)
          if (e.event !== 'launched') return;
          const pid = Number(/pid (\d+)/.exec(e.handle)![1]);
          const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
          const file = argv[argv.indexOf('--channaddrfile') + 1]!;
          const key = (JSON.parse(readFileSync(file, 'utf8')) as { key: string }).key;
          seen.push({ pid, argv: argv.join(' '), env: readFileSync(`/proc/${pid}/environ`, 'utf8'), key });
        });
        await apply(combine, inputs, { out: path.join(dir, 'argv.tif') }, { controls: subprocControls(2) });
        assert.equal(seen.length, 2);
        for (const s of seen) {
          assert.match(s.key, /^[0-9a-f]{64}$/);
          assert.ok(s.argv.includes('computeworker') && s.argv.includes('--channaddrfile'), s.argv);
          assert.ok(!s.argv.toLowerCase().includes(s.key), 'key not in argv');
          assert.ok(!s.env.toLowerCase().includes(s.key), 'key not in the environment');
        }
      },
      { checkNothingLeft: false },
    );
  });

  test("workers get riots's malloc settings in GLIBC_TUNABLES; the user's own settings win by name", async () => {
    const saved = process.env.GLIBC_TUNABLES;
    process.env.GLIBC_TUNABLES = 'glibc.malloc.trim_threshold=12345:glibc.cpu.x86_rep_movsb_threshold=4096';
    try {
      await withEventLog(async (log) => {
        const out = path.join(dir, 'tunables.tif');
        // (glibc rewrites the variable's original text in /proc/PID/environ, so ask the worker)
        const r = await apply(combine, inputs, { out }, { controls: subprocControls(2), otherArgs: { envName: 'GLIBC_TUNABLES' } });
        assert.deepEqual(readFileSync(out), seqBytes);
        const seen = (r.otherArgsList as { envValue?: string }[]).map((o) => o.envValue).filter((v) => v !== undefined);
        // one value per worker that ran the function (under load one may connect and get no block)
        assert.equal(seen.length, new Set(log.of('result').map((e) => e.workerId)).size);
        assert.ok(seen.length >= 1);
        for (const v of seen) {
          assert.equal(
            v,
            'glibc.malloc.trim_threshold=12345:glibc.cpu.x86_rep_movsb_threshold=4096:glibc.malloc.mmap_threshold=33554432:glibc.malloc.hugetlb=1',
          );
        }
      });
    } finally {
      if (saved === undefined) delete process.env.GLIBC_TUNABLES;
      else process.env.GLIBC_TUNABLES = saved;
    }
  });

  test('a user-function error fails the run with its block, its worker and the original stack; not retried', async () => {
    await withEventLog(
      async (log) => {
        const out = path.join(dir, 'err.tif');
        const err = (await apply(combine, inputs, { out }, { controls: subprocControls(2), otherArgs: { throwOnBlock: 11 } }).then(
          () => assert.fail('the run should fail'),
          (e: unknown) => e,
        )) as UserFunctionError;
        assert.ok(err instanceof UserFunctionError, String(err));
        assert.equal(err.block?.index, 11);
        assert.equal(typeof err.workerId, 'number');
        assert.match(err.message, /block 11 \(x 64\.\.127, y 128\.\.191\)/);
        assert.match(err.message, new RegExp(`worker ${err.workerId}`));
        const cause = err.cause as Error;
        assert.equal(cause.name, 'RangeError');
        assert.match(cause.message, /refuses block 11/);
        assert.match(String(cause.stack), /throwDeep/, 'the original stack');
        assert.match(String(cause.stack), /userfn\.ts/, 'mapped to the user file');
        assert.equal(log.of('dispatched').filter((e) => e.blockIndex === 11).length, 1, 'not retried');
        assert.equal(existsSync(out), false, 'no output left');
        assert.deepEqual(
          readdirSync(dir).filter((n) => n.startsWith('err.tif')),
          [],
        );
      },
      { workersStarted: true },
    );
  });

  test('one-file layout: the module that defines the function calls apply() at its top level', async () => {
    const file = path.join(dir, 'user', 'onefile.ts');
    const out = path.join(dir, 'onefile.tif');
    writeFileSync(
      file,
      [
        `import { apply } from '${ROOT}/src/applier/apply.ts';`,
        `import { combine as inner } from './userfn.js';`,
        `import { defineUserFunction, isComputeWorker } from '${ROOT}/src/userfunction.ts';`,
        // no export name given: the main cannot import this module while it runs, the worker finds the sole tagged export
        'export const viaWrapper = defineUserFunction(import.meta.url, (info: any, i: any, o: any, a: any) => inner(info, i, o, a));',
        'if (!isComputeWorker()) {',
        `  await apply(viaWrapper, ${JSON.stringify(inputs)}, { out: ${JSON.stringify(out)} }, { controls: ${JSON.stringify(subprocControls(2))} });`,
        "  process.stdout.write('applied\\n');",
        '}',
      ].join('\n'),
    );
    const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), file], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /applied/);
    assert.deepEqual(readFileSync(out), seqBytes);
  });

  test('workers run in an empty folder after the user module and its sibling were deleted', async () => {
    const userDir = path.join(dir, 'user2');
    const file = writeUserModule(userDir);
    const mod = (await import(pathToFileURL(file).href)) as { combine: typeof combine };
    await withEventLog(
      async (log) => {
        const cwds: string[][] = [];
        log.on((e) => {
          if (e.event === 'bundled') {
            assert.deepEqual(e.packages, ['yaml']);
            assert.ok(e.files.some((f) => f.endsWith('weights.ts')));
            rmSync(userDir, { recursive: true, force: true });
          }
          if (e.event === 'connected') cwds.push(readdirSync(readlinkSync(`/proc/${e.pid}/cwd`)));
        });
        const out = path.join(dir, 'shipped.tif');
        await apply(mod.combine, inputs, { out }, { controls: subprocControls(2) });
        assert.equal(existsSync(userDir), false);
        assert.ok(cwds.length >= 1);
        for (const c of cwds) assert.deepEqual(c, [], 'each worker ran in an empty folder');
        assert.deepEqual(readFileSync(out), seqBytes);
      },
      { checkNothingLeft: false },
    );
  });

  test("files beside the user's module: shipped with defineUserFunction's files; without them, the error says how", async () => {
    const userDir = path.join(dir, 'user-files');
    mkdirSync(path.join(userDir, 'data'), { recursive: true });
    writeFileSync(path.join(userDir, 'package.json'), '{"type":"module"}\n');
    writeFileSync(path.join(userDir, 'lut.json'), JSON.stringify({ scale: 3 }));
    writeFileSync(path.join(userDir, 'data', 'offset.txt'), '7');
    const moduleWith = (files: string[] | undefined): string => `
import { readFileSync } from 'node:fs';
import { defineUserFunction } from '${ROOT}/src/userfunction.ts';
const lut = JSON.parse(readFileSync(new URL('./lut.json', import.meta.url), 'utf8')); // read when the module loads
export const scaled = defineUserFunction(import.meta.url, (info, inputs: any, outputs: any) => {
  const offset = Number(readFileSync(new URL('./data/offset.txt', import.meta.url), 'utf8')); // read on every block
  outputs.out = inputs.a.map((v: number) => v * lut.scale + offset, 'Int32');
}${files ? `, { files: ${JSON.stringify(files)} }` : ''});
`;
    const load = async (name: string, files: string[] | undefined): Promise<Parameters<typeof apply>[0]> => {
      writeFileSync(path.join(userDir, `${name}.ts`), moduleWith(files));
      return ((await import(pathToFileURL(path.join(userDir, `${name}.ts`)).href)) as { scaled: Parameters<typeof apply>[0] }).scaled;
    };
    const shipped = await load('shipped', ['lut.json', 'data/offset.txt']);
    const seq = path.join(dir, 'files-seq.tif');
    await apply(shipped, { a: inputs.a }, { out: seq }, { controls: { windowXSize: 64, windowYSize: 64 } });
    await withEventLog(async () => {
      const out = path.join(dir, 'files-sub.tif');
      await apply(shipped, { a: inputs.a }, { out }, { controls: subprocControls(2) });
      assert.deepEqual(readFileSync(out), readFileSync(seq), 'the same output as the sequential run');
    });
    // not shipped: the module cannot load in the worker; the error says why and what to do
    const bare = await load('bare', undefined);
    await withEventLog(async () => {
      const err = await apply(bare, { a: inputs.a }, { out: path.join(dir, 'files-bare.tif') }, { controls: subprocControls(1) }).then(
        () => assert.fail('the run should fail'),
        (e: unknown) => e as Error,
      );
      assert.ok(err instanceof WorkerError, String(err));
      assert.match(err.message, /process workers run a bundle of your module from a temporary folder.*'lut\.json'.*files: \['lut\.json'\]/);
    });
    // one of two shipped: the block that reads the other fails, saying which
    const partial = await load('partial', ['lut.json']);
    await withEventLog(async () => {
      const err = await apply(partial, { a: inputs.a }, { out: path.join(dir, 'files-partial.tif') }, { controls: subprocControls(1) }).then(
        () => assert.fail('the run should fail'),
        (e: unknown) => e as Error,
      );
      assert.ok(err instanceof UserFunctionError, String(err));
      assert.match(
        err.message,
        /'data\/offset\.txt' beside it is not there: ship it with defineUserFunction\(import\.meta\.url, fn, \{ files: \['data\/offset\.txt'\] \}\)/,
      );
    });
    // a file that is not there when the run starts is refused before any worker gets it
    const missing = await load('missing', ['lut.json', 'nope.json']);
    await assert.rejects(
      apply(missing, { a: inputs.a }, { out: path.join(dir, 'files-missing.tif') }, { controls: subprocControls(1) }),
      /defineUserFunction files: cannot read 'nope\.json' beside the module/,
    );
  });
});
