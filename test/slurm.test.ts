/**
 * CW_SLURM against a real one-node SLURM cluster (test/slurm/start.sh starts it). Outputs are
 * compared byte for byte with a sequential run; after every run each job of the run has ended
 * as SLURM reports it, no worker process is left and no riots temporary folder remains.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { apply } from '../src/applier/apply.js';
import '../src/workers/index.js';
import { ControlsError, TimeoutError, UserFunctionError, WorkerLostError } from '../src/errors.js';
import { jobScript, slurmSettings } from '../src/workers/slurm.js';
import { channelFixture, riotsTempEntries, type ChannelFixture, type EventLog, EventLog as Log } from './helpers/subproc.js';
import { batchScript, jobNameOf, jobStates, slurmControls, startSlurm, workerPids } from './helpers/slurm.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BLOCKS = 25;
let fx: ChannelFixture;

before(async () => {
  startSlurm();
  fx = await channelFixture('riots-slurm-test-', 300, 260, { count: 0 });
});

after(() => fx?.close());

const jobIds = (log: EventLog): string[] => log.of('launched').map((e) => e.handle.replace(/^job /, ''));

/** Every job of the run has ended in one of `states`; no worker process or riots temp folder is left. */
function assertRunEnded(log: EventLog, tempBefore: string[], states = ['COMPLETED', 'CANCELLED']): string[] {
  const ids = jobIds(log);
  assert.ok(ids.length > 0, 'jobs were submitted');
  const name = jobNameOf(ids[0]!);
  assert.match(name, /^riots-/);
  const st = jobStates(name);
  for (const id of ids) assert.ok(states.includes(st.get(id) ?? 'unknown'), `job ${id} ended (${st.get(id)})`);
  assert.deepEqual([...st.keys()].sort(), [...ids].sort(), 'no other job of the run');
  assert.deepEqual(workerPids(), [], 'no worker process is left');
  assert.deepEqual(riotsTempEntries().filter((e) => !tempBefore.includes(e)), [], 'no riots temporary folder is left');
  return ids;
}

async function withLog(body: (log: EventLog, tempBefore: string[]) => Promise<void>): Promise<void> {
  const tempBefore = riotsTempEntries();
  const log = new Log();
  try {
    await body(log, tempBefore);
  } finally {
    log.close();
  }
}

describe('CW_SLURM settings', () => {
  test('defaults, word lists, and the options riots sets itself', () => {
    const s = slurmSettings({});
    assert.deepEqual(s.sbatchOptions, []);
    assert.equal(s.workerCommand[0], process.execPath);
    assert.equal(s.pollSeconds, 2);
    assert.deepEqual(slurmSettings({ sbatchOptions: "--partition=short --comment='two words'" }).sbatchOptions, ['--partition=short', '--comment=two words']);
    assert.deepEqual(slurmSettings({ workerCommand: ['/opt/riots/bin/riots'] }).workerCommand, ['/opt/riots/bin/riots']);
    for (const bad of ['--job-name=x', '-J x', '--output=/tmp/x', '-o x', '--wrap=ls', '--array=1-3', '--parsable', '--export=NONE']) {
      assert.throws(() => slurmSettings({ sbatchOptions: bad }), ControlsError, bad);
    }
    assert.throws(() => slurmSettings({ sbatchOptions: "--comment='open" }), /sbatchOptions: unterminated/);
    assert.throws(() => slurmSettings({ sbatchOptions: 42 }), /string of shell words or an array/);
    assert.throws(() => slurmSettings({ pollSeconds: 0 }), /pollSeconds must be a positive/);
    assert.throws(() => slurmSettings({ initCmds: ['x'] }), /initCmds must be a string/);
  });

  test('a kind this version does not have is a clear error that lists the ones it has', async () => {
    const out = path.join(fx.dir, 'pbs.tif');
    const controls = slurmControls(2);
    (controls.concurrency as Record<string, unknown>).computeWorkerKind = 'CW_PBS';
    await assert.rejects(apply(fx.combine, fx.inputs, { out }, { controls }), (e: unknown) => {
      assert.ok(e instanceof ControlsError, String(e));
      assert.match(e.message, /CW_PBS is not available in this version of riots \(available: CW_THREADS, CW_SUBPROC, CW_AWSBATCH, CW_ECS, CW_SLURM\)/);
      return true;
    });
    assert.equal(existsSync(out), false);
  });

  test('the job script runs the init commands, then the worker with its words intact', () => {
    const script = jobScript(['/bin/echo', "it's", 'a b', '$HOME', 'plain'], 'X=1; export X');
    const r = spawnSync('/bin/sh', ['-c', script.replace(/^exec /m, '')], { encoding: 'utf8' });
    assert.equal(r.stdout, "it's a b $HOME plain\n");
    assert.match(script, /^#!\/bin\/sh\n/);
    assert.match(script, /X=1; export X\nexec /);
  });
});

describe('CW_SLURM with a real SLURM', () => {
  for (const [read, shared] of [
    [false, true],
    [true, false],
  ] as const) {
    test(`output identical to a sequential run (computeWorkersRead ${read}, haveSharedTemp ${shared}); the key is in no script or argv`, async () => {
      await withLog(async (log, tempBefore) => {
        const seen: string[] = [];
        log.on((e) => {
          // while the workers run: their command lines and job scripts
          if (e.event === 'connected') {
            for (const pid of workerPids()) seen.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '));
          }
        });
        const out = path.join(fx.dir, `slurm-${read}-${shared}.tif`);
        const otherArgs = { count: 0 };
        const r = await apply(fx.combine, fx.inputs, { out }, { controls: slurmControls(2, { read, shared, extra: { startupReadAheadMB: 0 } }), otherArgs });
        assert.deepEqual(readFileSync(out), fx.seqBytes);
        assert.equal(otherArgs.count, 0);
        const counts = (r.otherArgsList as { count: number }[]).map((o) => o.count);
        assert.equal(counts.reduce((s, c) => s + c, 0), BLOCKS, `every block counted once: ${counts.join(', ')}`);
        const workersRead = [...r.workerTimings.values()].reduce((s, t) => s + (t.toJSON().reading?.count ?? 0), 0);
        assert.equal(workersRead, read ? BLOCKS : 0);
        const ids = assertRunEnded(log, tempBefore, ['COMPLETED']);
        assert.equal(ids.length, 2);
        assert.ok(seen.length > 0 && seen.every((c) => c.includes('computeworker')), 'worker command lines seen');
        for (const id of ids) {
          const script = batchScript(id);
          assert.match(script, shared ? /computeworker -i \d+ --channaddrfile \S+channel\.addr/ : /computeworker -i \d+ --channaddr [^ ,]+,\d+/);
          assert.doesNotMatch(script, /[0-9a-f]{64}/i, 'no key in the job script');
        }
        for (const c of seen) assert.doesNotMatch(c, /[0-9a-f]{64}/i, 'no key in a worker argv');
      });
    });
  }

  test('one job per block with singleBlockComputeWorkers, at most singleBlockMaxWorkers at once', async () => {
    await withLog(async (log, tempBefore) => {
      // alive: launched and not yet done with its block and final report (the job itself may take a poll longer to end)
      const alive = new Set<number>();
      let most = 0;
      log.on((e) => {
        if (e.event === 'launched') most = Math.max(most, alive.add(e.workerId).size);
        if (e.event === 'finished' || e.event === 'lost' || e.event === 'ended') alive.delete(e.workerId);
      });
      const out = path.join(fx.dir, 'slurm-single.tif');
      await apply(fx.combine, fx.inputs, { out }, { controls: slurmControls(0, { single: true, extra: { singleBlockMaxWorkers: 4 } }), otherArgs: { count: 0 } });
      assert.deepEqual(readFileSync(out), fx.seqBytes);
      assert.equal(assertRunEnded(log, tempBefore, ['COMPLETED']).length, BLOCKS);
      assert.ok(most <= 4, `at most 4 jobs alive at once (saw ${most})`);
    });
  });

  test('a job cancelled mid-run: its blocks are re-run by the others and the output is identical', async () => {
    await withLog(async (log, tempBefore) => {
      let cancelled: string | undefined;
      log.on((e) => {
        if (e.event === 'result' && log.of('result').length === 8 && cancelled === undefined) {
          const busy = log.of('dispatched').at(-1)!.workerId;
          const job = log.of('launched').find((l) => l.workerId === busy)!.handle.replace(/^job /, '');
          cancelled = job;
          execFileSync('scancel', [job]);
        }
      });
      const out = path.join(fx.dir, 'slurm-lost.tif');
      await apply(fx.combine, fx.inputs, { out }, { controls: slurmControls(3, { extra: { startupReadAheadMB: 0 } }), otherArgs: { busyMs: 60 } });
      assert.deepEqual(readFileSync(out), fx.seqBytes);
      assert.ok(cancelled, 'a job was cancelled');
      assert.equal(log.of('lost').length, 1, 'one worker lost');
      assert.ok(log.of('lost')[0]!.requeued.length >= 1, 'its blocks went back to the queue');
      const st = jobStates(jobNameOf(cancelled!));
      assert.equal(st.get(cancelled!), 'CANCELLED');
      assertRunEnded(log, tempBefore);
    });
  });

  test('a user-function error names the block and the worker; every job ends', async () => {
    await withLog(async (log, tempBefore) => {
      const out = path.join(fx.dir, 'slurm-throw.tif');
      const err = await apply(fx.combine, fx.inputs, { out }, { controls: slurmControls(2), otherArgs: { throwOnBlock: 7 } }).then(
        () => assert.fail('the run should fail'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof UserFunctionError, String(err));
      assert.match(err.message, /user function refuses block 7/);
      assert.match(err.message, /worker \d/);
      assert.equal(existsSync(out), false, 'no output left looking complete');
      assertRunEnded(log, tempBefore);
    });
  });

  test('sbatch refusing the job fails the run with its message', async () => {
    await withLog(async (log, tempBefore) => {
      const out = path.join(fx.dir, 'slurm-badpart.tif');
      const err = await apply(fx.combine, fx.inputs, { out }, { controls: slurmControls(2, { extra: { sbatchOptions: ['--partition=nosuchpartition'] } }) }).then(
        () => assert.fail('the run should fail'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkerLostError, String(err));
      assert.match(err.message, /cannot submit the SLURM job of worker \d: sbatch failed: .*invalid partition/i);
      assert.equal(log.of('launched').length, 0);
      assert.deepEqual(riotsTempEntries().filter((e) => !tempBefore.includes(e)), []);
    });
  });

  test('jobs that never start: computeBarrierTimeout fails the run naming them, and they are cancelled', async () => {
    await withLog(async (log, tempBefore) => {
      const out = path.join(fx.dir, 'slurm-pending.tif');
      const err = await apply(fx.combine, fx.inputs, { out }, { controls: slurmControls(2, { barrier: 4, extra: { sbatchOptions: '--begin=now+1hour' } }) }).then(
        () => assert.fail('the run should fail'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof TimeoutError, String(err));
      assert.match(err.message, /computeBarrierTimeout/);
      assert.match(err.message, /job \d+ PENDING \(BeginTime\)/);
      assertRunEnded(log, tempBefore, ['CANCELLED']);
    });
  });

  for (const how of ['exit', 'SIGTERM'] as const) {
    test(`a main process that ${how === 'exit' ? 'calls process.exit() mid-run' : 'gets SIGTERM'} cancels its pending jobs`, async () => {
      const dir = mkdtempSync(path.join(fx.dir, 'main-'));
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'helpers', 'slurmrun.ts'), fx.inputs.a, fx.inputs.b, path.join(dir, 'o.tif'), fx.userModule, how === 'exit' ? 'exit' : ''], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (how === 'SIGTERM' && stdout.includes('ALL\n')) child.kill('SIGTERM');
      });
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
      const ids = [...stdout.matchAll(/^JOB (\d+)$/gm)].map((m) => m[1]!);
      assert.equal(ids.length, 2, `two jobs submitted: ${stdout} ${stderr}`);
      const st = jobStates(jobNameOf(ids[0]!));
      for (const id of ids) assert.equal(st.get(id), 'CANCELLED', `job ${id}`);
      if (how === 'exit') {
        assert.equal(code, 7);
        assert.match(stderr, /exiting mid-run: cancelled the SLURM jobs/);
      } else {
        assert.match(stdout, /ERROR INTERRUPTED .*SIGTERM/);
      }
      assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('o.tif')), [], 'no output left');
      rmSync(dir, { recursive: true, force: true });
    });
  }
});
