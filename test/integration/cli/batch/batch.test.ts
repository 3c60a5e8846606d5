/**
 * `riots batch …` end to end: the CLI runs as its own process and talks through the real AWS
 * SDK v3 clients to the local endpoint (src/aws/local) started in this process. What the CLI
 * says is checked against the endpoint's own state, read separately.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../../../helpers/root.js';
import { BatchClient, DescribeJobsCommand, ListJobsCommand, SubmitJobCommand, TerminateJobCommand } from '@aws-sdk/client-batch';
import { ECSClient, RunTaskCommand } from '@aws-sdk/client-ecs';
import { startLocalAws, type LocalAws } from '../../../../src/aws/local/server.js';
import { RUN_ID_TAG, getStackOutputs, parseStackOutputs, maxWorkers, requireOutput } from '../../../../src/aws/stack.js';
import { shellWords } from '../../../../src/shellwords.js';
import { stackParameters } from '../../../../src/cli/batch/create.js';
import { AwsError } from '../../../../src/errors.js';
import { runRiots } from '../../../helpers/batchtools.js';

const POLL = ['--poll', '0.2', '--timeout', '60'];

describe('pure parts', () => {
  test('create --modify keeps the parameters the stack has, and gives those it lacks (an older riots) their defaults', () => {
    const byKey = (ps: ReturnType<typeof stackParameters>) =>
      Object.fromEntries(ps.map((p) => [p.ParameterKey, p.UsePreviousValue ? 'previous' : p.ParameterValue]));
    const old = new Set(['ServiceName', 'VCPUS', 'MaxMemory', 'MaxVCPUS', 'InstanceType', 'MainVolumeSize']);
    assert.deepEqual(byKey(stackParameters({ maxvcpus: '64' }, true, old)), {
      ServiceName: 'previous',
      VCPUS: 'previous',
      MaxMemory: 'previous',
      MaxVCPUS: '64',
      InstanceType: 'previous',
      MainVolumeSize: 'previous',
      EcsCpu: '1024',
      EcsMemory: '4096',
      EcsCpuArchitecture: 'X86_64',
    });
    const now = new Set([...old, 'EcsCpu', 'EcsMemory', 'EcsCpuArchitecture']);
    assert.deepEqual(byKey(stackParameters({ ecscpu: '2048', ecsarch: 'ARM64' }, true, now)).EcsMemory, 'previous');
    assert.deepEqual(byKey(stackParameters({ ecscpu: '2048', ecsarch: 'ARM64' }, false)), {
      ServiceName: 'rios',
      VCPUS: '1',
      MaxMemory: '4000',
      MaxVCPUS: '128',
      InstanceType: 'optimal',
      MainVolumeSize: '32',
      EcsCpu: '2048',
      EcsMemory: '4096',
      EcsCpuArchitecture: 'ARM64',
    });
    assert.throws(() => stackParameters({ ecsmem: 'lots' }, false), /--ecsmem/);
  });

  test('shellWords splits like a shell for quotes and backslashes', () => {
    assert.deepEqual(shellWords(`a 'b c'  "d \\"e\\" \\$x" f\\ g ''`), ['a', 'b c', 'd "e" $x', 'f g', '']);
    assert.deepEqual(shellWords('  '), []);
    assert.deepEqual(shellWords(`--in /vsis3/b/k.tif --n=3`), ['--in', '/vsis3/b/k.tif', '--n=3']);
    assert.throws(() => shellWords(`a 'b`), /unterminated ' quote/);
    assert.throws(() => shellWords(`a "b`), /unterminated " quote/);
  });

  test('parseStackOutputs types the worker outputs and names what is missing', () => {
    const raw = {
      BatchProcessingJobQueueName: 'q',
      BatchProcessingJobDefinitionName: 'd',
      BatchVCPUS: '2',
      BatchMaxVCPUS: '9',
      BatchECR: 'r',
      Extra: 'x',
    };
    const o = parseStackOutputs(raw, 'S', 'eu-west-2');
    assert.equal(o.BatchVCPUS, 2);
    assert.equal(o.BatchMaxVCPUS, 9);
    assert.equal(maxWorkers(o), 4);
    assert.equal(o.BatchECR, 'r');
    assert.equal(o.BatchECRMain, undefined);
    assert.equal(o.all.Extra, 'x');
    const { BatchProcessingJobDefinitionName: _drop, ...missing } = raw;
    assert.throws(
      () => parseStackOutputs(missing, 'S', 'eu-west-2'),
      (e: unknown) => e instanceof AwsError && /stack 'S' in region eu-west-2 has no output 'BatchProcessingJobDefinitionName'/.test(e.message),
    );
    assert.throws(() => parseStackOutputs({ ...raw, BatchVCPUS: 'two' }, 'S', undefined), /'BatchVCPUS' is 'two'/);
    assert.equal(requireOutput(o, 'BatchECR', 'to push'), 'r');
    assert.throws(
      () => requireOutput(o, 'BatchECRMain', 'to push the main image'),
      (e: unknown) => e instanceof AwsError && e.message === "stack 'S' in region eu-west-2 has no output 'BatchECRMain' (needed to push the main image)",
    );
  });
});

describe('riots batch against the local endpoint', () => {
  let aws: LocalAws;
  let dir: string;
  let batch: BatchClient;
  const riots = (args: string[], env: Record<string, string> = {}) => runRiots(args, { ...aws.env, ...env });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'riots-batch-cli-'));
    // The main image: a node script that records its arguments and environment.
    writeFileSync(
      join(dir, 'main.mjs'),
      `import { writeFileSync } from 'node:fs';
const args = process.argv.slice(2);
writeFileSync(process.env.MAIN_OUT_DIR + '/' + args[0] + '.json', JSON.stringify({
  args, stack: process.env.RIOS_AWSBATCH_STACK, region: process.env.RIOS_AWSBATCH_REGION }));
const i = args.indexOf('--exit');
if (i >= 0) { process.stderr.write('main script failing on purpose\\n'); process.exit(Number(args[i + 1])); }
`,
    );
    writeFileSync(join(dir, 'Dockerfile.main'), 'FROM riots\nWORKDIR /app\nCOPY main.mjs /app/main.mjs\nENTRYPOINT ["node", "/app/main.mjs"]\n');
    aws = await startLocalAws({
      startDelaySeconds: 5,
      stackDelaySeconds: 0.3,
      mainDockerfile: join(dir, 'Dockerfile.main'),
      jobEnv: { MAIN_OUT_DIR: dir },
    });
    batch = new BatchClient({
      endpoint: aws.url,
      region: aws.region,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
  });

  after(async () => {
    batch?.destroy();
    await aws?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('create --wait makes the stack; outputs and ecr-path print what the endpoint holds', async () => {
    const r = await riots(['batch', 'create', '--wait', ...POLL, '--tag', 'project=test']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /stack RIOS: CREATE_IN_PROGRESS/);
    assert.match(r.stdout, /CREATE_COMPLETE\s+WorkerJobQueue \(AWS::Batch::JobQueue\)/);
    assert.match(r.stdout, /stack RIOS: CREATE_COMPLETE/);

    const workerRepo = aws.state.repositories.get('riosecr');
    const mainRepo = aws.state.repositories.get('riosecrmain');
    assert.ok(workerRepo && mainRepo, 'the endpoint has both repositories');

    const outs = await riots(['batch', 'outputs', '--json']);
    assert.equal(outs.code, 0, outs.stderr);
    const json = JSON.parse(outs.stdout) as Record<string, string>;
    assert.equal(json.BatchECR, workerRepo.uri);
    assert.equal(json.BatchECRMain, mainRepo.uri);
    assert.ok(aws.state.findQueue(json.BatchProcessingJobQueueName!), 'worker queue exists');
    assert.ok(aws.state.findQueue(json.BatchProcessingJobQueueNameMain!), 'main queue exists');
    assert.equal(json.BatchVCPUS, '1');
    assert.equal(json.BatchMaxVCPUS, '128');

    const table = await riots(['batch', 'outputs']);
    assert.match(table.stdout, new RegExp(`^BatchECR\\s+${workerRepo.uri.replace(/\./g, '\\.')}$`, 'm'));

    assert.equal((await riots(['batch', 'ecr-path'])).stdout.trim(), workerRepo.uri);
    assert.equal((await riots(['batch', 'ecr-path', '--main'])).stdout.trim(), mainRepo.uri);
    assert.equal((await riots(['batch', 'ecr-path', '--base'])).stdout.trim(), workerRepo.uri.split('/')[0]);
  });

  test('getStackOutputs (JS API) reads RIOS_AWSBATCH_STACK / RIOS_AWSBATCH_REGION, SDK settings otherwise', async () => {
    const saved = { ...process.env };
    try {
      Object.assign(process.env, aws.env);
      delete process.env.RIOS_AWSBATCH_STACK;
      delete process.env.RIOS_AWSBATCH_REGION;
      const o = await getStackOutputs();
      assert.equal(o.stackName, 'RIOS');
      assert.equal(o.region, aws.region, 'the region the SDK resolved from AWS_REGION');
      assert.equal(o.BatchProcessingJobQueueName, 'riosJobQueueWorker');
      assert.equal(o.BatchECR, aws.state.repositories.get('riosecr')!.uri);
      assert.equal(typeof o.BatchMaxVCPUS, 'number');

      process.env.RIOS_AWSBATCH_STACK = 'NotThere';
      await assert.rejects(getStackOutputs(), (e: unknown) => e instanceof AwsError && /stack 'NotThere' in region .* does not exist/.test(e.message));
      assert.equal((await getStackOutputs({ stackName: 'RIOS' })).stackName, 'RIOS', 'the argument wins over the variable');

      // The endpoint serves one region: a request for another is refused, so this shows the variable is used.
      process.env.RIOS_AWSBATCH_STACK = 'RIOS';
      process.env.RIOS_AWSBATCH_REGION = 'eu-west-3';
      await assert.rejects(getStackOutputs(), (e: unknown) => e instanceof AwsError && /eu-west-3/.test(e.message));
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });

  test('create refuses bad options, and a second stack of the same name', async () => {
    const bad = await riots(['batch', 'create', '--vcpus', '0']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--vcpus must be a whole number >= 1/);
    const tag = await riots(['batch', 'create', '--tag', 'novalue']);
    assert.equal(tag.code, 2);
    assert.match(tag.stderr, /--tag wants KEY=VALUE/);
    const again = await riots(['batch', 'create']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /CreateStack of 'RIOS' failed: AlreadyExistsException/);
  });

  test('create --wait reports the failed events when the stack rolls back', async () => {
    // Same ServiceName as RIOS: its repositories and queues already exist, so creation fails.
    const r = await riots(['batch', 'create', '--stackname', 'Clash', '--wait', ...POLL]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /stack 'Clash' ended ROLLBACK_COMPLETE, not CREATE_COMPLETE/);
    assert.match(r.stderr, /CREATE_FAILED: Resource of type 'AWS::ECR::Repository' with identifier 'riosecr' already exists/);
    const gone = await riots(['batch', 'delete', '--stackname', 'Clash', '--wait', ...POLL]);
    assert.equal(gone.code, 0, gone.stderr);
    assert.match(gone.stdout, /no BatchECR output/);
  });

  test('create --modify changes only the parameters given', async () => {
    const r = await riots(['batch', 'create', '--modify', '--maxvcpus', '64', '--wait', ...POLL]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /stack RIOS: UPDATE_COMPLETE/);
    const json = JSON.parse((await riots(['batch', 'outputs', '--json'])).stdout) as Record<string, string>;
    assert.equal(json.BatchMaxVCPUS, '64');
    assert.equal(json.BatchVCPUS, '1', 'VCPUS kept its previous value');
    assert.ok(aws.state.repositories.has('riosecr'), 'ServiceName kept its previous value');
    const same = await riots(['batch', 'create', '--modify', '--maxvcpus', '64', '--wait', ...POLL]);
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stdout, /already has these settings: nothing to update/);
  });

  test('submit-main runs the main image as a job; --wait ends 0 on SUCCEEDED and non-zero on FAILED', async () => {
    const [ok, failed, dashed] = await Promise.all([
      riots(['batch', 'submit-main', '--args', `okjob 'two words' "q\\"uote"`, '--wait', ...POLL]),
      riots(['batch', 'submit-main', '--jobname', 'failing-main', '--args', 'badjob --exit 3', '--wait', ...POLL]),
      // the documented form, arguments that start with a dash
      riots(['batch', 'submit-main', '--jobname', 'dashed-main', '--args', '--year 2024', '--wait', ...POLL]),
    ]);
    assert.equal(dashed.code, 0, dashed.stderr + dashed.stdout);
    assert.deepEqual((JSON.parse(readFileSync(join(dir, '--year.json'), 'utf8')) as { args: string[] }).args, ['--year', '2024']);
    assert.equal(ok.code, 0, ok.stderr + ok.stdout);
    const okId = ok.stdout.split('\n')[0]!.trim();
    const job = aws.state.jobs.get(okId);
    assert.ok(job, `job ${okId} is known to the endpoint`);
    assert.equal(job.status, 'SUCCEEDED');
    assert.equal(job.jobQueue, aws.state.findQueue('riosJobQueueMain')!.arn);
    assert.match(job.tags[RUN_ID_TAG] ?? '', /^main-[0-9a-f]{12}$/);
    // Transitions in order (RUNNING may pass between two polls: the script is quick).
    assert.match(ok.stdout, new RegExp(`job ${okId}: RUNNABLE\\n(.*\\n)*job ${okId}: SUCCEEDED`));
    const seen = JSON.parse(readFileSync(join(dir, 'okjob.json'), 'utf8')) as { args: string[]; stack: string; region: string };
    assert.deepEqual(seen.args, ['okjob', 'two words', 'q"uote']);
    assert.equal(seen.stack, 'RIOS');
    assert.equal(seen.region, aws.region);

    assert.notEqual(failed.code, 0);
    const badId = failed.stdout.split('\n')[0]!.trim();
    assert.equal(aws.state.jobs.get(badId)?.status, 'FAILED');
    assert.equal(aws.state.jobs.get(badId)?.jobName, 'failing-main');
    assert.match(failed.stderr, new RegExp(`job ${badId} \\(failing-main\\) FAILED: .*exit code 3`));
    assert.ok(existsSync(join(dir, 'badjob.json')), 'the failing script did run');
  });

  test('cleanup terminates only riots-tagged active jobs, or only those of --run-id', async () => {
    aws.holdQueue('riosJobQueueWorker', 'held by the test');
    aws.holdQueue('riosJobQueueMain', 'held by the test');
    const submit = async (queue: string, def: string, tags?: Record<string, string>) =>
      (await batch.send(new SubmitJobCommand({ jobName: 'j', jobQueue: queue, jobDefinition: def, ...(tags ? { tags } : {}) }))).jobId!;
    const a1 = await submit('riosJobQueueWorker', 'riosJobDefinition', { [RUN_ID_TAG]: 'run-a' });
    const a2 = await submit('riosJobQueueWorker', 'riosJobDefinition', { [RUN_ID_TAG]: 'run-a' });
    const b1 = await submit('riosJobQueueMain', 'riosJobDefinitionMain', { [RUN_ID_TAG]: 'run-b' });
    const other = await submit('riosJobQueueWorker', 'riosJobDefinition', { owner: 'someone-else' });
    const status = async (ids: string[]) =>
      Object.fromEntries(((await batch.send(new DescribeJobsCommand({ jobs: ids }))).jobs ?? []).map((j) => [j.jobId, j.status]));
    try {
      const dry = await riots(['batch', 'cleanup', '--run-id', 'run-a', '--dry-run']);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, new RegExp(`would terminate ${a1}`));
      assert.match(dry.stdout, new RegExp(`would terminate ${a2}`));
      assert.doesNotMatch(dry.stdout, new RegExp(`${b1}|${other}`));
      assert.ok(
        Object.values(await status([a1, a2])).every((s) => s !== 'FAILED'),
        'dry run terminated nothing',
      );

      const onlyA = await riots(['batch', 'cleanup', '--run-id', 'run-a']);
      assert.equal(onlyA.code, 0, onlyA.stderr);
      assert.match(onlyA.stdout, /terminated 2 of jobs of run run-a/);
      let s = await status([a1, a2, b1, other]);
      assert.equal(s[a1], 'FAILED');
      assert.equal(s[a2], 'FAILED');
      assert.notEqual(s[b1], 'FAILED');

      const all = await riots(['batch', 'cleanup']);
      assert.equal(all.code, 0, all.stderr);
      assert.match(all.stdout, new RegExp(`terminated ${b1} .*run run-b`));
      s = await status([b1, other]);
      assert.equal(s[b1], 'FAILED');
      assert.ok(['SUBMITTED', 'PENDING', 'RUNNABLE'].includes(String(s[other])), 'an untagged job is left alone');

      // No riots job of any run is active any more.
      for (const queue of ['riosJobQueueWorker', 'riosJobQueueMain']) {
        for (const jobStatus of ['SUBMITTED', 'PENDING', 'RUNNABLE', 'STARTING', 'RUNNING'] as const) {
          const ids = ((await batch.send(new ListJobsCommand({ jobQueue: queue, jobStatus }))).jobSummaryList ?? []).map((j) => j.jobId!);
          assert.deepEqual(
            ids.filter((id) => id !== other),
            [],
            `${queue} ${jobStatus}`,
          );
        }
      }
      const none = await riots(['batch', 'cleanup']);
      assert.match(none.stdout, /no active riots' jobs/);
    } finally {
      await batch.send(new TerminateJobCommand({ jobId: other, reason: 'test cleanup' }));
      aws.holdQueue('riosJobQueueWorker', undefined);
      aws.holdQueue('riosJobQueueMain', undefined);
    }
  });

  test('cleanup --job-id terminates the named riots jobs only, without listing the queues', async () => {
    aws.holdQueue('riosJobQueueWorker', 'held by the test');
    const submit = async (tags?: Record<string, string>) =>
      (await batch.send(new SubmitJobCommand({ jobName: 'j', jobQueue: 'riosJobQueueWorker', jobDefinition: 'riosJobDefinition', ...(tags ? { tags } : {}) })))
        .jobId!;
    const c1 = await submit({ [RUN_ID_TAG]: 'run-c' });
    const c2 = await submit({ [RUN_ID_TAG]: 'run-c' });
    const other = await submit({ owner: 'someone-else' });
    try {
      const r = await riots(['batch', 'cleanup', '--job-id', c1, '--job-id', other]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`terminated ${c1} j \\(run run-c, RUNNABLE, queue riosJobQueueWorker\\)`));
      assert.match(r.stdout, /terminated 1 of riots' jobs among the 2 named/);
      const s = Object.fromEntries(((await batch.send(new DescribeJobsCommand({ jobs: [c1, c2, other] }))).jobs ?? []).map((j) => [j.jobId, j.status]));
      assert.equal(s[c1], 'FAILED');
      assert.equal(s[c2], 'RUNNABLE', 'a job of the run that was not named is left (no --run-id)');
      assert.equal(s[other], 'RUNNABLE', 'an untagged job is left alone even when named');
      const again = await riots(['batch', 'cleanup', '--run-id', 'run-c', '--job-id', c1]);
      assert.match(again.stdout, new RegExp(`terminated ${c2} .*\\nterminated 1 of jobs of run run-c`));
    } finally {
      await batch.send(new TerminateJobCommand({ jobId: other, reason: 'test cleanup' }));
      aws.holdQueue('riosJobQueueWorker', undefined);
    }
  });

  test('submit-main --wait gives up after --timeout, naming the job and its last status', async () => {
    aws.holdQueue('riosJobQueueMain', 'held by the test');
    try {
      const r = await riots(['batch', 'submit-main', '--args', 'never', '--wait', '--poll', '0.1', '--timeout', '1']);
      assert.equal(r.code, 1);
      const id = r.stdout.split('\n')[0]!.trim();
      assert.match(r.stderr, new RegExp(`timed out after 1 s waiting for job ${id} to end \\(last status RUNNABLE\\)`));
      const c = await riots(['batch', 'cleanup']);
      assert.match(c.stdout, new RegExp(`terminated ${id} `));
      assert.equal(aws.state.jobs.get(id)?.status, 'FAILED');
    } finally {
      aws.holdQueue('riosJobQueueMain', undefined);
    }
  });

  test("delete --wait empties both repositories, stops the ECS cluster's tasks, then the stack is gone", async () => {
    aws.putImage('riosecr', 'latest');
    aws.putImage('riosecr', 'old');
    aws.putImage('riosecrmain', 'latest');
    // a task that never started (held cluster) would block the cluster's deletion, as on AWS
    aws.holdCluster('riosEcsCluster', 'held by the test');
    const out = JSON.parse((await riots(['batch', 'outputs', '--json'])).stdout) as Record<string, string>;
    const ecs = new ECSClient({ endpoint: aws.url, region: aws.region, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    const task = (
      await ecs.send(
        new RunTaskCommand({
          cluster: 'riosEcsCluster',
          taskDefinition: out.EcsWorkerTaskDefinitionArn!,
          launchType: 'FARGATE',
          networkConfiguration: { awsvpcConfiguration: { subnets: out.BatchPrivateSubnets!.split(','), securityGroups: [out.BatchSecurityGroup!] } },
        }),
      )
    ).tasks![0]!;
    ecs.destroy();
    const r = await riots(['batch', 'delete', '--wait', ...POLL]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /emptied BatchECR .*riosecr: 2 image\(s\) deleted/);
    assert.match(r.stdout, /emptied BatchECRMain .*riosecrmain: 1 image\(s\) deleted/);
    assert.match(r.stdout, /stopped 1 task\(s\) of ECS cluster riosEcsCluster/);
    const stopped = aws.state.findTask(task.taskArn!)!;
    assert.deepEqual([stopped.lastStatus, stopped.stoppedReason], ['STOPPED', 'riots batch delete: the stack is being deleted']);
    assert.match(r.stdout, /stack RIOS: DELETE_COMPLETE|stack RIOS: deleted/);
    assert.equal(aws.state.repositories.has('riosecr'), false);
    assert.equal(aws.state.findQueue('riosJobQueueWorker'), undefined);
    const outs = await riots(['batch', 'outputs']);
    assert.equal(outs.code, 1);
    assert.match(outs.stderr, /stack 'RIOS' does not exist/);
    const again = await riots(['batch', 'delete']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /does not exist; nothing to delete/);
  });

  test('every subcommand has --help', async () => {
    for (const sub of ['create', 'delete', 'outputs', 'ecr-path', 'build-image', 'submit-main', 'cleanup', 'preflight', 'local']) {
      const r = await riots(['batch', sub, '--help']);
      assert.equal(r.code, 0, `${sub}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^usage: riots batch ${sub}`), sub);
    }
    const top = await riots(['batch', '--help']);
    assert.equal(top.code, 0);
    for (const sub of ['create', 'delete', 'submit-main', 'cleanup', 'preflight', 'local']) assert.match(top.stdout, new RegExp(`^  ${sub} `, 'm'));
    const unknown = await riots(['batch', 'nope']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown subcommand 'nope'/);
  });
});

describe('riots batch waits time out, saying what they waited for', () => {
  let aws: LocalAws;
  before(async () => {
    // Stacks take a minute here, so a short --timeout runs out first.
    aws = await startLocalAws({ stackDelaySeconds: 60, startDelaySeconds: 5 });
  });
  after(async () => {
    await aws?.close();
  });

  test('create --wait', async () => {
    const r = await runRiots(['batch', 'create', '--wait', '--poll', '0.1', '--timeout', '0.5'], aws.env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /timed out after 0\.5 s waiting for stack 'RIOS' to reach CREATE_COMPLETE \(last status CREATE_IN_PROGRESS\)/);
  });
});

describe('riots batch local, and one region rule for it and every command', () => {
  /** `riots batch local` until it has printed its exports; then stopped by `stop()`. */
  async function startLocalCli(env: Record<string, string>, args: string[] = []): Promise<{ out: string; stop: () => Promise<void> }> {
    const base: NodeJS.ProcessEnv = { ...process.env };
    for (const k of Object.keys(base)) if (/^(AWS_|RIOS_AWSBATCH_)/.test(k)) delete base[k];
    const tsx = pathToFileURL(join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
    const child = spawn(
      process.execPath,
      ['--import', tsx, join(REPO_ROOT, 'src/cli/main.ts'), 'batch', 'local', '--port', '0', '--stack-delay', '0.05', ...args],
      {
        env: { ...base, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`riots batch local printed no exports within 20 s: ${out} ${err}`)), 20_000);
      child.stdout.setEncoding('utf8').on('data', (s: string) => {
        out += s;
        if (out.includes('Ctrl-C')) {
          clearTimeout(t);
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`riots batch local exited (${code}): ${err}`)));
    });
    return {
      out,
      stop: async () => {
        child.kill('SIGTERM');
        await exited;
      },
    };
  }
  test('--containers: the engine and the registry it prints, which asks for ECR credentials; --mount and --engine checked', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'riots-local-containers-'));
    try {
      const c = await startLocalCli({}, ['--containers', '--engine', 'podman', '--mount', dir, '--mount', `${dir}:rw`]);
      try {
        const host = /containers of the images pushed to (127\.0\.0\.1:\d+)$/m.exec(c.out)?.[1];
        assert.ok(host, c.out);
        assert.match(c.out, /jobs and tasks run as podman containers/);
        assert.equal(exportsOf(c.out).get('AWS_ENDPOINT_URL'), `http://${host}`, 'the registry is the endpoint itself');
        const res = await fetch(`http://${host}/v2/`);
        assert.equal(res.status, 401, 'the registry wants credentials');
      } finally {
        await c.stop();
      }
      for (const [args, message] of [
        [['--containers', '--mount', join(dir, 'missing')], /--mount .*missing is not a folder/],
        [['--mount', dir], /--engine and --mount only apply with --containers/],
        [['--containers', '--main-dockerfile', join(dir, 'Dockerfile.main')], /--main-dockerfile is for jobs run as processes/],
        [['--containers', '--engine', 'rkt'], /the container engine must be docker or podman, not 'rkt'/],
      ] as const) {
        const r = await runRiots(['batch', 'local', '--port', '0', ...args], {});
        assert.notEqual(r.code, 0, args.join(' '));
        assert.match(r.stderr, message);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const exportsOf = (text: string): Map<string, string> => new Map([...text.matchAll(/^export (\w+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]));

  test("the exports docs/aws-local.md shows; the default region and the commands' region from --region, the variables, else the profile", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'riots-region-'));
    const config = join(dir, 'config');
    writeFileSync(config, '[default]\nregion = eu-north-1\n');
    const files = { AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials') };
    try {
      const docs = readFileSync(join(REPO_ROOT, 'docs/aws-local.md'), 'utf8');
      const documented = [...exportsOf(docs).keys()];
      // AWS_DEFAULT_REGION, which the SDK itself ignores, is honoured
      const a = await startLocalCli({ ...files, AWS_DEFAULT_REGION: 'ap-south-1' });
      await a.stop();
      assert.equal(exportsOf(a.out).get('AWS_REGION'), 'ap-south-1', a.out);
      // nothing set but the profile's region
      const b = await startLocalCli(files);
      try {
        const printed = exportsOf(b.out);
        assert.deepEqual([...printed.keys()], documented, 'the exports are the ones the docs show, in order');
        assert.equal(printed.get('AWS_REGION'), 'eu-north-1', b.out);
        const env = { ...files, AWS_ENDPOINT_URL: printed.get('AWS_ENDPOINT_URL')!, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };
        // a user's usual configuration (the profile's region) works against it unchanged
        const created = await runRiots(['batch', 'create', '--wait', '--poll', '0.1'], env);
        assert.equal(created.code, 0, created.stderr);
        assert.equal((await runRiots(['batch', 'outputs'], env)).code, 0);
        // the stack is in eu-north-1 only; every way of naming that region finds it
        const other = await runRiots(['batch', 'outputs', '--region', 'us-east-1'], env);
        assert.notEqual(other.code, 0);
        assert.match(other.stderr, /RIOS/);
        const namings: Record<string, string>[] = [
          { AWS_DEFAULT_REGION: 'eu-north-1' },
          { AWS_REGION: 'eu-north-1', AWS_DEFAULT_REGION: 'us-east-1' },
          { RIOS_AWSBATCH_REGION: 'eu-north-1', AWS_REGION: 'us-east-1' },
        ];
        for (const named of namings) {
          const r = await runRiots(['batch', 'outputs'], { ...env, AWS_CONFIG_FILE: join(dir, 'none'), ...named });
          assert.equal(r.code, 0, `${JSON.stringify(named)}: ${r.stderr}`);
        }
        const wrongFirst = await runRiots(['batch', 'outputs', '--region', 'us-east-1'], { ...env, RIOS_AWSBATCH_REGION: 'eu-north-1' });
        assert.notEqual(wrongFirst.code, 0, '--region comes first');
      } finally {
        await b.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
