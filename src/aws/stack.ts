/**
 * The outputs of the riots AWS Batch stack (aws/batch.yaml, or a stack of your own with the same
 * outputs), read with CloudFormation DescribeStacks.
 *
 * The stack is `RIOS_AWSBATCH_STACK` (default `RIOS`) in region `RIOS_AWSBATCH_REGION`, falling
 * back to the SDK's usual region settings — the names RIOS uses, so its instructions carry over.
 */
import { AwsError } from '../errors.js';
import { batchRegion, cloudFormation, sdkErrorText, toAwsError } from './clients.js';

/** The environment variable naming the stack (as in RIOS). */
export const STACK_ENV = 'RIOS_AWSBATCH_STACK';
/** The stack name when neither an argument nor {@link STACK_ENV} gives one. */
export const DEFAULT_STACK_NAME = 'RIOS';
/** The tag key that marks a Batch job as one of riots' runs; its value is the run id. */
export const RUN_ID_TAG = 'riots-run-id';

/** Outputs the compute-worker side cannot do without. */
export const WORKER_OUTPUTS = ['BatchProcessingJobQueueName', 'BatchProcessingJobDefinitionName', 'BatchVCPUS', 'BatchMaxVCPUS'] as const;

/** Outputs for the main job, the images and the checks; a stack of your own may leave them out. */
export const OPTIONAL_OUTPUTS = [
  'BatchProcessingJobQueueNameMain',
  'BatchProcessingJobDefinitionMainName',
  'BatchProcessingJobQueueArn',
  'BatchProcessingJobQueueMainArn',
  'BatchProcessingJobDefinitionArn',
  'BatchProcessingJobDefinitionMainArn',
  'BatchECR',
  'BatchECRMain',
  'BatchVPC',
  'BatchPrivateSubnets',
  'BatchComputeEnvironment',
  'BatchComputeEnvironmentMain',
  'BatchSecurityGroup',
  'EcsClusterName',
  'EcsWorkerTaskDefinitionArn',
  'EcsWorkerContainerName',
] as const;

export type OptionalOutputName = (typeof OPTIONAL_OUTPUTS)[number];

/** The stack's outputs, typed. Names are the output keys of aws/batch.yaml. */
export type BatchStackOutputs = {
  /** The stack these came from, and its region (as the SDK resolved it). */
  stackName: string;
  region: string | undefined;
  BatchProcessingJobQueueName: string;
  BatchProcessingJobDefinitionName: string;
  /** vCPUs per job. */
  BatchVCPUS: number;
  /** Most vCPUs the worker compute environment may run at once. */
  BatchMaxVCPUS: number;
  /** Every output of the stack as text, including any not named here. */
  all: Record<string, string>;
  /** The stack's parameters, where DescribeStacks gave them. */
  parameters: Record<string, string>;
} & { [K in OptionalOutputName]?: string };

export interface StackOptions {
  /** Default: RIOS_AWSBATCH_STACK, else 'RIOS'. */
  stackName?: string;
  /** Default: RIOS_AWSBATCH_REGION, else the SDK's region chain. */
  region?: string;
}

/** The stack name riots uses: the argument, else RIOS_AWSBATCH_STACK, else 'RIOS'. */
export function batchStackName(stackName?: string): string {
  if (stackName !== undefined && stackName !== '') return stackName;
  const env = process.env[STACK_ENV];
  return env !== undefined && env !== '' ? env : DEFAULT_STACK_NAME;
}

/** A stack as DescribeStacks reports it: status and raw outputs. */
export interface StackDescription {
  stackName: string;
  stackId: string;
  status: string;
  statusReason?: string;
  outputs: Record<string, string>;
  /** The stack's parameters as it runs with them (InstanceType, EcsCpuArchitecture…). */
  parameters: Record<string, string>;
}

function isMissingStack(err: unknown): boolean {
  return /does not exist/i.test(sdkErrorText(err));
}

/**
 * DescribeStacks of one stack. Resolves to undefined when the stack does not exist.
 * @throws AwsError on any other failure.
 */
export async function describeStack(opts: StackOptions = {}): Promise<StackDescription | undefined> {
  return (await describeIn(batchStackName(opts.stackName), opts.region)).desc;
}

/** DescribeStacks, with the region the SDK really used (from the argument or its own chain). */
async function describeIn(stackName: string, region: string | undefined): Promise<{ desc: StackDescription | undefined; region: string | undefined }> {
  const { sdk, client } = await cloudFormation(region);
  const used = async (): Promise<string | undefined> => {
    try {
      return await client.config.region();
    } catch {
      return region;
    }
  };
  let res;
  try {
    res = await client.send(new sdk.DescribeStacksCommand({ StackName: stackName }));
  } catch (err) {
    if (isMissingStack(err)) return { desc: undefined, region: await used() };
    throw toAwsError(`DescribeStacks of stack '${stackName}'`, err);
  } finally {
    client.destroy();
  }
  const stack = res.Stacks?.[0];
  if (stack === undefined) return { desc: undefined, region: await used() };
  const outputs: Record<string, string> = {};
  for (const o of stack.Outputs ?? []) {
    if (o.OutputKey !== undefined && o.OutputValue !== undefined) outputs[o.OutputKey] = o.OutputValue;
  }
  const parameters: Record<string, string> = {};
  for (const p of stack.Parameters ?? []) {
    if (p.ParameterKey !== undefined && p.ParameterValue !== undefined) parameters[p.ParameterKey] = p.ParameterValue;
  }
  const desc: StackDescription = {
    stackName: stack.StackName ?? stackName,
    stackId: stack.StackId ?? stackName,
    status: String(stack.StackStatus ?? 'UNKNOWN'),
    outputs,
    parameters,
  };
  if (stack.StackStatusReason !== undefined) desc.statusReason = stack.StackStatusReason;
  return { desc, region: await used() };
}

function whereText(stackName: string, region: string | undefined): string {
  return `stack '${stackName}'${region ? ` in region ${region}` : ''}`;
}

/**
 * Type the raw outputs of a stack; pure, so it can be tested without AWS.
 * @throws AwsError naming the first missing or malformed worker output.
 */
export function parseStackOutputs(
  raw: Record<string, string>,
  stackName: string,
  region: string | undefined,
  parameters: Record<string, string> = {},
): BatchStackOutputs {
  const where = whereText(stackName, region);
  for (const key of WORKER_OUTPUTS) {
    if (raw[key] === undefined || raw[key] === '') {
      throw new AwsError(`${where} has no output '${key}' (needed to run compute workers on AWS Batch)`);
    }
  }
  const count = (key: 'BatchVCPUS' | 'BatchMaxVCPUS'): number => {
    const n = Number(raw[key]);
    if (!Number.isInteger(n) || n < 1) {
      throw new AwsError(`${where}: output '${key}' is '${raw[key]}', not a positive whole number`);
    }
    return n;
  };
  const out: BatchStackOutputs = {
    stackName,
    region,
    BatchProcessingJobQueueName: raw.BatchProcessingJobQueueName!,
    BatchProcessingJobDefinitionName: raw.BatchProcessingJobDefinitionName!,
    BatchVCPUS: count('BatchVCPUS'),
    BatchMaxVCPUS: count('BatchMaxVCPUS'),
    all: { ...raw },
    parameters: { ...parameters },
  };
  for (const key of OPTIONAL_OUTPUTS) {
    if (raw[key] !== undefined && raw[key] !== '') out[key] = raw[key];
  }
  return out;
}

/**
 * Read and type the outputs of the riots stack.
 *
 * @throws AwsError when the stack does not exist, is not in a usable state, or lacks a worker
 *   output; the message names the stack and region.
 * @example
 *   const out = await getStackOutputs();           // stack RIOS_AWSBATCH_STACK or 'RIOS'
 *   const maxWorkers = Math.floor(out.BatchMaxVCPUS / out.BatchVCPUS);
 */
export async function getStackOutputs(opts: StackOptions = {}): Promise<BatchStackOutputs> {
  const stackName = batchStackName(opts.stackName);
  const { desc, region } = await describeIn(stackName, batchRegion(opts.region));
  if (desc === undefined) {
    throw new AwsError(
      `${whereText(stackName, region)} does not exist (create it with 'riots batch create', ` +
        `or set ${STACK_ENV} / RIOS_AWSBATCH_REGION to an existing one)`,
    );
  }
  if (Object.keys(desc.outputs).length === 0) {
    throw new AwsError(`${whereText(stackName, region)} is ${desc.status}` + `${desc.statusReason ? ` (${desc.statusReason})` : ''} and has no outputs`);
  }
  return parseStackOutputs(desc.outputs, stackName, region, desc.parameters);
}

/**
 * An optional output that a command needs.
 * @throws AwsError naming the output and what it is needed for.
 */
export function requireOutput(out: BatchStackOutputs, key: OptionalOutputName, neededFor: string): string {
  const v = out[key];
  if (v === undefined) {
    throw new AwsError(`${whereText(out.stackName, out.region)} has no output '${key}' (needed ${neededFor})`);
  }
  return v;
}

/** The most compute workers the stack can run at once: floor(BatchMaxVCPUS / BatchVCPUS). */
export function maxWorkers(out: Pick<BatchStackOutputs, 'BatchVCPUS' | 'BatchMaxVCPUS'>): number {
  return Math.floor(out.BatchMaxVCPUS / out.BatchVCPUS);
}
