/**
 * CW_AWSBATCH pieces: the advertised address, the settings, the worker limit, and the job
 * tracking of one run (submit, follow, stop) through the real SDK against the local endpoint.
 */
import { REPO_ROOT } from '../../../helpers/root.js';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REQUEST_TIMEOUT_ENV, batch as batchClient } from '../../../../src/aws/clients.js';
import { apply } from '../../../../src/applier/apply.js';
import { RunJobs, jobStatusText } from '../../../../src/aws/jobs.js';
import { startLocalAws, type LocalAws } from '../../../../src/aws/local/server.js';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import {
  CHANNEL_ADDRESS_ENV,
  advertisedChannelAddress,
  defaultRouteInterfaces,
  isPrivateIPv4,
  pickPrimaryIPv4,
  primaryPrivateIPv4,
} from '../../../../src/aws/netaddr.js';
import { RUN_ID_TAG } from '../../../../src/aws/stack.js';
import { AwsError, ControlsError } from '../../../../src/errors.js';
import { awsBatchSettings, checkWorkerLimit } from '../../../../src/workers/kinds/awsbatch.js';
import { newRunId } from '../../../../src/runid.js';
import { describeJobs, useEndpointEnv } from '../../../helpers/awsbatch.js';
import { createBatchStack } from '../../../helpers/localaws.js';

const ROOT = REPO_ROOT;

describe('advertised channel address', () => {
  test('private ranges', () => {
    for (const a of ['10.0.0.1', '172.16.5.4', '172.31.255.255', '192.168.1.1', '100.64.0.1']) assert.equal(isPrivateIPv4(a), true, a);
    for (const a of ['8.8.8.8', '172.32.0.1', '192.0.2.2', '127.0.0.1', 'fd00::2', 'host']) assert.equal(isPrivateIPv4(a), false, a);
  });

  test('the default-route interface wins, by metric; else a private address; else any', () => {
    const table = [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      'eth1\t00000000\t0101A8C0\t0003\t0\t0\t200\t00000000\t0\t0\t0',
      'eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0',
      'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
    ].join('\n');
    assert.deepEqual(defaultRouteInterfaces(table), ['eth0', 'eth1']);
    const v4 = (address: string, internal = false) => ({ address, family: 'IPv4' as const, internal, netmask: '', mac: '', cidr: null });
    const v6 = { address: 'fd00::2', family: 'IPv6' as const, internal: false, netmask: '', mac: '', cidr: null, scopeid: 0 };
    const ifaces = { lo: [v4('127.0.0.1', true)], eth0: [v6, v4('10.1.2.3')], eth1: [v4('192.168.1.9')], docker0: [v4('172.17.0.1')] };
    assert.equal(pickPrimaryIPv4(ifaces, ['eth0', 'eth1']), '10.1.2.3');
    assert.equal(pickPrimaryIPv4(ifaces, ['eth1']), '192.168.1.9');
    assert.equal(pickPrimaryIPv4({ lo: [v4('127.0.0.1', true)], x: [v4('8.8.4.4')], y: [v4('172.20.0.5')] }, []), '172.20.0.5');
    assert.equal(pickPrimaryIPv4({ lo: [v4('127.0.0.1', true)], x: [v4('8.8.4.4')] }, []), '8.8.4.4');
    assert.equal(pickPrimaryIPv4({ lo: [v4('127.0.0.1', true)] }, []), undefined);
  });

  test("this machine's primary address is an address of one of its interfaces", async () => {
    const os = await import('node:os');
    const all = Object.values(os.networkInterfaces())
      .flat()
      .map((a) => a!.address);
    assert.ok(all.includes(primaryPrivateIPv4()));
  });

  test('explicit setting, then the environment, then the primary address', () => {
    assert.equal(advertisedChannelAddress('10.9.8.7', { [CHANNEL_ADDRESS_ENV]: '10.0.0.1' }), '10.9.8.7');
    assert.equal(advertisedChannelAddress(undefined, { [CHANNEL_ADDRESS_ENV]: 'main.internal' }), 'main.internal');
    assert.equal(advertisedChannelAddress(undefined, {}), primaryPrivateIPv4());
    assert.throws(() => advertisedChannelAddress('a,b'), ControlsError);
    assert.throws(() => advertisedChannelAddress(42), /channelAddress must be a host name or IP address/);
    assert.throws(() => advertisedChannelAddress(undefined, { [CHANNEL_ADDRESS_ENV]: 'x y' }), new RegExp(CHANNEL_ADDRESS_ENV));
  });
});

describe('settings and limits', () => {
  test('defaults and checks of computeWorkerExtraParams', () => {
    const s = awsBatchSettings({});
    assert.deepEqual(
      { ...s, channelAddress: s.channelAddress },
      {
        channelAddress: undefined,
        stackName: undefined,
        region: undefined,
        jobEnvironment: {},
        pollSeconds: 5,
        jobEndGraceSeconds: 5,
        terminateWaitSeconds: 60,
        exitCleanupWaitSeconds: 30,
      },
    );
    assert.throws(() => awsBatchSettings({ pollSeconds: 0 }), /pollSeconds must be a positive/);
    assert.throws(() => awsBatchSettings({ jobEnvironment: { RIOTS_CHANNEL_KEY: 'x' } }), /may not set RIOTS_CHANNEL_KEY/);
    assert.throws(() => awsBatchSettings({ jobEnvironment: { AWS_BATCH_JOB_ID: 'x' } }), /may not set AWS_BATCH_JOB_ID/);
    assert.throws(() => awsBatchSettings({ jobEnvironment: { A: 1 } }), /jobEnvironment.A must be a string/);
    assert.equal(awsBatchSettings({ jobEndGraceSeconds: 0 }).jobEndGraceSeconds, 0);
  });

  test('worker limit: floor(BatchMaxVCPUS / BatchVCPUS)', () => {
    checkWorkerLimit(16, { BatchVCPUS: 2, BatchMaxVCPUS: 33, stackName: 'S' });
    assert.throws(
      () => checkWorkerLimit(17, { BatchVCPUS: 2, BatchMaxVCPUS: 33, stackName: 'S' }),
      (e: Error) => e instanceof ControlsError && /BatchMaxVCPUS 33 \/ BatchVCPUS 2 = 16/.test(e.message),
    );
  });

  test('run ids are unique and valid in job names', () => {
    const ids = new Set(Array.from({ length: 50 }, newRunId));
    assert.equal(ids.size, 50);
    for (const id of ids) assert.match(`${id}-worker-12`, /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/);
  });

  test('no code outside src/aws/local reads AWS_ENDPOINT_URL', () => {
    const offenders: string[] = [];
    const walk = (d: string): void => {
      for (const n of readdirSync(d)) {
        const p = path.join(d, n);
        if (statSync(p).isDirectory()) {
          if (p !== path.join(ROOT, 'src', 'aws', 'local')) walk(p);
        } else if (/\.ts$/.test(n) && /process\.env\s*(\[\s*['"`]AWS_ENDPOINT_URL|\.AWS_ENDPOINT_URL)/.test(readFileSync(p, 'utf8'))) offenders.push(p);
      }
    };
    walk(path.join(ROOT, 'src'));
    assert.deepEqual(offenders, []);
  });
});

describe('an AWS endpoint that never answers', () => {
  test('the call times out (RIOTS_AWS_REQUEST_TIMEOUT_SECONDS) with an AwsError naming it, instead of hanging the run', async () => {
    const held: Socket[] = [];
    const server = createServer((sock) => void held.push(sock)); // accepts, never answers
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const restore = useEndpointEnv({
      env: { AWS_ENDPOINT_URL: url, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' },
    } as unknown as LocalAws);
    process.env[REQUEST_TIMEOUT_ENV] = '0.5';
    const t0 = performance.now();
    try {
      // the stack is read before the inputs are opened, so the input is never looked at
      const err = await apply(
        { module: import.meta.url, name: 'neverCalled' },
        { a: 'never-opened.tif' },
        {},
        { controls: { concurrency: { computeWorkerKind: 'CW_AWSBATCH', numComputeWorkers: 1 } } },
      ).then(
        () => assert.fail('the run should fail'),
        (e: unknown) => e as Error,
      );
      assert.ok(err instanceof AwsError, String(err));
      assert.match(err.message, /DescribeStacks/);
      assert.match(err.message, /requestTimeout/);
      assert.ok(held.length >= 1, 'the request reached the endpoint');
      assert.ok(performance.now() - t0 < 20_000, 'three attempts of 0.5 s, not a hang');
    } finally {
      delete process.env[REQUEST_TIMEOUT_ENV];
      restore();
      for (const s of held) s.destroy();
      server.close();
    }
  });

  test('a bad timeout setting is a clear error', async () => {
    process.env[REQUEST_TIMEOUT_ENV] = 'soon';
    try {
      await assert.rejects(batchClient('us-east-1'), /RIOTS_AWS_REQUEST_TIMEOUT_SECONDS must be a positive number of seconds \(got 'soon'\)/);
    } finally {
      delete process.env[REQUEST_TIMEOUT_ENV];
    }
  });
});

describe('the jobs of a run on the local endpoint', () => {
  let aws: LocalAws;
  let restore: () => void;
  before(async () => {
    aws = await startLocalAws({ startDelaySeconds: 0.2, stackDelaySeconds: 0.1, killGraceSeconds: 1 });
    restore = useEndpointEnv(aws);
    await createBatchStack(aws);
  });
  after(async () => {
    await aws.close();
    restore();
  });

  test('submit tags the job, passes only the arguments and the environment; ended resolves with the status', async () => {
    const b = await batchClient();
    const jobs = new RunJobs({ b, runId: 'riots-test-1', jobQueue: 'riosJobQueueWorker', jobDefinition: 'riosJobDefinition', minRefreshMs: 100 });
    try {
      // no main to connect to: the worker gives up at once with a clear exit
      const job = await jobs.submit({
        jobName: 'riots-test-1-worker-0',
        command: ['-i', '0', '--channaddr', '127.0.0.1,1', '--timeout', '0.5'],
        environment: { RIOTS_CHANNEL_KEY: 'ab'.repeat(32), EXTRA: 'yes' },
      });
      jobs.startPolling(100);
      const text = await job.ended;
      assert.match(text, new RegExp(`^job ${job.jobId} FAILED; statusReason: Essential container in task exited; exit code [1-9]`));
      const [d] = await describeJobs(b.client, [job.jobId]);
      assert.equal(d!.tags?.[RUN_ID_TAG], 'riots-test-1');
      assert.deepEqual(d!.container?.command, ['-i', '0', '--channaddr', '127.0.0.1,1', '--timeout', '0.5']);
      const env = Object.fromEntries((d!.container?.environment ?? []).map((e) => [e.name, e.value]));
      assert.equal(env.EXTRA, 'yes');
      assert.equal(env.RIOTS_CHANNEL_KEY, 'ab'.repeat(32));
      assert.equal(await jobs.status(job), text, 'an ended job keeps its final line');
    } finally {
      jobs.stopPolling();
      b.client.destroy();
    }
  });

  test('waitEnded looks again soon, then less and less often: at most 6 DescribeJobs in its first second', async () => {
    const b = await batchClient();
    aws.holdQueue('riosJobQueueWorker', 'held: no instances');
    const at: number[] = [];
    b.client.middlewareStack.add(
      (next, ctx) => async (args) => {
        if (ctx.commandName === 'DescribeJobsCommand') at.push(performance.now());
        return next(args);
      },
      { step: 'initialize', name: 'countDescribeJobs' },
    );
    const jobs = new RunJobs({ b, runId: 'riots-test-3', jobQueue: 'riosJobQueueWorker', jobDefinition: 'riosJobDefinition', minRefreshMs: 250 });
    try {
      const job = await jobs.submit({
        jobName: 'riots-test-3-worker-0',
        command: ['-i', '0', '--channaddr', '127.0.0.1,1'],
        environment: { RIOTS_CHANNEL_KEY: 'ab'.repeat(32) },
      });
      const t0 = Date.now();
      assert.equal(await jobs.waitEnded(job, 1000), false, 'a held job does not end');
      assert.ok(Date.now() - t0 >= 1000);
      // calls at ~0, 50, 150, 350, 600, 850 ms (+1 at the deadline): fewer when the machine is slow, never more
      const gaps = at.slice(1).map((t, i) => t - at[i]!);
      assert.ok(at.length >= 3 && at.length <= 7, `${at.length} DescribeJobs calls in 1 s`);
      assert.ok(gaps[0]! >= 45 && gaps[0]! < 250, `the second look comes soon (after ${gaps[0]} ms), not a full minRefreshMs later`);
      for (let i = 1; i < gaps.length; i++)
        assert.ok(
          gaps[i]! >= Math.min(2 ** i * 50, 250) - 5 || i === gaps.length - 1,
          `gap ${i} of ${gaps.join(', ')} ms: the interval doubles up to minRefreshMs`,
        );
      const before = at.length;
      assert.equal(await jobs.waitEnded(job, 1000), false);
      assert.ok(at.length - before <= 7, 'the ramp starts again for a new wait, with the same bound');
      await jobs.stop(job, 'stopped by the test', 0, 5000);
      assert.match(String(job.endedText), /FAILED; statusReason: stopped by the test/);
    } finally {
      aws.holdQueue('riosJobQueueWorker', undefined);
      b.client.destroy();
    }
  });

  test('stop terminates a job that never started, and waits for it to end', async () => {
    const b = await batchClient();
    aws.holdQueue('riosJobQueueWorker', 'held: no instances');
    const jobs = new RunJobs({ b, runId: 'riots-test-2', jobQueue: 'riosJobQueueWorker', jobDefinition: 'riosJobDefinition', minRefreshMs: 100 });
    try {
      const job = await jobs.submit({
        jobName: 'riots-test-2-worker-0',
        command: ['-i', '0', '--channaddr', '127.0.0.1,1'],
        environment: { RIOTS_CHANNEL_KEY: 'ab'.repeat(32) },
      });
      await new Promise((r) => setTimeout(r, 500)); // past the start delay, so the hold reason is set
      assert.match(await jobs.status(job), /RUNNABLE; statusReason: held: no instances/);
      // what is kept of the description is what the status line needs: not the environment (the key)
      assert.equal(job.detail?.status, 'RUNNABLE');
      assert.ok(!JSON.stringify(job.detail).includes('ab'.repeat(32)), JSON.stringify(job.detail));
      await jobs.stop(job, 'stopped by the test', 5000, 5000);
      assert.match(String(job.endedText), /FAILED; statusReason: stopped by the test/);
      assert.equal(jobStatusText(undefined), 'status unknown (not yet described)');
    } finally {
      aws.holdQueue('riosJobQueueWorker', undefined);
      b.client.destroy();
    }
  });
});
