/**
 * CW_SLURM against a real one-node SLURM cluster (test/slurm/start.sh starts it). Outputs are
 * compared byte for byte with a sequential run; after every run each job of the run has ended
 * as SLURM reports it, no worker process is left and no riots temporary folder remains.
 */
import { REPO_ROOT } from '../../../helpers/root.js';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { apply } from '../../../../src/applier/apply.js';
import { ControlsError, TimeoutError, WorkerLostError } from '../../../../src/errors.js';
import { jobScript } from '../../../../src/workers/kinds/hpc.js';
import { slurmSettings } from '../../../../src/workers/kinds/slurm.js';
import { channelFixture, riotsTempEntries, type ChannelFixture, type EventLog } from '../../../helpers/subproc.js';
import { BLOCKS, assertNothingLeft, equivalentRun, jobIds, lostJobRun, userErrorRun, withLog } from '../../../helpers/hpcruns.js';
import { batchScript, jobNameOf, jobStates, slurmControls, startSlurm } from '../../../helpers/slurm.js';

const ROOT = REPO_ROOT;
let fx: ChannelFixture;

before(async () => {
  startSlurm();
  fx = await channelFixture('riots-slurm-test-', 300, 260, { count: 0 });
});

after(() => fx?.close());

/** Every job of the run has ended in one of `states`; no worker process or riots temp folder is left. */
function assertRunEnded(log: EventLog, tempBefore: string[], states = ['COMPLETED', 'CANCELLED']): string[] {
  const ids = jobIds(log);
  assert.ok(ids.length > 0, 'jobs were submitted');
  const name = jobNameOf(ids[0]!);
  assert.match(name, /^riots-/);
  const st = jobStates(name);
  for (const id of ids) assert.ok(states.includes(st.get(id) ?? 'unknown'), `job ${id} ended (${st.get(id)})`);
  assert.deepEqual([...st.keys()].sort(), [...ids].sort(), 'no other job of the run');
  assertNothingLeft(tempBefore);
  return ids;
}

describe('CW_SLURM settings', () => {
  test('defaults, word lists, and the options riots sets itself', () => {
    const s = slurmSettings({});
    assert.deepEqual(s.submitOptions, []);
    assert.equal(s.workerCommand[0], process.execPath);
    assert.equal(s.pollSeconds, 2);
    assert.deepEqual(slurmSettings({ sbatchOptions: "--partition=short --comment='two words'" }).submitOptions, ['--partition=short', '--comment=two words']);
    assert.deepEqual(slurmSettings({ workerCommand: ['/opt/riots/bin/riots'] }).workerCommand, ['/opt/riots/bin/riots']);
    for (const bad of ['--job-name=x', '-J x', '--output=/tmp/x', '-o x', '--wrap=ls', '--array=1-3', '--parsable', '--export=NONE']) {
      assert.throws(() => slurmSettings({ sbatchOptions: bad }), ControlsError, bad);
    }
    assert.throws(() => slurmSettings({ sbatchOptions: "--comment='open" }), /sbatchOptions must be a string of shell words \(unterminated/);
    assert.throws(() => slurmSettings({ sbatchOptions: 42 }), /string of shell words or an array/);
    assert.throws(() => slurmSettings({ pollSeconds: 0 }), /pollSeconds must be a positive/);
    assert.throws(() => slurmSettings({ initCmds: ['x'] }), /initCmds must be a non-empty string/);
  });

  test('the job script runs the init commands, then the worker with its words intact', () => {
    const script = jobScript(['/bin/echo', "it's", 'a b', '$HOME', 'plain'], 'X=1; export X');
    const r = spawnSync('/bin/sh', ['-c', script.replace(/^exec /m, '')], { encoding: 'utf8' });
    assert.equal(r.stdout, "it's a b $HOME plain\n");
    assert.match(script, /^#!\/bin\/sh\n/);
    assert.match(script, /X=1; export X\nexec /);
    // with a working folder: the job starts there, and stops if it cannot
    const inDir = jobScript(['/bin/pwd'], undefined, fx.dir);
    assert.equal(spawnSync('/bin/sh', ['-c', inDir], { encoding: 'utf8', cwd: '/' }).stdout, `${fx.dir}\n`);
    const missing = spawnSync('/bin/sh', ['-c', jobScript(['/bin/pwd'], undefined, path.join(fx.dir, 'no such dir'))], { encoding: 'utf8', cwd: '/' });
    assert.equal(missing.status, 1);
    assert.equal(missing.stdout, '');
  });
});

describe('CW_SLURM with a real SLURM', () => {
  for (const [read, shared] of [
    [false, true],
    [true, false],
  ] as const) {
    test(`output identical to a sequential run (computeWorkersRead ${read}, haveSharedTemp ${shared}); the key is in no script or argv`, async () => {
      const controls = slurmControls(2, { read, shared, extra: { startupReadAheadMB: 0 } });
      const ids = await equivalentRun(fx, `slurm-${read}-${shared}`, controls, read, (log, t) => assertRunEnded(log, t, ['COMPLETED']));
      for (const id of ids) {
        const script = batchScript(id);
        assert.match(script, shared ? /computeworker -i \d+ --channaddrfile \S+channel\.addr/ : /computeworker -i \d+ --channaddr [^ ,]+,\d+/);
        assert.doesNotMatch(script, /[0-9a-f]{64}/i, 'no key in the job script');
      }
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
      await apply(
        fx.combine,
        fx.inputs,
        { out },
        { controls: slurmControls(0, { single: true, extra: { singleBlockMaxWorkers: 4 } }), otherArgs: { count: 0 } },
      );
      assert.deepEqual(readFileSync(out), fx.seqBytes);
      assert.equal(assertRunEnded(log, tempBefore, ['COMPLETED']).length, BLOCKS);
      assert.ok(most <= 4, `at most 4 jobs alive at once (saw ${most})`);
    });
  });

  test('a job cancelled mid-run: its blocks are re-run by the others and the output is identical', async () => {
    const controls = slurmControls(3, { extra: { startupReadAheadMB: 0 } });
    const cancelled = await lostJobRun(
      fx,
      'slurm-lost',
      controls,
      (job) => execFileSync('scancel', [job]),
      (log, t) => assertRunEnded(log, t),
    );
    assert.equal(jobStates(jobNameOf(cancelled)).get(cancelled), 'CANCELLED');
  });

  test('a user-function error names the block and the worker; every job ends', async () => {
    await userErrorRun(fx, 'slurm-throw', slurmControls(2), (log, t) => assertRunEnded(log, t));
  });

  test('sbatch refusing the job fails the run with its message', async () => {
    await withLog(async (log, tempBefore) => {
      const out = path.join(fx.dir, 'slurm-badpart.tif');
      const err = await apply(
        fx.combine,
        fx.inputs,
        { out },
        { controls: slurmControls(2, { extra: { sbatchOptions: ['--partition=nosuchpartition'] } }) },
      ).then(
        () => assert.fail('the run should fail'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkerLostError, String(err));
      assert.match(err.message, /cannot submit the SLURM job of worker \d: sbatch failed: .*invalid partition/i);
      assert.equal(log.of('launched').length, 0);
      assert.deepEqual(
        riotsTempEntries().filter((e) => !tempBefore.includes(e)),
        [],
      );
    });
  });

  test('jobs that never start: computeBarrierTimeout fails the run naming them, and they are cancelled', async () => {
    await withLog(async (log, tempBefore) => {
      const out = path.join(fx.dir, 'slurm-pending.tif');
      const err = await apply(
        fx.combine,
        fx.inputs,
        { out },
        { controls: slurmControls(2, { barrier: 4, extra: { sbatchOptions: '--begin=now+1hour' } }) },
      ).then(
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
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          path.join(ROOT, 'test', 'helpers', 'slurmrun.ts'),
          fx.inputs.a,
          fx.inputs.b,
          path.join(dir, 'o.tif'),
          fx.userModule,
          how === 'exit' ? 'exit' : 'wait',
        ],
        {
          cwd: ROOT,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
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
      assert.deepEqual(
        readdirSync(dir).filter((n) => n.startsWith('o.tif')),
        [],
        'no output left',
      );
      rmSync(dir, { recursive: true, force: true });
    });
  }
});
