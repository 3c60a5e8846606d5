/**
 * Helpers for tests against the local AWS endpoint: SDK clients pointed at it, polling with a
 * deadline (the message says what was awaited), and process liveness (zombies count as dead).
 */
import { readFileSync } from 'node:fs';
import { BatchClient } from '@aws-sdk/client-batch';
import { CloudFormationClient, CreateStackCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ECRClient } from '@aws-sdk/client-ecr';
import { ECSClient } from '@aws-sdk/client-ecs';

export function clients(url: string, region: string) {
  const cfg = { endpoint: url, region, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
  return { cfn: new CloudFormationClient(cfg), batch: new BatchClient(cfg), ecr: new ECRClient(cfg), ec2: new EC2Client(cfg), ecs: new ECSClient(cfg) };
}

/** Call `probe` until `done` says yes; fails after `timeoutMs` naming `what`. */
export async function waitFor<T>(what: string, probe: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 20000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await probe();
    if (done(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Create the stack of aws/batch.yaml on a local endpoint (through the SDK, with CAPABILITY_IAM)
 * and wait for CREATE_COMPLETE; returns its outputs by key.
 */
export async function createBatchStack(
  endpoint: { url: string; region: string },
  stackName = 'RIOS',
  parameters: Record<string, string> = {},
): Promise<Record<string, string>> {
  const { cfn } = clients(endpoint.url, endpoint.region);
  const body = readFileSync(new URL('../../aws/batch.yaml', import.meta.url), 'utf8');
  await cfn.send(
    new CreateStackCommand({
      StackName: stackName,
      TemplateBody: body,
      Capabilities: ['CAPABILITY_IAM'],
      Parameters: Object.entries(parameters).map(([ParameterKey, ParameterValue]) => ({ ParameterKey, ParameterValue })),
    }),
  );
  const stack = await waitFor(
    `stack ${stackName} to reach CREATE_COMPLETE`,
    async () => (await cfn.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks![0]!,
    (s) => s.StackStatus !== 'CREATE_IN_PROGRESS',
    30000,
  );
  if (stack.StackStatus !== 'CREATE_COMPLETE') throw new Error(`stack ${stackName} ended ${stack.StackStatus}: ${stack.StackStatusReason ?? ''}`);
  return Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey!, o.OutputValue!]));
}

/** True while the process exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
