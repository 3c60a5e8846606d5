/**
 * CW_AWSBATCH end to end, through the real AWS SDK against the local endpoint (jobs are local
 * processes running the worker image's ENTRYPOINT, with a 5 s start delay): the whole flow from
 * stack creation to deletion, the limits, the failures, and that no job of a run is left active.
 */
import { REPO_ROOT } from '../../../helpers/root.js';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execFile, spawnSync } from 'node:child_process';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { pathToFileURL } from 'node:url';
import { BatchClient, TerminateJobCommand } from '@aws-sdk/client-batch';
import { CloudFormationClient, DeleteStackCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { apply } from '../../../../src/applier/apply.js';
import { startLocalAws, type LocalAws } from '../../../../src/aws/local/server.js';
import { RUN_ID_TAG } from '../../../../src/aws/stack.js';
import { ControlsError, InterruptedError, TimeoutError, WorkerLostError } from '../../../../src/errors.js';
import { activeJobs, batchControls, describeJobs, jobIdsOf, useEndpointEnv, writeMainProject } from '../../../helpers/awsbatch.js';
import { createBatchStack, waitFor } from '../../../helpers/localaws.js';
import { EventLog, sequentialFixture } from '../../../helpers/subproc.js';

const ROOT = REPO_ROOT;
const START_DELAY = 5;
const COLS = 300;
const ROWS = 260; // 5 x 5 blocks of 64
const BLOCKS = 25;
const QUEUE = 'riosJobQueueWorker';

let dir: string;
let aws: LocalAws;
let restoreEnv: () => void;
let batch: BatchClient;
let inputs: { a: string; b: string };
let combine: Parameters<typeof apply>[0];
let seqBytes: Buffer;

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'riots-awsbatch-flow-'));
  aws = await startLocalAws({ startDelaySeconds: START_DELAY, stackDelaySeconds: 0.2, killGraceSeconds: 1 });
  restoreEnv = useEndpointEnv(aws);
  batch = new BatchClient({});
  ({ inputs, combine, seqBytes } = await sequentialFixture(dir, COLS, ROWS));
});

after(async () => {
  batch?.destroy();
  await aws?.close();
  restoreEnv?.();
  rmSync(dir, { recursive: true, force: true });
});

/** After a run: no job of the worker queue is still active (the Clean-up requirement). */
async function assertNoActiveJobs(runIds: Set<string>): Promise<void> {
  const active = await activeJobs(batch, QUEUE);
  assert.deepEqual(
    active.filter((j) => j.runId !== undefined && runIds.has(j.runId)),
    [],
    'no job of the run is still active',
  );
  assert.deepEqual(active, [], 'no job at all is active on the worker queue');
}

/** The stack for the tests after the whole flow (which creates and deletes its own); also when run alone. */
async function ensureStack(): Promise<void> {
  const cfn = new CloudFormationClient({});
  try {
    const st = await cfn.send(new DescribeStacksCommand({ StackName: 'RIOS' })).then(
      (r) => String(r.Stacks?.[0]?.StackStatus),
      () => 'none',
    );
    if (st !== 'CREATE_COMPLETE') await createBatchStack(aws);
  } finally {
    cfn.destroy();
  }
}

async function runIdsOf(jobIds: string[]): Promise<Set<string>> {
  const d = await describeJobs(batch, jobIds);
  return new Set(d.map((j) => j.tags?.[RUN_ID_TAG]).filter((x): x is string => x !== undefined));
}

describe('CW_AWSBATCH on the local endpoint', () => {
  test('the whole flow: create the stack, apply with 3 workers -> identical to sequential, delete the stack', async () => {
    await createBatchStack(aws);
    const log = new EventLog();
    const out = path.join(dir, 'batch.tif');
    try {
      const t0 = performance.now();
      const r = await apply(combine, inputs, { out }, { controls: batchControls(3), otherArgs: { count: 0 } });
      assert.ok(performance.now() - t0 >= START_DELAY * 1000, 'the start delay was really waited');
      assert.deepEqual(readFileSync(out), seqBytes, 'output byte-identical to the sequential run');
      const counts = (r.otherArgsList as { count: number }[]).map((o) => o.count);
      assert.equal(
        counts.reduce((s, c) => s + c, 0),
        BLOCKS,
        `every block once: ${counts.join(', ')}`,
      );
      const ids = jobIdsOf(log.of('launched').map((e) => e.handle));
      assert.equal(ids.length, 3, 'one job per worker');
      const jobs = await describeJobs(batch, ids);
      const runIds = new Set(jobs.map((j) => j.tags?.[RUN_ID_TAG]));
      assert.equal(runIds.size, 1, 'every job tagged with the one run id');
      assert.match([...runIds][0]!, /^riots-/);
      for (const j of jobs) {
        // a worker that became ready exits 0 after the shutdown; one still in its setup when the
        // run ended may exit otherwise (see REQUESTS.md), but its job must have ended all the same
        const worker = log.of('launched').find((e) => e.handle === `job ${j.jobId}`)!.workerId;
        const wasReady = log.of('ready').some((e) => e.workerId === worker);
        const why = `${j.jobId} (worker ${worker}): ${j.status} ${j.statusReason ?? ''} exit ${j.container?.exitCode}`;
        if (wasReady) assert.equal(j.status, 'SUCCEEDED', why);
        else assert.ok(j.status === 'SUCCEEDED' || j.status === 'FAILED', why);
        assert.equal(j.jobQueue?.endsWith(QUEUE) || j.jobQueue === QUEUE, true, String(j.jobQueue));
        const cmd = j.container!.command!;
        assert.equal(cmd[0], '-i', `the command holds only computeworker's arguments: ${cmd.join(' ')}`);
        assert.ok(!cmd.includes('computeworker'), 'the ENTRYPOINT supplies computeworker');
        assert.equal(cmd[cmd.indexOf('--channaddr') + 1]!.split(',')[0], '127.0.0.1');
        const key = j.container!.environment!.find((e) => e.name === 'RIOTS_CHANNEL_KEY')?.value;
        assert.match(String(key), /^[0-9a-f]{64}$/, 'the key is in the environment override');
        assert.ok(!cmd.join(' ').includes(key!), 'the key is not in the command');
      }
      await assertNoActiveJobs(runIds as Set<string>);
    } finally {
      log.close();
    }
    const cfn = new CloudFormationClient({});
    try {
      await cfn.send(new DeleteStackCommand({ StackName: 'RIOS' }));
      await waitFor(
        'stack RIOS to be deleted',
        async () =>
          cfn.send(new DescribeStacksCommand({ StackName: 'RIOS' })).then(
            (r) => String(r.Stacks?.[0]?.StackStatus),
            (e: Error) => e.message,
          ),
        (s) => /does not exist|DELETE_COMPLETE/.test(s),
      );
    } finally {
      cfn.destroy();
    }
  });
  test('too many workers are refused before any job is submitted', async () => {
    await ensureStack();
    const before = await activeJobs(batch, QUEUE);
    const err = await apply(combine, inputs, { out: path.join(dir, 'many.tif') }, { controls: batchControls(129) }).then(
      () => assert.fail('129 workers should be refused'),
      (e: unknown) => e as Error,
    );
    assert.ok(err instanceof ControlsError, String(err));
    assert.match(err.message, /numComputeWorkers 129 .*stack 'RIOS'.*BatchMaxVCPUS 128 \/ BatchVCPUS 1 = 128/);
    assert.deepEqual(await activeJobs(batch, QUEUE), before, 'nothing submitted');
  });

  test('workers that can never start: the barrier timeout lists every job with its statusReason, and all are terminated', async () => {
    await ensureStack();
    const log = new EventLog();
    aws.holdQueue(QUEUE, 'held by the test: no capacity in the compute environment');
    try {
      const t0 = performance.now();
      const err = await apply(
        combine,
        inputs,
        { out: path.join(dir, 'held.tif') },
        { controls: batchControls(2, {}, { computeBarrierTimeout: START_DELAY + 2 }) },
      ).then(
        () => assert.fail('the run should time out'),
        (e: unknown) => e as Error,
      );
      assert.ok(err instanceof TimeoutError, String(err));
      assert.ok(performance.now() - t0 >= (START_DELAY + 2) * 1000);
      const ids = jobIdsOf(log.of('launched').map((e) => e.handle));
      assert.equal(ids.length, 2);
      assert.match(err.message, /computeBarrierTimeout/);
      for (const id of ids) {
        assert.match(err.message, new RegExp(`job ${id} RUNNABLE; statusReason: held by the test: no capacity`), err.message);
      }
      const jobs = await describeJobs(batch, ids);
      for (const j of jobs) {
        assert.equal(j.status, 'FAILED', `${j.jobId} terminated`);
        assert.match(String(j.statusReason), /riots run riots-\S+ stopped worker/);
      }
      await assertNoActiveJobs(await runIdsOf(ids));
    } finally {
      aws.holdQueue(QUEUE, undefined);
      log.close();
    }
  });

  test("worker jobs that fail: each job's statusReason, exit code and container reason are in the error", async () => {
    await ensureStack();
    const log = new EventLog();
    const preload = path.join(dir, 'die.cjs');
    (await import('node:fs')).writeFileSync(preload, "process.kill(process.pid, 'SIGKILL');\n");
    try {
      const err = await apply(
        combine,
        inputs,
        { out: path.join(dir, 'dead.tif') },
        {
          controls: batchControls(2, { jobEnvironment: { NODE_OPTIONS: `--require ${preload}` } }),
        },
      ).then(
        () => assert.fail('the run should fail'),
        (e: unknown) => e as Error,
      );
      assert.ok(err instanceof WorkerLostError, String(err));
      const ids = jobIdsOf(log.of('launched').map((e) => e.handle));
      assert.equal(ids.length, 2);
      for (const id of ids) {
        assert.match(
          err.message,
          new RegExp(`job ${id} FAILED; statusReason: Essential container in task exited; exit code 137; reason: killed by SIGKILL`),
          err.message,
        );
      }
      await assertNoActiveJobs(await runIdsOf(ids));
    } finally {
      log.close();
    }
  });

  test('SIGKILL of one worker job mid-run: its blocks are re-run and the output is identical', async () => {
    await ensureStack();
    const log = new EventLog();
    const out = path.join(dir, 'killed.tif');
    let killed: { workerId: number; jobId: string; pid: number } | undefined;
    const connectedPid = new Map<number, number>();
    log.on((e) => {
      if (e.event === 'connected') connectedPid.set(e.workerId, e.pid);
      if (e.event !== 'result' || killed) return;
      const jobId = jobIdsOf([log.of('launched').find((l) => l.workerId === e.workerId)!.handle])[0]!;
      const pid = aws.state.jobs.get(jobId)!.pid!;
      killed = { workerId: e.workerId, jobId, pid };
      process.kill(pid, 'SIGKILL');
    });
    try {
      await apply(combine, inputs, { out }, { controls: batchControls(3, {}, { computeWorkersRead: false, numReadWorkers: 1 }), otherArgs: { busyMs: 120 } });
      assert.ok(killed, 'a worker was killed');
      assert.equal(killed.pid, connectedPid.get(killed.workerId), 'the job process is the worker that connected');
      assert.deepEqual(readFileSync(out), seqBytes, 'output identical despite the lost worker');
      const lost = log.of('lost').filter((e) => e.workerId === killed!.workerId);
      assert.equal(lost.length, 1, 'the killed worker was declared lost');
      assert.ok(lost[0]!.requeued.length >= 1, `its blocks were re-queued: ${JSON.stringify(lost[0])}`);
      for (const b of lost[0]!.requeued) {
        const again = log.of('result').filter((r) => r.blockIndex === b && r.workerId !== killed!.workerId);
        assert.equal(again.length, 1, `block ${b} re-run by another worker`);
      }
      const [job] = await describeJobs(batch, [killed.jobId]);
      assert.equal(job!.status, 'FAILED');
      assert.equal(job!.container?.exitCode, 137);
      await assertNoActiveJobs(await runIdsOf(jobIdsOf(log.of('launched').map((e) => e.handle))));
    } finally {
      log.close();
    }
  });

  test('an interrupt (AbortSignal) mid-run terminates every job of the run', async () => {
    await ensureStack();
    const log = new EventLog();
    const ac = new AbortController();
    log.on((e) => {
      if (e.event === 'result') ac.abort(new InterruptedError('stopped by the test'));
    });
    try {
      const err = await apply(
        combine,
        inputs,
        { out: path.join(dir, 'abort.tif') },
        { controls: batchControls(2), otherArgs: { busyMs: 200 }, signal: ac.signal },
      ).then(
        () => assert.fail('the run should be interrupted'),
        (e: unknown) => e as Error,
      );
      assert.ok(err instanceof InterruptedError, String(err));
      const ids = jobIdsOf(log.of('launched').map((e) => e.handle));
      assert.equal(ids.length, 2);
      for (const j of await describeJobs(batch, ids)) assert.ok(j.status === 'SUCCEEDED' || j.status === 'FAILED', `${j.jobId} ended: ${j.status}`);
      await assertNoActiveJobs(await runIdsOf(ids));
    } finally {
      log.close();
    }
  });
  test('submit-main runs a main script as a job; the script runs an apply with worker jobs', async () => {
    await ensureStack();
    const { dockerfile, fnModule } = writeMainProject(path.join(dir, 'mainproj'), ROOT);
    aws.putImage('riosecrmain', 'latest', dockerfile);
    const { diff } = (await import(pathToFileURL(fnModule).href)) as { diff: Parameters<typeof apply>[0] };
    const ref = path.join(dir, 'main-ref.tif');
    await apply(diff, inputs, { out: ref }, { controls: { windowXSize: 64, windowYSize: 64 } });
    const out = path.join(dir, 'main-out.tif');
    // jobs inherit the endpoint's environment: the main job's workers connect over loopback
    process.env.RIOTS_CHANNEL_ADDRESS = '127.0.0.1';
    let stdout: string;
    try {
      ({ stdout } = await promisify(execFile)(
        process.execPath,
        [
          '--import',
          'tsx',
          path.join(ROOT, 'src', 'cli', 'main.ts'),
          'batch',
          'submit-main',
          '--args',
          `${inputs.a} ${inputs.b} ${out}`,
          '--wait',
          '--poll',
          '0.5',
          '--timeout',
          '120',
        ],
        { env: process.env, encoding: 'utf8' },
      ));
    } finally {
      delete process.env.RIOTS_CHANNEL_ADDRESS;
    }
    const mainId = stdout.split('\n')[0]!.trim();
    assert.match(stdout, new RegExp(`job ${mainId}: RUNNING`));
    assert.match(stdout, new RegExp(`job ${mainId}: SUCCEEDED`));
    const mainLog = readFileSync(path.join(aws.stateDir, 'jobs', `${mainId}.log`), 'utf8');
    assert.match(mainLog, /main done: 25 blocks, [12] workers/);
    assert.deepEqual(readFileSync(out), readFileSync(ref), "the main job's output equals a sequential run");
    // the worker jobs the main job submitted: tagged with its run, all ended
    const main = aws.state.jobs.get(mainId)!;
    const workers = [...aws.state.jobs.values()].filter((j) => j.jobQueue.endsWith(`/${QUEUE}`) && j.createdAt >= main.createdAt);
    assert.equal(workers.length, 2, 'the main job submitted one job per worker');
    assert.equal(new Set(workers.map((j) => j.tags[RUN_ID_TAG])).size, 1, 'tagged with one run id');
    for (const j of workers) assert.ok(j.status === 'SUCCEEDED' || j.status === 'FAILED', `${j.jobId} ended (${j.status})`);
    assert.ok(workers.some((j) => j.status === 'SUCCEEDED'));
    await assertNoActiveJobs(new Set());
  });
  test('a DISABLED worker queue: SubmitJob refusals are in the error, nothing is left', async () => {
    await ensureStack();
    aws.setQueueState(QUEUE, 'DISABLED');
    try {
      const err = await apply(combine, inputs, { out: path.join(dir, 'disabled.tif') }, { controls: batchControls(2) }).then(
        () => assert.fail('the run should fail'),
        (e: unknown) => e as Error,
      );
      assert.ok(err instanceof WorkerLostError, String(err));
      assert.match(
        err.message,
        /worker 0 \(not started\): could not be started: SubmitJob of riots-\S+-worker-0 to riosJobQueueWorker failed: ClientException/,
      );
      assert.match(err.message, /worker 1 \(not started\)/);
      await assertNoActiveJobs(new Set());
    } finally {
      aws.setQueueState(QUEUE, 'ENABLED');
    }
  });

  /**
   * A user's program that dies, outside riots, once both worker jobs of its CW_AWSBATCH run are
   * submitted: `process.exit(7)` or an uncaught exception. With `endpoint`, it points the SDK
   * environment there first (what the exit clean-up inherits).
   */
  async function dyingMain(name: string, how: 'exit' | 'throw', extra: Record<string, unknown> = {}, endpoint?: string) {
    await ensureStack();
    const proj = path.join(dir, `dieproj-${name}`);
    writeMainProject(proj, ROOT);
    writeFileSync(
      path.join(proj, 'dying.ts'),
      `import diagnostics from 'node:diagnostics_channel';
import { apply } from 'riots';
import { diff } from './fn.ts';
const [a, b, out, how, extra, endpoint] = process.argv.slice(2);
let launched = 0;
diagnostics.subscribe('riots:workers', (m: any) => {
  if (m.event !== 'launched' || ++launched < 2) return;
  if (endpoint) process.env.AWS_ENDPOINT_URL = endpoint;
  if (how === 'exit') process.exit(7);
  setImmediate(() => { throw new Error('an error elsewhere in the program'); });
});
await apply(diff, { a: a!, b: b! }, { out: out! }, {
  controls: { windowXSize: 64, windowYSize: 64, concurrency: { computeWorkerKind: 'CW_AWSBATCH', numComputeWorkers: 2, computeBarrierTimeout: 120, computeWorkerExtraParams: JSON.parse(extra!) } },
});
`,
    );
    const since = Date.now();
    const out = path.join(dir, `died-${name}.tif`);
    const r = await new Promise<{ code: number | null; stderr: string; seconds: number }>((resolve) => {
      const t0 = Date.now();
      execFile(
        process.execPath,
        ['--import', 'tsx', path.join(proj, 'dying.ts'), inputs.a, inputs.b, out, how, JSON.stringify(extra), endpoint ?? ''],
        { cwd: proj, env: { ...process.env, RIOTS_CHANNEL_ADDRESS: '127.0.0.1', RIOTS_AWS_REQUEST_TIMEOUT_SECONDS: '3' } },
        (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr, seconds: (Date.now() - t0) / 1000 }),
      );
    });
    assert.equal(r.code, how === 'exit' ? 7 : 1, r.stderr);
    assert.equal(existsSync(out), false, 'no output at the final path');
    const mine = () => [...aws.state.jobs.values()].filter((j) => j.jobQueue.endsWith(`/${QUEUE}`) && j.createdAt >= since);
    assert.equal(mine().length, 2, 'both worker jobs were submitted');
    return { ...r, mine, runId: mine()[0]!.tags[RUN_ID_TAG]! };
  }

  const cleanedUp = (jobs: { jobId: string; status: string; statusReason?: string }[]) => {
    for (const j of jobs) {
      assert.equal(j.status, 'FAILED', `${j.jobId}: ${j.status}`);
      assert.match(String(j.statusReason), /riots batch cleanup/);
    }
  };

  for (const how of ['exit', 'throw'] as const) {
    test(`a main process that dies (${how === 'exit' ? 'process.exit()' : 'an uncaught exception'}) with jobs waiting: its exit waits for 'riots batch cleanup' to terminate them`, async () => {
      const r = await dyingMain(how, how);
      assert.match(
        r.stderr,
        new RegExp(
          `riots: the process is exiting while 2 AWS Batch job\\(s\\) of run ${r.runId} .* may still be active: stopping them with 'riots batch cleanup' \\(waiting at most 30 s\\)\\nriots: the jobs and tasks of run ${r.runId} are stopped\\n`,
        ),
      );
      // the exit waited for the clean-up: both jobs are already terminated by it (not ended by
      // their own connection timeout: jobs start only after 5 s)
      cleanedUp(r.mine());
      await assertNoActiveJobs(new Set([r.runId]));
    });
  }

  test('exitCleanupWaitSeconds 0: the clean-up runs on alone after the exit, and terminates the jobs', async () => {
    const r = await dyingMain('nowait', 'exit', { exitCleanupWaitSeconds: 0 });
    assert.match(
      r.stderr,
      new RegExp(`'riots batch cleanup' is stopping them in the background \\(pid \\d+\\); check with 'riots batch cleanup --run-id ${r.runId} --dry-run'`),
    );
    cleanedUp(
      await waitFor(
        'the background clean-up to terminate both jobs',
        async () => r.mine(),
        (js) => js.every((j) => j.status === 'FAILED'),
        30_000,
      ),
    );
    await assertNoActiveJobs(new Set([r.runId]));
  });

  test('a clean-up that cannot reach AWS: the exit waits only exitCleanupWaitSeconds, and the clean-up gives up by itself', async () => {
    // an endpoint that accepts connections and never answers
    const held: Socket[] = [];
    const blackHole = createServer((s) => held.push(s));
    await new Promise<void>((r) => blackHole.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(blackHole.address() as AddressInfo).port}`;
      const r = await dyingMain('blackhole', 'exit', { exitCleanupWaitSeconds: 2 }, url);
      assert.match(
        r.stderr,
        new RegExp(`riots: 'riots batch cleanup' is still running in the background after 2 s; check with 'riots batch cleanup --run-id ${r.runId} --dry-run'`),
      );
      assert.ok(r.seconds < 20, `the exit was not held up: ${r.seconds} s`);
      // the clean-up's requests time out (RIOTS_AWS_REQUEST_TIMEOUT_SECONDS 3) and it exits: no process is left behind
      await waitFor(
        'the clean-up process to give up',
        async () => spawnSync('pgrep', ['-f', `batch cleanup --run-id ${r.runId}`]).status,
        (st) => st === 1,
        60_000,
        250,
      );
      assert.ok(held.length > 0, 'the clean-up did try the endpoint it inherited');
      for (const j of r.mine()) await batch.send(new TerminateJobCommand({ jobId: j.jobId, reason: 'test cleanup' }));
      // a job that had started meanwhile ends only once its process has stopped, as on AWS
      await waitFor(
        'the terminated jobs to end',
        async () => (await activeJobs(batch, QUEUE)).length,
        (n) => n === 0,
        30_000,
        250,
      );
      await assertNoActiveJobs(new Set([r.runId]));
    } finally {
      for (const s of held) s.destroy();
      blackHole.close();
    }
  });

  test('SIGINT to a main process waiting for its workers: every job of the run is terminated', async () => {
    await ensureStack();
    const proj = path.join(dir, 'sigintproj');
    writeMainProject(proj, ROOT);
    const since = Date.now();
    const child = (await import('node:child_process')).spawn(
      process.execPath,
      ['--import', 'tsx', path.join(proj, 'main.ts'), inputs.a, inputs.b, path.join(dir, 'sigint.tif')],
      { cwd: proj, env: { ...process.env, RIOTS_CHANNEL_ADDRESS: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const mine = () => [...aws.state.jobs.values()].filter((j) => j.jobQueue.endsWith(`/${QUEUE}`) && j.createdAt >= since);
    await waitFor(
      'the main process to submit its 2 worker jobs',
      async () => mine().map((j) => j.status),
      (st) => st.length === 2 && st.every((x) => x === 'RUNNABLE'),
    );
    child.kill('SIGINT');
    const code = await exited;
    assert.notEqual(code, 0, 'the main process fails');
    assert.match(stderr, /interrupted by SIGINT/);
    assert.doesNotMatch(stderr, /riots: the process is exiting/, 'the run stopped its jobs itself: nothing is left for the exit clean-up');
    for (const j of mine()) {
      assert.equal(j.status, 'FAILED', `${j.jobId}: ${j.status}`);
      assert.match(String(j.statusReason), /riots run riots-\S+ stopped worker [01]/);
    }
    await assertNoActiveJobs(new Set());
  });
});
