/**
 * CW_PBS against real PBS commands: SLURM's Torque wrappers (Debian's slurm-wlm-torque: qsub,
 * qstat, qdel) in front of the one-node SLURM cluster of test/slurm/start.sh. Outputs are
 * compared byte for byte with a sequential run; after every run each job of the run has ended as
 * qstat reports it, no worker process is left and no riots temporary folder remains.
 */
import { REPO_ROOT } from '../../../helpers/root.js';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, mkdtempSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { apply } from '../../../../src/applier/apply.js';
import { ControlsError, TimeoutError, WorkerLostError } from '../../../../src/errors.js';
import { PBS, parseQstatFull, pbsJobState, pbsSettings } from '../../../../src/workers/kinds/pbs.js';
import { channelFixture, riotsTempEntries, type ChannelFixture, type EventLog } from '../../../helpers/subproc.js';
import { assertNothingLeft, equivalentRun, jobIds, lostJobRun, userErrorRun, withLog } from '../../../helpers/hpcruns.js';
import { batchScript, hpcControls, qstatJobs, startSlurm } from '../../../helpers/slurm.js';

const ROOT = REPO_ROOT;
let fx: ChannelFixture;

const pbsControls = (n: number, opts: Parameters<typeof hpcControls>[2] = {}) => hpcControls('CW_PBS', n, opts);

/** Every job of the run has ended (qstat: C) with one of these exit states; no worker process or riots temp folder is left. */
function assertRunEnded(log: EventLog, tempBefore: string[]): string[] {
  const ids = jobIds(log);
  assert.ok(ids.length > 0, 'jobs were submitted');
  const jobs = qstatJobs(ids);
  for (const id of ids) {
    const a = jobs.get(id);
    assert.ok(a, `qstat knows job ${id}`);
    assert.equal(a.job_state, 'C', `job ${id} ended`);
    assert.match(a.Job_Name!, /^riots-[0-9a-f]{8}$/, 'a name PBS accepts (15 characters at most)');
  }
  assert.equal(new Set(ids.map((id) => jobs.get(id)!.Job_Name)).size, 1, 'one name for the jobs of a run');
  assertNothingLeft(tempBefore);
  return ids;
}

before(async () => {
  startSlurm();
  fx = await channelFixture('riots-pbs-test-', 300, 260, { count: 0 });
});

after(() => fx?.close());

describe('CW_PBS settings and qstat', () => {
  test('qsubOptions as words; the options riots sets itself are refused, saying why', () => {
    const s = pbsSettings({});
    assert.deepEqual(s.submitOptions, []);
    assert.equal(s.pollSeconds, 2);
    assert.deepEqual(pbsSettings({ qsubOptions: "-q short -l walltime=01:00:00 -A 'my project'" }).submitOptions, [
      '-q',
      'short',
      '-l',
      'walltime=01:00:00',
      '-A',
      'my project',
    ]);
    for (const [bad, why] of [
      ['-N x', /may not set -N: riots sets it \(riots names the jobs\)/],
      ['-o /tmp/x', /logDir/],
      ['-j oe', /logDir/],
      ['-r y', /re-runs a lost worker itself/],
      ['-V', /set more variables with -v or in initCmds/],
      ['-J 1-4', /no arrays/],
      ['-t 1-4', /no arrays/],
      ['-I', /batch jobs/],
      ['-W block=true', /may not set -W block/],
    ] as const) {
      assert.throws(
        () => pbsSettings({ qsubOptions: bad }),
        (e: unknown) => e instanceof ControlsError && /computeWorkerExtraParams\.qsubOptions/.test(e.message) && why.test(e.message),
        bad,
      );
    }
    assert.doesNotThrow(() => pbsSettings({ qsubOptions: '-W depend=afterok:12 -v GDAL_CACHEMAX=512' }));
    assert.throws(() => pbsSettings({ qsubOptions: 7 }), /qsubOptions must be a string of shell words or an array/);
  });

  test('qstat -f output of PBS Pro, Torque and the SLURM wrapper: states, comments, exit status, wrapped values', () => {
    // the layouts of PBS Pro (4-space indent, tab-led continuation lines) and of the SLURM wrapper (tabs)
    const text = [
      'Job Id: 1234.pbs01',
      '    Job_Name = riots-0a1b2c3d',
      '    job_state = Q',
      '    comment = Not Running: Insufficient amount of resource: ncpus',
      '    Variable_List = PBS_O_HOME=/home/u,PBS_O_LANG=C,',
      '\tPBS_O_LOGNAME=u,PBS_O_PATH=/usr/bin',
      '',
      'Job Id: 1235.pbs01',
      '    job_state = F',
      '    Exit_status = 271',
      '',
      'Job Id:\t77',
      '\tJob_Name = riots-0a1b2c3d',
      '\tjob_state = R',
      '\tqueue = riots',
      '',
    ].join('\n');
    const jobs = parseQstatFull(text);
    assert.deepEqual(
      jobs.map((j) => j.id),
      ['1234.pbs01', '1235.pbs01', '77'],
    );
    assert.equal(jobs[0]!.attrs.Variable_List, 'PBS_O_HOME=/home/u,PBS_O_LANG=C,PBS_O_LOGNAME=u,PBS_O_PATH=/usr/bin');
    assert.deepEqual(pbsJobState(jobs[0]!.attrs), {
      state: 'Q (queued)',
      reason: 'Not Running: Insufficient amount of resource: ncpus',
      running: false,
      ended: false,
    });
    assert.deepEqual(pbsJobState(jobs[1]!.attrs), { state: 'F (finished)', reason: 'exit status 271', running: false, ended: true });
    assert.deepEqual(pbsJobState(jobs[2]!.attrs), { state: 'R (running)', reason: '', running: true, ended: false });
    assert.deepEqual(pbsJobState({ job_state: 'C', exit_status: '0' }), { state: 'C (completed)', reason: 'exit status 0', running: false, ended: true });
    assert.equal(pbsJobState({ job_state: 'H' }).state, 'H (held)');
  });

  test('qstat of a job that ran, and of one it no longer knows (as the real wrapper answers)', async () => {
    const dir = mkdtempSync(path.join(fx.dir, 'q-'));
    const id = await PBS.submit({
      workerId: 0,
      jobName: 'riots-qstat000',
      script: '#!/bin/sh\necho ran\n',
      scriptFile: path.join(dir, 'job.sh'),
      logFile: path.join(dir, 'job.log'),
      workDir: undefined,
      env: process.env,
      options: [],
      timeoutMs: 30_000,
    });
    assert.match(id, /^\d+$/);
    let st = await PBS.query([id, '999999'], 'riots-qstat000', 30_000);
    for (let i = 0; i < 100 && !st.get(id)?.ended; i++) {
      await new Promise((r) => setTimeout(r, 200));
      st = await PBS.query([id, '999999'], 'riots-qstat000', 30_000);
    }
    assert.equal(st.get(id)?.state, 'C (completed)');
    assert.equal(st.has('999999'), false, 'an unknown job is missing from the answer (it has ended)');
    assert.equal((await PBS.query(['999998'], 'riots-qstat000', 30_000)).size, 0, 'qstat exit code 153 (unknown job): an answer, not a failure');
    await PBS.cancel(id, 30_000); // an ended job: qdel fails silently, which is not an error
    assert.equal(readFileSync(path.join(dir, 'job.log'), 'utf8'), 'ran\n');
  });
});

describe('CW_PBS with real PBS commands', () => {
  for (const [read, shared] of [
    [false, true],
    [true, false],
  ] as const) {
    test(`output identical to a sequential run (computeWorkersRead ${read}, haveSharedTemp ${shared}); the key is in no script or argv`, async () => {
      const controls = pbsControls(2, { read, shared, extra: { startupReadAheadMB: 0 } });
      const ids = await equivalentRun(fx, `pbs-${read}-${shared}`, controls, read, assertRunEnded);
      for (const id of ids) {
        // the script as the scheduler under the wrapper keeps it
        const script = batchScript(id);
        assert.match(
          script,
          shared ? /cd \S+\/cwd \|\| exit 1\n.*computeworker -i \d+ --channaddrfile \S+channel\.addr/s : /computeworker -i \d+ --channaddr [^ ,]+,\d+/,
        );
        assert.doesNotMatch(script, /[0-9a-f]{64}/i, 'no key in the job script');
      }
    });
  }

  test('a job deleted with qdel mid-run: its blocks are re-run by the others and the output is identical', async () => {
    const deleted = await lostJobRun(
      fx,
      'pbs-lost',
      pbsControls(3, { extra: { startupReadAheadMB: 0 } }),
      (job) => execFileSync('qdel', [job]),
      assertRunEnded,
    );
    assert.equal(qstatJobs([deleted]).get(deleted)?.job_state, 'C');
  });

  test('a user-function error names the block and the worker; every job ends', async () => {
    await userErrorRun(fx, 'pbs-throw', pbsControls(2), assertRunEnded);
  });

  test('qsub refusing the job (an unknown queue) fails the run with its message', async () => {
    await withLog(async (log, tempBefore) => {
      const out = path.join(fx.dir, 'pbs-badqueue.tif');
      const err = await apply(fx.combine, fx.inputs, { out }, { controls: pbsControls(2, { extra: { qsubOptions: ['-q', 'nosuchqueue'] } }) }).then(
        () => assert.fail('the run should fail'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkerLostError, String(err));
      assert.match(err.message, /cannot submit the PBS job of worker \d: qsub failed: .*invalid partition/is);
      assert.equal(log.of('launched').length, 0);
      assert.equal(existsSync(out), false);
      assert.deepEqual(
        riotsTempEntries().filter((e) => !tempBefore.includes(e)),
        [],
      );
    });
  });

  test('jobs held in the queue (qsub -h): computeBarrierTimeout fails the run naming them, and they are deleted', async () => {
    await withLog(async (log, tempBefore) => {
      const out = path.join(fx.dir, 'pbs-held.tif');
      const err = await apply(fx.combine, fx.inputs, { out }, { controls: pbsControls(2, { barrier: 4, extra: { qsubOptions: '-h' } }) }).then(
        () => assert.fail('the run should fail'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof TimeoutError, String(err));
      assert.match(err.message, /computeBarrierTimeout/);
      assert.match(err.message, /job \d+ Q \(queued\)/);
      assertRunEnded(log, tempBefore);
    });
  });

  test('a main process that calls process.exit() mid-run deletes its held jobs with qdel', async () => {
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
        'exit',
        'CW_PBS',
      ],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    const ids = [...stdout.matchAll(/^JOB (\d+)$/gm)].map((m) => m[1]!);
    assert.equal(ids.length, 2, `two jobs submitted: ${stdout} ${stderr}`);
    assert.equal(code, 7);
    assert.match(stderr, new RegExp(`exiting mid-run: cancelled the PBS jobs of run \\S+ \\(qdel ${ids.join(' ')}\\)`));
    const jobs = qstatJobs(ids);
    for (const id of ids) assert.equal(jobs.get(id)?.job_state, 'C', `job ${id} deleted`);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.startsWith('o.tif')),
      [],
      'no output left',
    );
    rmSync(dir, { recursive: true, force: true });
  });
});
