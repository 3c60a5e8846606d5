/**
 * The local AWS endpoint through the real SDK v3 clients: the stack from aws/batch.yaml and its
 * outputs, the Batch/ECR/EC2 objects it registers, jobs as local processes through their
 * statuses, TerminateJob, the refusals AWS makes, DeleteStack, and no process left behind.
 */
import { REPO_ROOT } from '../../../helpers/root.js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CancelJobCommand,
  DescribeComputeEnvironmentsCommand,
  DescribeJobDefinitionsCommand,
  DescribeJobQueuesCommand,
  ListTagsForResourceCommand,
  TagResourceCommand,
  UntagResourceCommand,
  DescribeJobsCommand,
  ListJobsCommand,
  SubmitJobCommand,
  TerminateJobCommand,
  UpdateJobQueueCommand,
  type JobDetail,
} from '@aws-sdk/client-batch';
import {
  CreateStackCommand,
  DeleteStackCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  UpdateStackCommand,
  type Stack,
} from '@aws-sdk/client-cloudformation';
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { BatchDeleteImageCommand, DescribeRepositoriesCommand, GetAuthorizationTokenCommand, ListImagesCommand } from '@aws-sdk/client-ecr';
import { DescribeTasksCommand, RunTaskCommand, StopTaskCommand } from '@aws-sdk/client-ecs';
import { parseTemplate } from '../../../../src/aws/local/cfnyaml.js';
import { jobArgv, readDockerfile } from '../../../../src/aws/local/dockerfile.js';
import { WORKER_MALLOC_TUNABLES } from '../../../../src/workers/pool/malloc.js';
import { startLocalAws, type LocalAws } from '../../../../src/aws/local/server.js';
import { jobStatusText } from '../../../../src/aws/jobs.js';
import { TemplateEvaluator, resolveParameters } from '../../../../src/aws/local/template.js';
import { alive, clients, createBatchStack, waitFor } from '../../../helpers/localaws.js';

const REPO = REPO_ROOT;
const TEMPLATE = readFileSync(join(REPO, 'aws', 'batch.yaml'), 'utf8');
const REGION = 'eu-west-2';
const START_DELAY = 0.3;

/** The main image's script: modes exit / sdk / hang, chosen by the job's command override. */
const JOB_SCRIPT = `
import { renameSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
const [mode, out, code] = process.argv.slice(2);
// whole or not at all: the tests wait for the file to exist, then read it
const put = (text) => { writeFileSync(out + '.part', text); renameSync(out + '.part', out); };
console.log('job says hello');
const env = {};
for (const k of ['FOO', 'AWS_BATCH_JOB_ID', 'AWS_ENDPOINT_URL', 'AWS_REGION', 'RIOS_AWSBATCH_STACK', 'RIOS_AWSBATCH_REGION', 'FROM_DOCKERFILE']) env[k] = process.env[k];
if (mode === 'exit') {
  put(JSON.stringify({ argv: process.argv.slice(2), cwd: process.cwd(), env }));
  if (code !== '0') console.error('job says why it failed');
  process.exit(Number(code));
} else if (mode === 'sdk') {
  const require = createRequire(process.env.REPO_PACKAGE_JSON);
  const { CloudFormationClient, DescribeStacksCommand } = require('@aws-sdk/client-cloudformation');
  const r = await new CloudFormationClient({}).send(new DescribeStacksCommand({ StackName: process.env.RIOS_AWSBATCH_STACK }));
  put(JSON.stringify(r.Stacks[0].Outputs));
} else if (mode === 'hang') {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  process.on('SIGTERM', () => {}); // only SIGKILL stops it
  put(JSON.stringify({ pid: process.pid, child: child.pid }));
  setInterval(() => {}, 1000);
}
`;

const DOCKERFILE = `FROM riots
WORKDIR /app
ENV FROM_DOCKERFILE=yes
COPY job.mjs /app/job.mjs
ENTRYPOINT ["node", "/app/job.mjs"]
`;

describe('local AWS endpoint', () => {
  let dir: string;
  let aws: LocalAws;
  let c: ReturnType<typeof clients>;
  let outputs: Record<string, string>;
  let stackId: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'riots-aws-local-test-'));
    writeFileSync(join(dir, 'job.mjs'), JOB_SCRIPT);
    writeFileSync(join(dir, 'Dockerfile.main'), DOCKERFILE);
    writeFileSync(
      join(dir, 'fake-riots.mjs'),
      `import { writeFileSync } from 'node:fs'; writeFileSync(process.env.RIOTS_ARGV_FILE, JSON.stringify({ argv: process.argv.slice(2), gdal: process.env.GDAL_DISABLE_READDIR_ON_OPEN ?? null, tunables: process.env.GLIBC_TUNABLES ?? null, cwd: process.cwd() }));`,
    );
    aws = await startLocalAws({
      region: REGION,
      startDelaySeconds: START_DELAY,
      stackDelaySeconds: 1, // long enough to see *_IN_PROGRESS even on a loaded machine
      killGraceSeconds: 0.2,
      mainDockerfile: join(dir, 'Dockerfile.main'),
      stateDir: join(dir, 'state'),
      riotsCommand: [process.execPath, join(dir, 'fake-riots.mjs')],
      jobEnv: { REPO_PACKAGE_JSON: join(REPO, 'package.json'), RIOTS_ARGV_FILE: join(dir, 'riots-argv.json') },
    });
    c = clients(aws.url, REGION);
  });

  after(async () => {
    await aws?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const describeStack = async (name: string): Promise<Stack> => (await c.cfn.send(new DescribeStacksCommand({ StackName: name }))).Stacks![0]!;
  const describeJob = async (id: string): Promise<JobDetail> => (await c.batch.send(new DescribeJobsCommand({ jobs: [id] }))).jobs![0]!;
  const refusal = async (p: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> => {
    try {
      await p;
    } catch (e) {
      return e as Error;
    }
    throw new Error('expected a refusal, got success');
  };
  /** Follow a job to its end, recording each status seen. */
  const follow = async (id: string): Promise<{ seen: string[]; job: JobDetail }> => {
    const seen: string[] = [];
    const job = await waitFor(
      `job ${id} to finish`,
      () => describeJob(id),
      (j) => {
        if (seen[seen.length - 1] !== j.status) seen.push(j.status!);
        return j.status === 'SUCCEEDED' || j.status === 'FAILED';
      },
      20000,
      20,
    );
    return { seen, job };
  };

  it('refuses a stack with IAM resources without CAPABILITY_IAM, and an undeclared parameter', async () => {
    const e1 = await refusal(c.cfn.send(new CreateStackCommand({ StackName: 'RIOS', TemplateBody: TEMPLATE })));
    assert.equal(e1.name, 'InsufficientCapabilitiesException');
    assert.match(e1.message, /CAPABILITY_IAM/);
    const e2 = await refusal(
      c.cfn.send(
        new CreateStackCommand({
          StackName: 'RIOS',
          TemplateBody: TEMPLATE,
          Capabilities: ['CAPABILITY_IAM'],
          Parameters: [{ ParameterKey: 'ServiceNam', ParameterValue: 'x' }],
        }),
      ),
    );
    assert.equal(e2.name, 'ValidationError');
    assert.match(e2.message, /ServiceNam/);
    const e3 = await refusal(
      c.cfn.send(
        new CreateStackCommand({
          StackName: 'RIOS',
          TemplateBody: TEMPLATE,
          Capabilities: ['CAPABILITY_IAM'],
          Parameters: [{ ParameterKey: 'VCPUS', ParameterValue: 'two' }],
        }),
      ),
    );
    assert.equal(e3.name, 'ValidationError');
    // Nothing was created by the refused calls.
    const e4 = await refusal(describeStack('RIOS'));
    assert.equal(e4.name, 'ValidationError');
    assert.match(e4.message, /does not exist/);
  });

  it('creates the stack from aws/batch.yaml with every output, and registers its objects', async () => {
    const created = await c.cfn.send(
      new CreateStackCommand({
        StackName: 'RIOS',
        TemplateBody: TEMPLATE,
        Capabilities: ['CAPABILITY_IAM'],
        Parameters: [{ ParameterKey: 'MaxVCPUS', ParameterValue: '8' }],
        Tags: [{ Key: 'project', Value: 'riots' }],
      }),
    );
    stackId = created.StackId!;
    assert.match(stackId, new RegExp(`^arn:aws:cloudformation:${REGION}:\\d{12}:stack/RIOS/`));
    const first = await describeStack('RIOS');
    assert.equal(first.StackStatus, 'CREATE_IN_PROGRESS');
    const stack = await waitFor(
      'CREATE_COMPLETE',
      () => describeStack('RIOS'),
      (s) => s.StackStatus === 'CREATE_COMPLETE',
    );
    outputs = Object.fromEntries(stack.Outputs!.map((o) => [o.OutputKey!, o.OutputValue!]));
    assert.equal(outputs.BatchProcessingJobQueueName, 'riosJobQueueWorker');
    assert.equal(outputs.BatchProcessingJobDefinitionName, 'riosJobDefinition');
    assert.equal(outputs.BatchProcessingJobQueueNameMain, 'riosJobQueueMain');
    assert.equal(outputs.BatchProcessingJobDefinitionMainName, 'riosJobDefinitionMain');
    assert.equal(outputs.BatchVCPUS, '1');
    assert.equal(outputs.BatchMaxVCPUS, '8');
    assert.equal(outputs.BatchECR, `000000000000.dkr.ecr.${REGION}.amazonaws.com/riosecr`);
    assert.equal(outputs.BatchECRMain, `000000000000.dkr.ecr.${REGION}.amazonaws.com/riosecrmain`);
    assert.match(outputs.BatchVPC!, /^vpc-[0-9a-f]{17}$/);
    assert.match(outputs.BatchSecurityGroup!, /^sg-[0-9a-f]{17}$/);
    assert.equal(outputs.BatchProcessingJobDefinitionMainArn, `arn:aws:batch:${REGION}:000000000000:job-definition/riosJobDefinitionMain:1`);
    assert.deepEqual(stack.Tags, [{ Key: 'project', Value: 'riots' }]);
    assert.ok(stack.Parameters!.some((p) => p.ParameterKey === 'ServiceName' && p.ParameterValue === 'rios'));

    // The queues, compute environments, repositories and the security group the outputs name exist.
    const queues = (
      await c.batch.send(new DescribeJobQueuesCommand({ jobQueues: [outputs.BatchProcessingJobQueueName, outputs.BatchProcessingJobQueueNameMain] }))
    ).jobQueues!;
    assert.deepEqual(
      queues.map((q) => [q.jobQueueArn, q.state, q.status]).sort(),
      [
        [outputs.BatchProcessingJobQueueMainArn, 'ENABLED', 'VALID'],
        [outputs.BatchProcessingJobQueueArn, 'ENABLED', 'VALID'],
      ].sort(),
    );
    const ces = (
      await c.batch.send(
        new DescribeComputeEnvironmentsCommand({ computeEnvironments: [outputs.BatchComputeEnvironment!, outputs.BatchComputeEnvironmentMain!] }),
      )
    ).computeEnvironments!;
    assert.equal(ces.length, 2);
    for (const ce of ces) {
      assert.equal(ce.status, 'VALID');
      assert.equal(ce.computeResources!.maxvCpus, 8);
      assert.deepEqual(ce.computeResources!.securityGroupIds, [outputs.BatchSecurityGroup]);
    }
    const repos = (await c.ecr.send(new DescribeRepositoriesCommand({ repositoryNames: ['riosecr', 'riosecrmain'] }))).repositories!;
    assert.deepEqual(
      repos.map((r) => r.repositoryUri),
      [outputs.BatchECR, outputs.BatchECRMain],
    );
    const sg = (await c.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [outputs.BatchSecurityGroup!] }))).SecurityGroups![0]!;
    assert.equal(sg.VpcId, outputs.BatchVPC);
    const rule = sg.IpPermissions!.find((p) => p.FromPort === 30000);
    assert.deepEqual([rule?.IpProtocol, rule?.ToPort, rule?.UserIdGroupPairs?.map((g) => g.GroupId)], ['tcp', 50000, [outputs.BatchSecurityGroup]]);
    const missing = await refusal(c.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: ['sg-00000000000000000'] })));
    assert.equal(missing.name, 'InvalidGroup.NotFound');

    const events = (await c.cfn.send(new DescribeStackEventsCommand({ StackName: 'RIOS' }))).StackEvents!;
    assert.equal(events[0]!.ResourceStatus, 'CREATE_COMPLETE');
    assert.equal(events[0]!.LogicalResourceId, 'RIOS');
    assert.ok(
      events.some(
        (e) =>
          e.LogicalResourceId === 'WorkerJobQueue' && e.ResourceStatus === 'CREATE_COMPLETE' && e.PhysicalResourceId === outputs.BatchProcessingJobQueueArn,
      ),
    );

    const again = await refusal(c.cfn.send(new CreateStackCommand({ StackName: 'RIOS', TemplateBody: TEMPLATE, Capabilities: ['CAPABILITY_IAM'] })));
    assert.equal(again.name, 'AlreadyExistsException');
  });

  it('updates the stack parameters (UpdateStack), and refuses an update with no change', async () => {
    await c.cfn.send(
      new UpdateStackCommand({
        StackName: 'RIOS',
        UsePreviousTemplate: true,
        Capabilities: ['CAPABILITY_IAM'],
        Parameters: [{ ParameterKey: 'MaxVCPUS', ParameterValue: '16' }],
      }),
    );
    const during = await describeStack('RIOS');
    const max = during.Outputs!.find((o) => o.OutputKey === 'BatchMaxVCPUS')!.OutputValue;
    // While the update runs the old outputs stay; they change when it completes.
    assert.ok(
      (during.StackStatus === 'UPDATE_IN_PROGRESS' && max === '8') || (during.StackStatus === 'UPDATE_COMPLETE' && max === '16'),
      `${during.StackStatus} with BatchMaxVCPUS ${max}`,
    );
    const s = await waitFor(
      'UPDATE_COMPLETE',
      () => describeStack('RIOS'),
      (x) => x.StackStatus === 'UPDATE_COMPLETE',
    );
    assert.equal(s.Outputs!.find((o) => o.OutputKey === 'BatchMaxVCPUS')!.OutputValue, '16');
    const ce = (await c.batch.send(new DescribeComputeEnvironmentsCommand({ computeEnvironments: [outputs.BatchComputeEnvironment!] })))
      .computeEnvironments![0]!;
    assert.equal(ce.computeResources!.maxvCpus, 16);
    const same = await refusal(
      c.cfn.send(
        new UpdateStackCommand({
          StackName: 'RIOS',
          UsePreviousTemplate: true,
          Capabilities: ['CAPABILITY_IAM'],
          Parameters: [{ ParameterKey: 'MaxVCPUS', UsePreviousValue: true }],
        }),
      ),
    );
    assert.equal(same.name, 'ValidationError');
    assert.match(same.message, /No updates/);
    // as on AWS: a parameter the stack does not have cannot keep its "previous" value
    const unknown = await refusal(
      c.cfn.send(
        new UpdateStackCommand({
          StackName: 'RIOS',
          UsePreviousTemplate: true,
          Capabilities: ['CAPABILITY_IAM'],
          Parameters: [{ ParameterKey: 'NoSuchParameter', UsePreviousValue: true }],
        }),
      ),
    );
    assert.equal(unknown.name, 'ValidationError');
    assert.match(
      unknown.message,
      /Invalid input for parameter key NoSuchParameter\. Cannot specify usePreviousValue as true for a parameter key not in the previous template/,
    );
  });

  it('runs a main job through its statuses to SUCCEEDED, with the command and environment overrides', async () => {
    const out = join(dir, 'ok.json');
    const sub = await c.batch.send(
      new SubmitJobCommand({
        jobName: 'ok-job',
        jobQueue: outputs.BatchProcessingJobQueueNameMain,
        jobDefinition: outputs.BatchProcessingJobDefinitionMainName,
        containerOverrides: { command: ['exit', out, '0'], environment: [{ name: 'FOO', value: 'bar baz' }] },
        tags: { RiotsRunId: 'run-1' },
      }),
    );
    const { seen, job } = await follow(sub.jobId!);
    // Statuses only move forward; RUNNABLE lasts the start delay, so it is always seen (RUNNING
    // is awaited explicitly in the TerminateJob test; this job may be too quick to catch in it).
    const order = ['SUBMITTED', 'RUNNABLE', 'STARTING', 'RUNNING', 'SUCCEEDED'];
    assert.deepEqual(
      [...seen].sort((a, b) => order.indexOf(a) - order.indexOf(b)),
      seen,
      `statuses in order: ${seen.join(' ')}`,
    );
    assert.ok(seen.includes('RUNNABLE') && seen[seen.length - 1] === 'SUCCEEDED', seen.join(' '));
    assert.equal(job.container!.exitCode, 0);
    assert.equal(job.statusReason, 'Essential container in task exited');
    assert.deepEqual(job.tags, { RiotsRunId: 'run-1' });
    assert.ok(job.startedAt! - job.createdAt! >= START_DELAY * 1000, `start delay respected (${job.startedAt! - job.createdAt!} ms)`);
    assert.ok(job.stoppedAt! >= job.startedAt!);
    const rec = JSON.parse(readFileSync(out, 'utf8'));
    assert.deepEqual(rec.argv, ['exit', out, '0']);
    assert.equal(rec.cwd, dir, 'a main job runs in its Dockerfile folder');
    assert.deepEqual(rec.env, {
      FOO: 'bar baz',
      AWS_BATCH_JOB_ID: sub.jobId,
      AWS_ENDPOINT_URL: aws.url,
      AWS_REGION: REGION,
      RIOS_AWSBATCH_STACK: 'RIOS',
      RIOS_AWSBATCH_REGION: REGION,
      FROM_DOCKERFILE: 'yes',
    });
    const logs = readFileSync(join(aws.stateDir, 'jobs', `${sub.jobId}.log`), 'utf8');
    assert.match(logs, /job says hello/);
  });

  it('reports a failing job as FAILED with its exit code, and lists it', async () => {
    const out = join(dir, 'fail.json');
    const sub = await c.batch.send(
      new SubmitJobCommand({
        jobName: 'bad-job',
        jobQueue: outputs.BatchProcessingJobQueueNameMain,
        jobDefinition: outputs.BatchProcessingJobDefinitionMainArn,
        containerOverrides: { command: ['exit', out, '3'] },
      }),
    );
    const { job } = await follow(sub.jobId!);
    assert.equal(job.status, 'FAILED');
    assert.equal(job.container!.exitCode, 3);
    assert.equal(job.statusReason, 'Essential container in task exited');
    // its log stream, which riots names when a job fails, holds stdout and stderr in order
    assert.equal(job.container!.logStreamName, join(aws.stateDir, 'jobs', `${sub.jobId}.log`));
    assert.match(readFileSync(job.container!.logStreamName, 'utf8'), /job says hello\n(.*\n)*job says why it failed/);
    assert.match(jobStatusText(job), new RegExp(`exit code 3; log stream: ${job.container!.logStreamName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    const failed = (await c.batch.send(new ListJobsCommand({ jobQueue: outputs.BatchProcessingJobQueueNameMain, jobStatus: 'FAILED' }))).jobSummaryList!;
    assert.deepEqual(
      failed.map((j) => [j.jobId, j.container?.exitCode]),
      [[sub.jobId, 3]],
    );
    const byName = (
      await c.batch.send(new ListJobsCommand({ jobQueue: outputs.BatchProcessingJobQueueArn, filters: [{ name: 'JOB_NAME', values: ['ok-*'] }] }))
    ).jobSummaryList!;
    assert.equal(byName.length, 0, 'the ok job ran on the main queue, not the worker queue');
    const mainByName = (
      await c.batch.send(new ListJobsCommand({ jobQueue: outputs.BatchProcessingJobQueueNameMain, filters: [{ name: 'JOB_NAME', values: ['ok-*'] }] }))
    ).jobSummaryList!;
    assert.deepEqual(
      mainByName.map((j) => [j.jobName, j.status]),
      [['ok-job', 'SUCCEEDED']],
    );
  });

  it("lets a main job's own SDK calls reach the endpoint", async () => {
    const out = join(dir, 'sdk.json');
    const sub = await c.batch.send(
      new SubmitJobCommand({
        jobName: 'sdk-job',
        jobQueue: outputs.BatchProcessingJobQueueNameMain,
        jobDefinition: outputs.BatchProcessingJobDefinitionMainName,
        containerOverrides: { command: ['sdk', out] },
      }),
    );
    const { job } = await follow(sub.jobId!);
    assert.equal(job.status, 'SUCCEEDED', readFileSync(join(aws.stateDir, 'jobs', `${sub.jobId}.log`), 'utf8'));
    const seen = JSON.parse(readFileSync(out, 'utf8')) as { OutputKey: string; OutputValue: string }[];
    assert.equal(seen.find((o) => o.OutputKey === 'BatchECR')!.OutputValue, outputs.BatchECR);
  });

  it('runs a worker job as the ENTRYPOINT of aws/Dockerfile with the command appended', async () => {
    const sub = await c.batch.send(
      new SubmitJobCommand({
        jobName: 'worker-0',
        jobQueue: outputs.BatchProcessingJobQueueName,
        jobDefinition: outputs.BatchProcessingJobDefinitionName,
        containerOverrides: { command: ['-i', '0', '--channaddr', '10.0.0.1,30001'] },
      }),
    );
    const { job } = await follow(sub.jobId!);
    assert.equal(job.status, 'SUCCEEDED');
    const rec = JSON.parse(readFileSync(join(dir, 'riots-argv.json'), 'utf8'));
    assert.deepEqual(rec.argv, ['computeworker', '-i', '0', '--channaddr', '10.0.0.1,30001']);
    assert.equal(rec.gdal, 'EMPTY_DIR', "the worker Dockerfile's ENV reaches the process");
    assert.equal(rec.tunables, WORKER_MALLOC_TUNABLES, 'the image gives its jobs the malloc settings of CW_SUBPROC workers');
    assert.equal(rec.cwd, REPO.replace(/\/$/, ''), 'the worker image context is the checkout');
  });

  it('terminates a running job: its process group is killed and it FAILS with the reason', async () => {
    const out = join(dir, 'hang.json');
    const sub = await c.batch.send(
      new SubmitJobCommand({
        jobName: 'hang',
        jobQueue: outputs.BatchProcessingJobQueueNameMain,
        jobDefinition: outputs.BatchProcessingJobDefinitionMainName,
        containerOverrides: { command: ['hang', out] },
      }),
    );
    await waitFor(
      'the hanging job to run',
      async () => ({ job: await describeJob(sub.jobId!), written: existsSync(out) }),
      (x) => x.job.status === 'RUNNING' && x.written,
    );
    const { pid, child } = JSON.parse(readFileSync(out, 'utf8')) as { pid: number; child: number };
    assert.ok(alive(pid) && alive(child));
    const running = (await c.batch.send(new ListJobsCommand({ jobQueue: outputs.BatchProcessingJobQueueNameMain, jobStatus: 'RUNNING' }))).jobSummaryList!;
    assert.deepEqual(
      running.map((j) => j.jobId),
      [sub.jobId],
    );
    await c.batch.send(new TerminateJobCommand({ jobId: sub.jobId!, reason: 'stopped by the test' }));
    const { job } = await follow(sub.jobId!);
    assert.equal(job.status, 'FAILED');
    assert.equal(job.statusReason, 'stopped by the test');
    assert.equal(job.container!.exitCode, 137, 'SIGKILL after the ignored SIGTERM');
    await waitFor(
      'the job processes to be gone',
      async () => [alive(pid), alive(child)],
      (a) => !a[0] && !a[1],
      5000,
    );
  });

  it('keeps a job that cannot start RUNNABLE with a statusReason, and terminates it to FAILED', async () => {
    aws.holdQueue(outputs.BatchProcessingJobQueueName!, 'MISCONFIGURATION:TEST_HOLD - held by the test');
    const sub = await c.batch.send(
      new SubmitJobCommand({ jobName: 'held', jobQueue: outputs.BatchProcessingJobQueueName, jobDefinition: outputs.BatchProcessingJobDefinitionName }),
    );
    const held = await waitFor(
      'a statusReason on the held job',
      () => describeJob(sub.jobId!),
      (j) => j.statusReason !== undefined,
      5000,
    );
    assert.equal(held.status, 'RUNNABLE');
    assert.equal(held.statusReason, 'MISCONFIGURATION:TEST_HOLD - held by the test');
    await c.batch.send(new TerminateJobCommand({ jobId: sub.jobId!, reason: 'given up' }));
    const after = await describeJob(sub.jobId!);
    assert.deepEqual([after.status, after.statusReason], ['FAILED', 'given up']);
    aws.holdQueue(outputs.BatchProcessingJobQueueName!, undefined);

    // A job asking for more vCPUs than the compute environment has stays RUNNABLE too.
    const big = await c.batch.send(
      new SubmitJobCommand({
        jobName: 'big',
        jobQueue: outputs.BatchProcessingJobQueueNameMain,
        jobDefinition: outputs.BatchProcessingJobDefinitionMainName,
        containerOverrides: { resourceRequirements: [{ type: 'VCPU', value: '64' }] },
      }),
    );
    const bigJob = await waitFor(
      'a statusReason on the oversized job',
      () => describeJob(big.jobId!),
      (j) => j.statusReason !== undefined,
      5000,
    );
    assert.equal(bigJob.status, 'RUNNABLE');
    assert.match(bigJob.statusReason!, /^MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT/);
    await c.batch.send(new TerminateJobCommand({ jobId: big.jobId!, reason: 'too big' }));
  });

  it('tags jobs and queues, describes job definitions, and cancels a job that has not started', async () => {
    aws.holdQueue(outputs.BatchProcessingJobQueueNameMain!, 'held for the tag test');
    const sub = await c.batch.send(
      new SubmitJobCommand({
        jobName: 'tagged',
        jobQueue: outputs.BatchProcessingJobQueueNameMain,
        jobDefinition: outputs.BatchProcessingJobDefinitionMainName,
        tags: { a: '1' },
      }),
    );
    await c.batch.send(new TagResourceCommand({ resourceArn: sub.jobArn!, tags: { b: '2' } }));
    await c.batch.send(new UntagResourceCommand({ resourceArn: sub.jobArn!, tagKeys: ['a'] }));
    assert.deepEqual((await c.batch.send(new ListTagsForResourceCommand({ resourceArn: sub.jobArn! }))).tags, { b: '2' });
    assert.deepEqual((await describeJob(sub.jobId!)).tags, { b: '2' });
    await c.batch.send(new TagResourceCommand({ resourceArn: outputs.BatchProcessingJobQueueArn!, tags: { q: 'x' } }));
    const q = (await c.batch.send(new DescribeJobQueuesCommand({ jobQueues: [outputs.BatchProcessingJobQueueArn!] }))).jobQueues![0]!;
    assert.deepEqual(q.tags, { q: 'x' });
    const def = (await c.batch.send(new DescribeJobDefinitionsCommand({ jobDefinitions: [outputs.BatchProcessingJobDefinitionMainArn!] }))).jobDefinitions![0]!;
    assert.equal(def.containerProperties!.image, `${outputs.BatchECRMain}:latest`);
    assert.deepEqual(def.containerProperties!.environment, [
      { name: 'RIOS_AWSBATCH_STACK', value: 'RIOS' },
      { name: 'RIOS_AWSBATCH_REGION', value: REGION },
    ]);
    await c.batch.send(new CancelJobCommand({ jobId: sub.jobId!, reason: 'cancelled' }));
    const j = await describeJob(sub.jobId!);
    assert.deepEqual([j.status, j.statusReason], ['FAILED', 'cancelled']);
    aws.holdQueue(outputs.BatchProcessingJobQueueNameMain!, undefined);
  });

  it('refuses jobs to an unknown queue, a DISABLED queue, and with an unknown job definition', async () => {
    const submit = (jobQueue: string, jobDefinition: string) => c.batch.send(new SubmitJobCommand({ jobName: 'x', jobQueue, jobDefinition }));
    const e1 = await refusal(submit('noSuchQueue', outputs.BatchProcessingJobDefinitionName!));
    assert.equal(e1.name, 'ClientException');
    assert.match(e1.message, /noSuchQueue/);
    const e2 = await refusal(submit(outputs.BatchProcessingJobQueueName!, 'noSuchDefinition'));
    assert.equal(e2.name, 'ClientException');
    assert.match(e2.message, /noSuchDefinition/);
    await c.batch.send(new UpdateJobQueueCommand({ jobQueue: outputs.BatchProcessingJobQueueName!, state: 'DISABLED' }));
    const q = (await c.batch.send(new DescribeJobQueuesCommand({ jobQueues: [outputs.BatchProcessingJobQueueName!] }))).jobQueues![0]!;
    assert.equal(q.state, 'DISABLED');
    const e3 = await refusal(submit(outputs.BatchProcessingJobQueueName!, outputs.BatchProcessingJobDefinitionName!));
    assert.equal(e3.name, 'ClientException');
    assert.match(e3.message, /DISABLED/);
    aws.setQueueState(outputs.BatchProcessingJobQueueName!, 'ENABLED');
  });

  it('serves ECR: authorization token, images, BatchDeleteImage; DeleteStack fails on a non-empty repository', async () => {
    const auth = (await c.ecr.send(new GetAuthorizationTokenCommand({}))).authorizationData![0]!;
    assert.match(Buffer.from(auth.authorizationToken!, 'base64').toString(), /^AWS:.+/);
    assert.equal(auth.proxyEndpoint, `https://${outputs.BatchECR!.split('/')[0]}`);
    const digest = aws.putImage('riosecr', 'latest');
    const listed = (await c.ecr.send(new ListImagesCommand({ repositoryName: 'riosecr' }))).imageIds!;
    assert.deepEqual(listed, [{ imageDigest: digest, imageTag: 'latest' }]);

    await c.cfn.send(new DeleteStackCommand({ StackName: 'RIOS' }));
    const failed = await waitFor(
      'DELETE_FAILED',
      () => describeStack('RIOS'),
      (s) => s.StackStatus === 'DELETE_FAILED',
    );
    assert.match(failed.StackStatusReason!, /WorkerRepository|riosecr/);
    const events = (await c.cfn.send(new DescribeStackEventsCommand({ StackName: 'RIOS' }))).StackEvents!;
    assert.ok(events.some((e) => e.ResourceStatus === 'DELETE_FAILED' && /still contains images/.test(e.ResourceStatusReason ?? '')));

    const del = await c.ecr.send(new BatchDeleteImageCommand({ repositoryName: 'riosecr', imageIds: [{ imageDigest: digest }, { imageTag: 'nope' }] }));
    assert.deepEqual(del.imageIds, [{ imageDigest: digest, imageTag: 'latest' }]);
    assert.equal(del.failures![0]!.failureCode, 'ImageNotFound');
    assert.deepEqual((await c.ecr.send(new ListImagesCommand({ repositoryName: 'riosecr' }))).imageIds, []);
  });

  it("DeleteStack fails while a task is active in the stack's ECS cluster, as on AWS", async () => {
    aws.holdCluster('riosEcsCluster', 'held by the test');
    try {
      const run = await c.ecs.send(
        new RunTaskCommand({
          cluster: 'riosEcsCluster',
          taskDefinition: outputs.EcsWorkerTaskDefinitionArn!,
          launchType: 'FARGATE',
          networkConfiguration: { awsvpcConfiguration: { subnets: outputs.BatchPrivateSubnets!.split(','), securityGroups: [outputs.BatchSecurityGroup!] } },
        }),
      );
      const arn = run.tasks![0]!.taskArn!;
      await c.cfn.send(new DeleteStackCommand({ StackName: 'RIOS' }));
      const failed = await waitFor(
        'DELETE_FAILED',
        () => describeStack('RIOS'),
        (s) => s.StackStatus === 'DELETE_FAILED' && /EcsCluster/.test(s.StackStatusReason ?? ''),
      );
      assert.match(failed.StackStatusReason!, /The following resource\(s\) failed to delete: \[EcsCluster\]/);
      const events = (await c.cfn.send(new DescribeStackEventsCommand({ StackName: 'RIOS' }))).StackEvents!;
      assert.ok(
        events.some(
          (e) =>
            e.LogicalResourceId === 'EcsCluster' && e.ResourceStatus === 'DELETE_FAILED' && /ClusterContainsTasksException/.test(e.ResourceStatusReason ?? ''),
        ),
      );
      await c.ecs.send(new StopTaskCommand({ cluster: 'riosEcsCluster', task: arn }));
      assert.equal((await c.ecs.send(new DescribeTasksCommand({ cluster: 'riosEcsCluster', tasks: [arn] }))).tasks![0]!.lastStatus, 'STOPPED');
    } finally {
      aws.holdCluster('riosEcsCluster', undefined);
    }
  });

  it('deletes the stack: DELETE_COMPLETE, its objects gone, no job process left', async () => {
    // A job still running when the stack goes is terminated with it.
    const out = join(dir, 'hang2.json');
    const sub = await c.batch.send(
      new SubmitJobCommand({
        jobName: 'hang2',
        jobQueue: outputs.BatchProcessingJobQueueNameMain,
        jobDefinition: outputs.BatchProcessingJobDefinitionMainName,
        containerOverrides: { command: ['hang', out] },
      }),
    );
    await waitFor(
      'the job to run',
      async () => ({ job: await describeJob(sub.jobId!), written: existsSync(out) }),
      (x) => x.job.status === 'RUNNING' && x.written,
    );
    const { pid, child } = JSON.parse(readFileSync(out, 'utf8')) as { pid: number; child: number };

    await c.cfn.send(new DeleteStackCommand({ StackName: 'RIOS' }));
    const gone = await waitFor(
      'DELETE_COMPLETE',
      () => describeStack(stackId),
      (s) => s.StackStatus === 'DELETE_COMPLETE',
    );
    assert.ok(gone.DeletionTime instanceof Date);
    const byName = await refusal(describeStack('RIOS'));
    assert.match(byName.message, /does not exist/);
    assert.deepEqual((await c.batch.send(new DescribeJobQueuesCommand({}))).jobQueues, []);
    assert.deepEqual((await c.batch.send(new DescribeComputeEnvironmentsCommand({}))).computeEnvironments, []);
    assert.deepEqual((await c.ecr.send(new DescribeRepositoriesCommand({}))).repositories, []);
    const e = await refusal(
      c.batch.send(
        new SubmitJobCommand({
          jobName: 'late',
          jobQueue: outputs.BatchProcessingJobQueueNameMain,
          jobDefinition: outputs.BatchProcessingJobDefinitionMainName,
        }),
      ),
    );
    assert.equal(e.name, 'ClientException');

    const job = (await follow(sub.jobId!)).job;
    assert.deepEqual([job.status, job.statusReason], ['FAILED', 'Job queue deleted']);
    await waitFor(
      'the job processes to be gone',
      async () => [alive(pid), alive(child)],
      (a) => !a[0] && !a[1],
      5000,
    );
    assert.deepEqual(aws.jobPids(), []);
    // DeleteStack of a stack that no longer exists succeeds, as on AWS.
    await c.cfn.send(new DeleteStackCommand({ StackName: 'RIOS' }));
  });

  it('serves every region, each with its own state, as AWS keeps them apart', async () => {
    const other = clients(aws.url, 'us-west-1');
    const home = clients(aws.url, REGION);
    const name = 'RegionS';
    await home.cfn.send(
      new CreateStackCommand({
        StackName: name,
        TemplateBody: TEMPLATE,
        Capabilities: ['CAPABILITY_IAM'],
        Parameters: [{ ParameterKey: 'ServiceName', ParameterValue: 'rgn' }],
      }),
    );
    const complete = async (c: ReturnType<typeof clients>): Promise<void> =>
      void (await waitFor(
        'CREATE_COMPLETE',
        async () => (await c.cfn.send(new DescribeStacksCommand({ StackName: name }))).Stacks![0]!.StackStatus,
        (st) => st === 'CREATE_COMPLETE',
      ));
    await complete(home);
    // not in the other region: its stacks, queues and repositories are its own
    const e = await refusal(other.cfn.send(new DescribeStacksCommand({ StackName: name })));
    assert.match(e.message, /does not exist/);
    assert.deepEqual((await other.batch.send(new DescribeJobQueuesCommand({}))).jobQueues, []);
    // the same names can be made there, with ARNs and URIs of that region
    await other.cfn.send(
      new CreateStackCommand({
        StackName: name,
        TemplateBody: TEMPLATE,
        Capabilities: ['CAPABILITY_IAM'],
        Parameters: [{ ParameterKey: 'ServiceName', ParameterValue: 'rgn' }],
      }),
    );
    await complete(other);
    const queues = (await other.batch.send(new DescribeJobQueuesCommand({}))).jobQueues!.map((q) => q.jobQueueArn!);
    assert.ok(queues.length > 0 && queues.every((a) => a.includes(':us-west-1:')), queues.join(' '));
    const repos = (await other.ecr.send(new DescribeRepositoriesCommand({}))).repositories!.map((r) => r.repositoryUri!);
    assert.ok(repos.length > 0 && repos.every((u) => u.includes('.dkr.ecr.us-west-1.')), repos.join(' '));
    assert.ok(aws.stateOf('us-west-1') !== aws.state);
    await other.cfn.send(new DeleteStackCommand({ StackName: name }));
    await home.cfn.send(new DeleteStackCommand({ StackName: name }));
  });
});

describe('local AWS endpoint lifecycle', () => {
  it('keeps a main job RUNNABLE when no main Dockerfile is mapped', async () => {
    const aws = await startLocalAws({ region: REGION, startDelaySeconds: 0.05, stackDelaySeconds: 0.01 });
    try {
      const c = clients(aws.url, REGION);
      await c.cfn.send(
        new CreateStackCommand({
          StackName: 'S1',
          TemplateBody: TEMPLATE,
          Capabilities: ['CAPABILITY_NAMED_IAM'],
          Parameters: [{ ParameterKey: 'ServiceName', ParameterValue: 'abc' }],
        }),
      );
      await waitFor(
        'CREATE_COMPLETE',
        async () => (await c.cfn.send(new DescribeStacksCommand({ StackName: 'S1' }))).Stacks![0]!.StackStatus,
        (s) => s === 'CREATE_COMPLETE',
      );
      const sub = await c.batch.send(new SubmitJobCommand({ jobName: 'm', jobQueue: 'abcJobQueueMain', jobDefinition: 'abcJobDefinitionMain' }));
      const j = await waitFor(
        'a statusReason',
        async () => (await c.batch.send(new DescribeJobsCommand({ jobs: [sub.jobId!] }))).jobs![0]!,
        (x) => x.statusReason !== undefined,
        5000,
      );
      assert.equal(j.status, 'RUNNABLE');
      assert.match(j.statusReason!, /^CannotPullContainerError: .*--main-dockerfile/);
      // A second stack wanting the same repository names fails and rolls back.
      await c.cfn.send(
        new CreateStackCommand({
          StackName: 'S2',
          TemplateBody: TEMPLATE,
          Capabilities: ['CAPABILITY_IAM'],
          Parameters: [{ ParameterKey: 'ServiceName', ParameterValue: 'abc' }],
        }),
      );
      const s2 = await waitFor(
        'ROLLBACK_COMPLETE',
        async () => (await c.cfn.send(new DescribeStacksCommand({ StackName: 'S2' }))).Stacks![0]!,
        (s) => s.StackStatus === 'ROLLBACK_COMPLETE',
      );
      assert.equal(s2.Outputs, undefined);
      const events = (await c.cfn.send(new DescribeStackEventsCommand({ StackName: 'S2' }))).StackEvents!;
      assert.ok(events.some((e) => e.ResourceStatus === 'CREATE_FAILED' && /already exists/.test(e.ResourceStatusReason!)));
    } finally {
      await aws.close();
    }
  });

  it('runs a shell-form ENTRYPOINT with `riots` resolved to this checkout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'riots-aws-local-shell-'));
    writeFileSync(join(dir, 'Dockerfile'), 'FROM riots\nENTRYPOINT riots --version && echo "shell form ran in $PWD"\n');
    const aws = await startLocalAws({ region: REGION, startDelaySeconds: 0.05, stackDelaySeconds: 0.01, mainDockerfile: join(dir, 'Dockerfile') });
    try {
      const c = clients(aws.url, REGION);
      await c.cfn.send(new CreateStackCommand({ StackName: 'RIOS', TemplateBody: TEMPLATE, Capabilities: ['CAPABILITY_IAM'] }));
      await waitFor(
        'CREATE_COMPLETE',
        async () => (await c.cfn.send(new DescribeStacksCommand({ StackName: 'RIOS' }))).Stacks![0]!.StackStatus,
        (s) => s === 'CREATE_COMPLETE',
      );
      // Docker ignores the command override with a shell-form ENTRYPOINT; so does the endpoint.
      const sub = await c.batch.send(
        new SubmitJobCommand({
          jobName: 'v',
          jobQueue: 'riosJobQueueMain',
          jobDefinition: 'riosJobDefinitionMain',
          containerOverrides: { command: ['ignored'] },
        }),
      );
      const j = await waitFor(
        'the job to end',
        async () => (await c.batch.send(new DescribeJobsCommand({ jobs: [sub.jobId!] }))).jobs![0]!,
        (x) => x.status === 'SUCCEEDED' || x.status === 'FAILED',
        30000,
      );
      const stdout = readFileSync(join(aws.stateDir, 'jobs', `${sub.jobId}.log`), 'utf8');
      assert.equal(j.status, 'SUCCEEDED', readFileSync(join(aws.stateDir, 'jobs', `${sub.jobId}.log`), 'utf8'));
      const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
      assert.equal(stdout, `${version}\nshell form ran in ${dir}\n`);
    } finally {
      await aws.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('kills every job process on close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'riots-aws-local-close-'));
    writeFileSync(join(dir, 'job.mjs'), JOB_SCRIPT);
    writeFileSync(join(dir, 'Dockerfile'), 'FROM node:20\nCOPY job.mjs /job.mjs\nENTRYPOINT ["node", "/job.mjs"]\n');
    const aws = await startLocalAws({ region: REGION, startDelaySeconds: 0.05, stackDelaySeconds: 0.01, mainDockerfile: join(dir, 'Dockerfile') });
    let pids: number[] = [];
    try {
      const c = clients(aws.url, REGION);
      const stackOutputs = await createBatchStack(aws);
      assert.equal(stackOutputs.BatchProcessingJobQueueNameMain, 'riosJobQueueMain');
      const outs = [0, 1].map((i) => join(dir, `h${i}.json`));
      for (const out of outs)
        await c.batch.send(
          new SubmitJobCommand({
            jobName: 'h',
            jobQueue: 'riosJobQueueMain',
            jobDefinition: 'riosJobDefinitionMain',
            containerOverrides: { command: ['hang', out] },
          }),
        );
      await waitFor('both jobs to write their pids', async () => outs.every((o) => existsSync(o)), Boolean);
      pids = outs.flatMap((o) => Object.values(JSON.parse(readFileSync(o, 'utf8')) as Record<string, number>));
      assert.equal(pids.length, 4);
      assert.ok(pids.every(alive));
    } finally {
      await aws.close();
      await waitFor(
        'every job process to be gone',
        async () => pids.filter(alive),
        (l) => l.length === 0,
        5000,
      );
      assert.equal(existsSync(aws.stateDir), false, 'the temporary state folder is removed');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const how of ['throw', 'exit'] as const) {
    it(`a process that dies without close() (${how === 'throw' ? 'uncaught exception' : 'process.exit()'}) takes its job processes and state folder with it`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'riots-aws-local-die-'));
      writeFileSync(join(dir, 'job.mjs'), JOB_SCRIPT);
      writeFileSync(join(dir, 'Dockerfile'), 'FROM node:20\nCOPY job.mjs /job.mjs\nENTRYPOINT ["node", "/job.mjs"]\n');
      let pids: number[] = [];
      try {
        const host = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'test', 'helpers', 'localawshost.ts'), dir, REGION, how], {
          cwd: REPO,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let text = '';
        host.stdout.on('data', (d: Buffer) => (text += d.toString()));
        let errText = '';
        host.stderr.on('data', (d: Buffer) => (errText += d.toString()));
        const code = await new Promise<number | null>((r) => host.once('exit', (c) => r(c)));
        assert.equal(code, how === 'throw' ? 1 : 3, errText);
        const stateDir = /^READY (\S+)$/m.exec(text)?.[1];
        assert.ok(stateDir, `the host never got ready: ${errText}`);
        pids = [0, 1].flatMap((i) => Object.values(JSON.parse(readFileSync(join(dir, `h${i}.json`), 'utf8')) as Record<string, number>));
        assert.equal(pids.length, 4);
        await waitFor(
          'every job process to be gone',
          async () => pids.filter(alive),
          (l) => l.length === 0,
          5000,
        );
        assert.equal(existsSync(stateDir), false, 'the temporary state folder is removed');
      } finally {
        for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('`riots batch local` prints the URL and the variables, serves, and stops on SIGINT', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), 'batch', 'local', '--port', '0', '--region', REGION, '--start-delay', '5'],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    let errText = '';
    child.stderr.on('data', (d: Buffer) => (errText += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const url = await waitFor(
        'the endpoint URL on stdout',
        async () => /export AWS_ENDPOINT_URL=(\S+)/.exec(text)?.[1],
        (u) => u !== undefined || child.exitCode !== null,
        30000,
      );
      assert.ok(url, `no URL printed; stderr: ${errText}`);
      assert.match(text, new RegExp(`export AWS_REGION=${REGION}`));
      assert.match(text, /export AWS_ACCESS_KEY_ID=/);
      const c = clients(url, REGION);
      assert.deepEqual((await c.batch.send(new DescribeJobQueuesCommand({}))).jobQueues, []);
    } finally {
      child.kill('SIGINT');
    }
    assert.equal(await exited, 0, errText);
    assert.match(text, /stopped/);
    // without --state-dir the job logs go to a new temporary folder, kept after exit (--help says
    // so) for the user to read; this test made it, so it removes it
    const logs = /job logs \(stdout and stderr\): (\S+)\/jobs\//.exec(text)?.[1];
    assert.ok(logs, `no job-log folder printed: ${text}`);
    assert.equal(existsSync(logs), true, 'the job-log folder is kept after exit');
    rmSync(logs, { recursive: true, force: true });
  });
});

describe('template evaluation (the pieces our template does not exercise)', () => {
  const ctx = { stackName: 'S', stackId: 'arn:aws:cloudformation:eu-west-2:000000000000:stack/S/1', region: REGION, accountId: '000000000000' };
  const evaluate = (yaml: string, given: Record<string, string> = {}) => {
    const t = parseTemplate(yaml);
    return new TemplateEvaluator(t, resolveParameters(t, given), ctx).evaluate();
  };
  const outs = (yaml: string, given: Record<string, string> = {}) => Object.fromEntries(evaluate(yaml, given).outputs.map((o) => [o.key, o.value]));

  it('evaluates conditions, Fn::If with AWS::NoValue, Sub with literals and local variables, Join/Select/Split/GetAZs', () => {
    const yaml = `
Parameters:
  Env: {Type: String, Default: dev, AllowedValues: [dev, prod]}
  Size: {Type: Number, Default: 2}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  NotProd: !Not [!Condition IsProd]
Resources:
  Repo:
    Type: AWS::ECR::Repository
    Properties:
      RepositoryName: !If [IsProd, !Sub '\${Env}-repo', !Ref AWS::NoValue]
  Extra:
    Type: AWS::ECR::Repository
    Condition: IsProd
    Properties: {RepositoryName: extra}
Outputs:
  Uri: {Value: !GetAtt Repo.RepositoryUri}
  Literal: {Value: !Sub ['\${!NotAVar}-\${X}-\${AWS::Region}', {X: !Ref Size}]}
  Joined: {Value: !Join ['/', [!Select [1, !GetAZs ''], !Select [0, !Split [',', 'a,b']]]]}
  Either: {Value: !If [NotProd, yes, no]}
`;
    const dev = outs(yaml);
    assert.match(
      dev.Uri!,
      /^000000000000\.dkr\.ecr\.eu-west-2\.amazonaws\.com\/s-repo-[0-9a-f]{12}$/,
      'generated (lower-case) name when RepositoryName is removed by AWS::NoValue',
    );
    assert.equal(dev.Literal, '${NotAVar}-2-eu-west-2');
    assert.equal(dev.Joined, 'eu-west-2b/a');
    assert.equal(dev.Either, 'yes');
    assert.equal(evaluate(yaml).resources.length, 1, 'Extra is conditional');
    const prod = outs(yaml, { Env: 'prod' });
    assert.equal(prod.Uri, '000000000000.dkr.ecr.eu-west-2.amazonaws.com/prod-repo');
    assert.equal(prod.Either, 'no');
    assert.throws(() => evaluate(yaml, { Env: 'test' }), /AllowedValues/);
    assert.throws(() => evaluate(yaml, { Size: 'big' }), /must be a number/);
  });

  it('refuses cycles, dangling references, unknown attributes and missing parameter values', () => {
    const res = (body: string) => `Resources:\n${body}`;
    assert.throws(
      () =>
        evaluate(
          res(
            '  A: {Type: AWS::EC2::VPC, Properties: {CidrBlock: !GetAtt B.CidrBlock}}\n  B: {Type: AWS::EC2::VPC, Properties: {CidrBlock: !GetAtt A.CidrBlock}}\n',
          ),
        ),
      /Circular dependency/,
    );
    assert.throws(() => evaluate(res('  A: {Type: AWS::EC2::VPC, Properties: {CidrBlock: !Ref Nope}}\n')), /Unresolved resource dependencies \[Nope\]/);
    assert.throws(() => evaluate(res('  A: {Type: AWS::EC2::VPC}\nOutputs:\n  X: {Value: !GetAtt A.Nope}\n')), /does not support attribute Nope/);
    assert.throws(() => evaluate('Parameters:\n  P: {Type: String}\n' + res('  A: {Type: AWS::EC2::VPC}\n')), /Parameters: \[P\] must have values/);
  });
});

describe('Dockerfile reading', () => {
  it('reads exec and shell forms, ENV forms, continuation lines, WORKDIR, and maps COPY destinations back', () => {
    const dir = mkdtempSync(join(tmpdir(), 'riots-dockerfile-'));
    try {
      writeFileSync(join(dir, 'main.mjs'), '');
      writeFileSync(
        join(dir, 'Dockerfile.base'),
        '# base\nFROM node:20\nENV A=1 \\\n    B="two words"\nENV C three\nENTRYPOINT ["tool", "run"]\nCMD ["--default"]\n',
      );
      writeFileSync(
        join(dir, 'Dockerfile'),
        'FROM base\nWORKDIR /app\nCOPY --chown=1:1 main.mjs ./\nCOPY --from=builder /x /y\nENTRYPOINT ["node", "main.mjs"]\nCMD ["--flag", "/app/main.mjs"]\n',
      );
      const base = readDockerfile(join(dir, 'Dockerfile.base'));
      assert.deepEqual(base.env, { A: '1', B: 'two words', C: 'three' });
      assert.deepEqual(jobArgv(base, undefined), ['tool', 'run', '--default']);
      assert.deepEqual(jobArgv(base, ['x']), ['tool', 'run', 'x']);
      const spec = readDockerfile(join(dir, 'Dockerfile'), (from) => (from === 'base' ? base : undefined));
      assert.equal(spec.env.B, 'two words', 'ENV inherited from the base');
      assert.equal(spec.workdir, '/app');
      assert.deepEqual(spec.cmd, ['--flag', '/app/main.mjs'], 'CMD after ENTRYPOINT counts; the base CMD is reset');
      assert.deepEqual(jobArgv(spec, undefined), ['node', join(dir, 'main.mjs'), '--flag', join(dir, 'main.mjs')]);
      writeFileSync(join(dir, 'Dockerfile.shell'), 'FROM x\nENTRYPOINT exec riots computeworker "$@"\n');
      const shell = readDockerfile(join(dir, 'Dockerfile.shell'));
      assert.deepEqual(jobArgv(shell, ['ignored']), ['/bin/sh', '-c', 'exec riots computeworker "$@"']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
