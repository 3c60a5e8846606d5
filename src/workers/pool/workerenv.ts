/**
 * How a `riots computeworker` process is started, the same for every kind that starts one on a
 * machine with riots installed (CW_SUBPROC here, CW_SLURM and CW_PBS on a cluster's nodes): the
 * command that runs the riots this process runs, and the environment it gets — glibc's malloc
 * tuned for block-sized buffers, its own temporary folder, and the channel key only when it does
 * not come in the address file (it never appears in argv).
 */
import path from 'node:path';
import { riotsTree } from '../../packageroot.js';
import { CHANNEL_KEY_ENV } from '../channel/address.js';
import { WORKER_TMPDIR_ENV } from '../worker/computeworker.js';
import { GLIBC_TUNABLES_ENV, withWorkerMallocTunables } from './malloc.js';
import { uvPoolSizeFor } from '../../reader/readpool.js';
import type { RunDescription } from '../backend.js';

/** node arguments that run `riots` from the same tree as this process (src/ under tsx, or dist/). */
export function riotsNodeArgs(): string[] {
  const { root, ext } = riotsTree();
  if (ext === '.ts') return ['--import', import.meta.resolve('tsx'), path.join(root, 'src', 'cli', 'main.ts')];
  return [path.join(root, 'dist', 'cli', 'main.js')];
}

/**
 * The environment of a worker process: this process's, with malloc settings for workers, the
 * launch's own variables (`launchEnv`: the key when there is no address file), and `tmpDir` for
 * its temporary files when given. A key this process happens to have is never passed on unless
 * the launch asks for it.
 */
export function workerProcessEnv(launchEnv: Readonly<Record<string, string>>, tmpDir: string | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    [GLIBC_TUNABLES_ENV]: withWorkerMallocTunables(process.env[GLIBC_TUNABLES_ENV]),
    ...launchEnv,
    ...(tmpDir !== undefined ? { [WORKER_TMPDIR_ENV]: tmpDir } : {}),
  };
  if (!(CHANNEL_KEY_ENV in launchEnv)) delete env[CHANNEL_KEY_ENV];
  return env;
}

/**
 * What a worker that reads with `numReadWorkers` n > 1 needs in its environment: libuv threads
 * for n reads of every input at once (UV_THREADPOOL_SIZE, read by libuv before any of riots'
 * code runs in the worker, so it can only come from the launch). A larger value of this process
 * is kept; a kind's own environment setting (jobEnvironment, taskEnvironment) wins over both.
 */
export function workerReadEnv(run: Pick<RunDescription, 'concurrency' | 'inRefs'>): Record<string, string> {
  const c = run.concurrency;
  if (!c.computeWorkersRead || c.numReadWorkers <= 1) return {};
  const want = Math.max(uvPoolSizeFor(c.numReadWorkers, run.inRefs.length), Number(process.env.UV_THREADPOOL_SIZE) || 0);
  return { UV_THREADPOOL_SIZE: String(want) };
}
