/**
 * Helpers for the CW_AWSBATCH tests: point the SDK at a local endpoint through the environment
 * (as a user would), controls for a Batch run, and the jobs of a run as the endpoint reports them.
 */
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DescribeJobsCommand, ListJobsCommand, type BatchClient, type JobDetail } from '@aws-sdk/client-batch';
import type { LocalAws } from '../../src/aws/local/server.js';
import { RUN_ID_TAG } from '../../src/aws/stack.js';

const SDK_ENV = ['AWS_ENDPOINT_URL', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'RIOS_AWSBATCH_STACK', 'RIOS_AWSBATCH_REGION', 'AWS_PROFILE'];

/** Set the SDK environment for `aws`; returns a function that restores the previous values. */
export function useEndpointEnv(aws: LocalAws): () => void {
  const saved = Object.fromEntries(SDK_ENV.map((k) => [k, process.env[k]]));
  for (const k of SDK_ENV) delete process.env[k];
  Object.assign(process.env, aws.env);
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

export function batchControls(n: number, extra: Record<string, unknown> = {}, concurrency: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    windowXSize: 64,
    windowYSize: 64,
    concurrency: {
      computeWorkerKind: 'CW_AWSBATCH',
      numComputeWorkers: n,
      computeBarrierTimeout: 60,
      ...concurrency,
      computeWorkerExtraParams: { channelAddress: '127.0.0.1', heartbeatSeconds: 0.5, workerLostSeconds: 4, pollSeconds: 0.5, ...extra },
    },
  };
}

export async function describeJobs(batch: BatchClient, ids: string[]): Promise<JobDetail[]> {
  if (ids.length === 0) return [];
  return (await batch.send(new DescribeJobsCommand({ jobs: ids }))).jobs ?? [];
}

const ACTIVE = ['SUBMITTED', 'PENDING', 'RUNNABLE', 'STARTING', 'RUNNING'] as const;

/** Jobs of `queue` still active (ListJobs per active status), with their run id tag. */
export async function activeJobs(batch: BatchClient, queue: string): Promise<{ jobId: string; status: string; runId: string | undefined }[]> {
  const ids: string[] = [];
  for (const jobStatus of ACTIVE) {
    const res = await batch.send(new ListJobsCommand({ jobQueue: queue, jobStatus }));
    for (const j of res.jobSummaryList ?? []) ids.push(j.jobId!);
  }
  return (await describeJobs(batch, ids)).map((d) => ({ jobId: d.jobId!, status: String(d.status), runId: d.tags?.[RUN_ID_TAG] }));
}

/** Job ids named in the 'launched' events' handles ("job <id>"). */
export function jobIdsOf(handles: string[]): string[] {
  return handles.map((h) => /^job (\S+)$/.exec(h)![1]!);
}

/**
 * A user's main project for `submit-main`: main.ts (an apply() with CW_AWSBATCH) and fn.ts (its
 * user function), both importing 'riots'; a Dockerfile.main that copies them into /app and makes
 * `node --import tsx /app/main.ts` the ENTRYPOINT. `riots` resolves through node_modules/riots: a
 * stand-in for the installed package that re-exports this checkout's sources (there is no build
 * in the tests); the other packages are links to the checkout's node_modules.
 */
export function writeMainProject(dir: string, root: string): { dockerfile: string; fnModule: string } {
  mkdirSync(path.join(dir, 'node_modules', 'riots'), { recursive: true });
  for (const n of readdirSync(path.join(root, 'node_modules'))) {
    if (n !== 'riots' && !n.startsWith('.')) symlinkSync(path.join(root, 'node_modules', n), path.join(dir, 'node_modules', n));
  }
  writeFileSync(path.join(dir, 'node_modules', 'riots', 'package.json'), JSON.stringify({ name: 'riots', type: 'module', exports: { '.': './index.ts' } }));
  writeFileSync(path.join(dir, 'node_modules', 'riots', 'index.ts'), `export * from '${path.join(root, 'src', 'index.ts')}';\n`);
  writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}\n');
  writeFileSync(
    path.join(dir, 'fn.ts'),
    `import { Block, defineUserFunction } from 'riots';
export const diff = defineUserFunction(import.meta.url, (info, inputs: any, outputs: any) => {
  const a = inputs.a as Block;
  const b = inputs.b as Block;
  const out = new Block('Float32', 1, a.rows, a.cols);
  for (let i = 0; i < out.data.length; i++) out.data[i] = a.data[i]! * 2 - b.data[i]! + info.block.index;
  outputs.out = out;
}, 'diff');
`,
  );
  writeFileSync(
    path.join(dir, 'main.ts'),
    `import { apply } from 'riots';
import { diff } from './fn.ts';
const [a, b, out] = process.argv.slice(2);
const r = await apply(diff, { a: a!, b: b! }, { out: out! }, {
  controls: { windowXSize: 64, windowYSize: 64, concurrency: { computeWorkerKind: 'CW_AWSBATCH', numComputeWorkers: 2, computeBarrierTimeout: 120 } },
});
console.log('main done: ' + r.blocks + ' blocks, ' + r.workerTimings.size + ' workers');
`,
  );
  const dockerfile = path.join(dir, 'Dockerfile.main');
  writeFileSync(
    dockerfile,
    'FROM riots\nWORKDIR /app\nCOPY main.ts /app/main.ts\nCOPY fn.ts /app/fn.ts\nENTRYPOINT ["node", "--import", "tsx", "/app/main.ts"]\n',
  );
  return { dockerfile, fnModule: path.join(dir, 'fn.ts') };
}
