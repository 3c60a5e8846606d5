/**
 * `riots batch outputs` (every output of the stack) and `riots batch ecr-path` (the repository
 * of the worker or main image, or the registry host for `docker login`).
 */
import { AwsError } from '../../errors.js';
import { batchStackName, describeStack, getStackOutputs, requireOutput } from '../../aws/stack.js';
import { registryHost } from '../../aws/images.js';
import { STACK_HELP, STACK_OPTIONS, out, parseOptions, stackOpts, type BatchSubcommand } from './common.js';

const outputsHelp = `usage: riots batch outputs [options]

Print the outputs of the riots AWS Batch stack, one 'Key  Value' line each (or JSON).

options:
  --json                 print one JSON object instead
${STACK_HELP}`;

async function runOutputs(argv: string[]): Promise<number> {
  const parsed = parseOptions(argv, { ...STACK_OPTIONS, json: { type: 'boolean' } } as const, outputsHelp);
  if (!parsed) return 0;
  const v = parsed.values;
  const stackName = batchStackName(v.stackname);
  const desc = await describeStack(stackOpts(v));
  if (desc === undefined) throw new AwsError(`stack '${stackName}' does not exist`);
  if (v.json === true) {
    out(JSON.stringify(desc.outputs, null, 2));
    return 0;
  }
  const keys = Object.keys(desc.outputs);
  if (keys.length === 0) {
    out(`stack ${stackName} is ${desc.status} and has no outputs${desc.statusReason ? ` (${desc.statusReason})` : ''}`);
    return desc.status.endsWith('_IN_PROGRESS') ? 0 : 1;
  }
  const width = Math.max(...keys.map((k) => k.length));
  for (const k of keys) out(`${k.padEnd(width)}  ${desc.outputs[k]}`);
  return 0;
}

const ecrHelp = `usage: riots batch ecr-path [options]

Print the ECR repository of the worker image (output BatchECR), e.g. for 'docker push'.

options:
  --main                 the main-job image's repository (BatchECRMain) instead
  --base                 only the registry host, e.g. for 'docker login'
${STACK_HELP}`;

async function runEcrPath(argv: string[]): Promise<number> {
  const o = { ...STACK_OPTIONS, main: { type: 'boolean' }, base: { type: 'boolean' } } as const;
  const parsed = parseOptions(argv, o, ecrHelp);
  if (!parsed) return 0;
  const v = parsed.values;
  const outputs = await getStackOutputs(stackOpts(v));
  const key = v.main === true ? 'BatchECRMain' : 'BatchECR';
  const uri = requireOutput(outputs, key, 'for the image repository path');
  out(v.base === true ? registryHost(uri) : uri);
  return 0;
}

export const outputs: BatchSubcommand = { summary: "print the stack's outputs", help: outputsHelp, run: runOutputs };
export const ecrPath: BatchSubcommand = {
  summary: 'print the ECR repository path of the worker (or --main) image',
  help: ecrHelp,
  run: runEcrPath,
};
