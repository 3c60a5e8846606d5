/**
 * CW_SLURM: one SLURM batch job per compute worker, submitted with `sbatch`, followed with
 * `squeue` and stopped with `scancel`.
 *
 * Only the SLURM commands are here (a {@link Scheduler}); the jobs' scripts, environment, polling
 * and cancelling are hpcjobs.ts's, shared with CW_PBS, and scheduling, the channel, re-queueing
 * of lost workers' blocks and the barrier are the shared channel backend's (remote.ts). Each job
 * runs a small script, given to sbatch on its standard input, that runs `initCmds` and then
 * `riots computeworker -i ID ...`: by default the node and riots this process runs (absolute
 * paths, as on a cluster whose software lives on a shared file system), or `workerCommand`.
 *
 * Every job of a run has the same name, `riots-<run id>`, so one `squeue` follows them all and
 * `scancel --name` finds them. Jobs are submitted with --no-requeue: riots re-runs a lost worker's
 * blocks itself, and a requeued job would come back as a second worker with the same id. A
 * process that exits in the middle of a run (an uncaught exception elsewhere, process.exit())
 * cancels its unended jobs with `scancel` at 'exit', so no pending job starts later to wait for a
 * main that is gone. SIGKILL of the main leaves running jobs to their worker timeout and pending
 * ones to start and time out (a few seconds each).
 *
 * computeWorkerExtraParams: those of hpcjobs.ts, with the submit options as `sbatchOptions`,
 * e.g. '--partition=short --time=01:00:00 --mem=4G'. Not --job-name, --output, --error, --array,
 * --wrap, --parsable or --export, which riots sets.
 */
import { newRunId } from '../../runid.js';
import { spawnSync } from 'node:child_process';
import type { RunDescription } from '../backend.js';
import type { ComputeBackend } from '../backend.js';
import { WorkerError } from '../../errors.js';
import { HpcLauncher, hpcExtraParams, hpcSettings, runCommand, type HpcSettings, type JobState, type Scheduler, type SubmitRequest } from './hpc.js';
import { ChannelWorkerBackend } from '../pool/channelbackend.js';

/** sbatch options riots sets itself. */
const RESERVED_OPTIONS = ['-J', '--job-name', '-o', '--output', '-e', '--error', '-a', '--array', '--wrap', '--parsable', '--export'];

/** Every computeWorkerExtraParams of CW_SLURM. */
export const EXTRA_PARAMS = hpcExtraParams('sbatchOptions', 'more `sbatch` options, a string (shell quoting) or an array of words');

/** Read the CW_SLURM settings of computeWorkerExtraParams. @throws {ControlsError} on a bad value. */
export function slurmSettings(extra: Readonly<Record<string, unknown>>): HpcSettings {
  return hpcSettings(extra, 'sbatchOptions', (w) => {
    const name = w.startsWith('--') ? w.split('=')[0]! : w.slice(0, 2);
    if (!RESERVED_OPTIONS.includes(name)) return undefined;
    const hint =
      name === '--export'
        ? ' (the job gets this environment; set more variables in initCmds)'
        : name === '-o' || name === '--output' || name === '-e' || name === '--error'
          ? " (use logDir for the jobs' output)"
          : '';
    return `may not set ${name}: riots sets it${hint}`;
  });
}

/** Job states after which nothing of the job runs any more. */
const ENDED_STATES = new Set([
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'NODE_FAIL',
  'PREEMPTED',
  'OUT_OF_MEMORY',
  'BOOT_FAIL',
  'DEADLINE',
  'REVOKED',
  'SPECIAL_EXIT',
]);

/** sbatch, squeue, scancel. Every job of a run has the run's name, so one squeue follows them all. */
export const SLURM: Scheduler = {
  kind: 'CW_SLURM',
  name: 'SLURM',
  jobName: (runId) => runId,

  async submit(r: SubmitRequest): Promise<string> {
    const args = [...r.options, '--parsable', `--job-name=${r.jobName}`, `--output=${r.logFile}`, '--no-requeue', '--export=ALL'];
    const out = await runCommand('sbatch', args, { input: r.script, env: r.env, timeoutMs: r.timeoutMs, what: 'SLURM' });
    // --parsable: "jobid" or "jobid;cluster"
    const jobId = out.trim().split('\n').pop()!.split(';')[0]!.trim();
    if (!/^\d+$/.test(jobId)) throw new WorkerError(`sbatch gave no job id (it printed: ${out.trim().slice(0, 200)})`, { workerId: r.workerId });
    return jobId;
  },

  async query(_ids, jobName, timeoutMs): Promise<Map<string, JobState>> {
    const out = await runCommand('squeue', ['--noheader', '--states=all', `--name=${jobName}`, '--format=%i|%T|%r'], { timeoutMs, what: 'SLURM' });
    const seen = new Map<string, JobState>();
    for (const line of out.split('\n')) {
      const [id, state, reason] = line.trim().split('|');
      if (id && state)
        seen.set(id, { state, reason: reason === undefined || reason === 'None' ? '' : reason, running: state === 'RUNNING', ended: ENDED_STATES.has(state) });
    }
    return seen;
  },

  async cancel(id, timeoutMs): Promise<void> {
    await runCommand('scancel', [id], { timeoutMs, what: 'SLURM' });
  },

  cancelAtExit(_ids, jobName, timeoutMs) {
    // by name: also a job whose sbatch was under way, which has no id here yet
    const r = spawnSync('scancel', [`--name=${jobName}`], { stdio: 'ignore', timeout: timeoutMs, killSignal: 'SIGKILL' });
    return {
      ok: r.status === 0,
      how: r.status === 0 ? `scancel --name=${jobName}` : `scancel ${r.error ? r.error.message : `exit code ${r.status}`}`,
      manual: `scancel --name=${jobName}`,
    };
  },

  lookCommand: (id) => `squeue -j ${id}`,
};

/** Entry point for src/workers/index.ts. Nothing is submitted before start(). */
export async function createBackend(run: RunDescription): Promise<ComputeBackend> {
  const s = slurmSettings(run.concurrency.computeWorkerExtraParams);
  return new ChannelWorkerBackend(
    run,
    new HpcLauncher(SLURM, s, { haveSharedTemp: run.concurrency.haveSharedTemp, runId: newRunId(run.controls.global.jobName) }),
  );
}
