/**
 * `riots batch create`: create (or with --modify, update) the riots AWS Batch stack from
 * aws/batch.yaml. Option names and defaults are those of RIOS's tooling.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AwsError } from '../../errors.js';
import { awsCall, cloudFormation } from '../../aws/clients.js';
import { batchStackName } from '../../aws/stack.js';
import {
  STACK_HELP,
  STACK_OPTIONS,
  UsageError,
  WAIT_HELP,
  out,
  packageRoot,
  parseOptions,
  secondsOption,
  wholeNumber,
  type BatchSubcommand,
} from './common.js';
import { latestEventTime, waitForStack } from './stackwait.js';

/** CloudFormation's limit for an inline TemplateBody. */
const TEMPLATE_BODY_LIMIT = 51_200;

/** Template parameter, CLI option, RIOS default. */
const PARAMETERS = [
  { param: 'ServiceName', option: 'servicename', dflt: 'rios', number: false },
  { param: 'VCPUS', option: 'vcpus', dflt: '1', number: true },
  { param: 'MaxMemory', option: 'mem', dflt: '4000', number: true },
  { param: 'MaxVCPUS', option: 'maxvcpus', dflt: '128', number: true },
  { param: 'InstanceType', option: 'instancetype', dflt: 'optimal', number: false },
  { param: 'MainVolumeSize', option: 'mainvolumesize', dflt: '32', number: true },
  { param: 'EcsCpu', option: 'ecscpu', dflt: '1024', number: true },
  { param: 'EcsMemory', option: 'ecsmem', dflt: '4096', number: true },
  { param: 'EcsCpuArchitecture', option: 'ecsarch', dflt: 'X86_64', number: false },
] as const;

const options = {
  ...STACK_OPTIONS,
  servicename: { type: 'string' },
  vcpus: { type: 'string' },
  mem: { type: 'string' },
  maxvcpus: { type: 'string' },
  instancetype: { type: 'string' },
  mainvolumesize: { type: 'string' },
  ecscpu: { type: 'string' },
  ecsmem: { type: 'string' },
  ecsarch: { type: 'string' },
  tag: { type: 'string', multiple: true },
  modify: { type: 'boolean' },
  wait: { type: 'boolean' },
  timeout: { type: 'string' },
  poll: { type: 'string' },
} as const;

const help = `usage: riots batch create [options]

Create the CloudFormation stack that runs riots on AWS Batch (aws/batch.yaml): a VPC with a
NAT gateway, ECR repositories for the worker and main images, job queues, compute environments
and job definitions, and an ECS cluster with a Fargate task definition of the worker (CW_ECS). It creates IAM roles, so it is created with CAPABILITY_IAM.
Creating takes several minutes; the stack costs money while it exists (see docs/aws-batch.md).

options:
  --servicename NAME     prefix of the repositories, queues and job definitions (default rios)
  --vcpus N              vCPUs of each job (default 1)
  --mem MIB              memory of each job, MiB (default 4000)
  --maxvcpus N           most vCPUs each compute environment runs at once (default 128);
                         the most compute workers is maxvcpus / vcpus
  --instancetype TYPE    'optimal' (x86_64), or a Graviton (arm64) family or type such as m7g;
                         must match the images' architecture (default optimal)
  --mainvolumesize GIB   root volume of the instances that run main jobs (default 32)
  --ecscpu UNITS         CPU of each CW_ECS task, 1024 = 1 vCPU (default 1024)
  --ecsmem MIB           memory of each CW_ECS task, a size Fargate offers for that CPU
                         (default 4096)
  --ecsarch ARCH         X86_64 or ARM64, the worker image's architecture (default X86_64)
  --tag KEY=VALUE        a tag for the stack and its resources; repeat for more
  --modify               update the existing stack (UpdateStack) instead of creating it; only
                         the parameters given change, the others keep their values (those the
                         stack does not have yet, from an older riots, get their defaults)
  --wait                 follow the progress until the stack is complete; on failure print the
                         failed events and exit non-zero
${WAIT_HELP.replace('give up waiting after this long', 'give up waiting after this long (default 3600)')}
${STACK_HELP}`;

type Values = Record<string, string | boolean | string[] | undefined>;

/**
 * The Parameters of CreateStack / UpdateStack from the options. With `modify`, a parameter not
 * given keeps its value when the stack has it (`previous`: the stack's parameter keys); one the
 * stack lacks (a template parameter added since it was made) gets its default, as CloudFormation
 * refuses UsePreviousValue for it.
 */
export function stackParameters(
  values: Values,
  modify: boolean,
  previous?: ReadonlySet<string>,
): { ParameterKey: string; ParameterValue?: string; UsePreviousValue?: boolean }[] {
  return PARAMETERS.map((p) => {
    const given = values[p.option] as string | undefined;
    if (given !== undefined && p.number) wholeNumber(given, p.option);
    if (given !== undefined && given === '') throw new UsageError(`--${p.option} must not be empty`);
    if (given !== undefined) return { ParameterKey: p.param, ParameterValue: given.trim() };
    return modify && (previous === undefined || previous.has(p.param))
      ? { ParameterKey: p.param, UsePreviousValue: true }
      : { ParameterKey: p.param, ParameterValue: p.dflt };
  });
}

/** `--tag k=v` list as CloudFormation tags. */
export function parseTags(tags: string[] | undefined): { Key: string; Value: string }[] {
  return (tags ?? []).map((t) => {
    const i = t.indexOf('=');
    if (i <= 0) throw new UsageError(`--tag wants KEY=VALUE, not '${t}'`);
    return { Key: t.slice(0, i), Value: t.slice(i + 1) };
  });
}

/** aws/batch.yaml from the package, checked against the inline-template size limit. */
export function readTemplate(): string {
  const file = join(packageRoot(), 'aws', 'batch.yaml');
  let body: string;
  try {
    body = readFileSync(file, 'utf8');
  } catch (e) {
    throw new AwsError(`cannot read the stack template ${file}: ${(e as Error).message}`, { file, cause: e });
  }
  if (Buffer.byteLength(body) > TEMPLATE_BODY_LIMIT) {
    throw new AwsError(`the stack template ${file} is over CloudFormation's ${TEMPLATE_BODY_LIMIT}-byte inline limit`, {
      file,
    });
  }
  return body;
}

async function run(argv: string[]): Promise<number> {
  const parsed = parseOptions(argv, options, help);
  if (!parsed) return 0;
  const v = parsed.values;
  const modify = v.modify === true;
  stackParameters(v, modify); // the options' checks, before any call
  const tags = parseTags(v.tag);
  const timeoutMs = secondsOption(v.timeout, 'timeout', 3600);
  const pollMs = secondsOption(v.poll, 'poll', 5);
  const stackName = batchStackName(v.stackname);
  const body = readTemplate();
  const cfn = await cloudFormation(v.region);
  const { sdk, client } = cfn;
  let stackId: string;
  let after: Date | undefined;
  if (modify) {
    const described = await awsCall(`DescribeStacks of '${stackName}'`, () => client.send(new sdk.DescribeStacksCommand({ StackName: stackName })));
    const have = new Set((described.Stacks?.[0]?.Parameters ?? []).map((p) => p.ParameterKey ?? ''));
    const params = stackParameters(v, modify, have);
    after = await latestEventTime({ cfn, stack: stackName });
    const res = await awsCall(`UpdateStack of '${stackName}'`, async () => {
      try {
        return await client.send(
          new sdk.UpdateStackCommand({
            StackName: stackName,
            TemplateBody: body,
            Parameters: params,
            Capabilities: ['CAPABILITY_IAM'],
            ...(tags.length ? { Tags: tags } : {}),
          }),
        );
      } catch (e) {
        // CloudFormation refuses an update that changes nothing; for us that is success.
        if (/No updates are to be performed/i.test((e as Error).message)) return 'unchanged' as const;
        throw e;
      }
    });
    if (res === 'unchanged') {
      out(`stack ${stackName} already has these settings: nothing to update`);
      return 0;
    }
    stackId = res.StackId ?? stackName;
    out(`updating stack ${stackName} (${stackId})`);
  } else {
    const params = stackParameters(v, modify);
    const res = await awsCall(`CreateStack of '${stackName}'`, () =>
      client.send(
        new sdk.CreateStackCommand({
          StackName: stackName,
          TemplateBody: body,
          Parameters: params,
          Capabilities: ['CAPABILITY_IAM'],
          ...(tags.length ? { Tags: tags } : {}),
        }),
      ),
    );
    stackId = res.StackId ?? stackName;
    out(`creating stack ${stackName} (${stackId})`);
  }
  if (v.wait !== true) {
    out(`follow it with 'riots batch outputs'${v.stackname ? ` --stackname ${stackName}` : ''}, or pass --wait`);
    return 0;
  }
  await waitForStack({ cfn, stack: stackId, stackName, goal: modify ? 'UPDATE' : 'CREATE', after, timeoutMs, pollMs });
  out(`stack ${stackName} is ready; 'riots batch outputs' prints its outputs`);
  return 0;
}

export const create: BatchSubcommand = { summary: 'create (or --modify) the AWS Batch stack', help, run };
