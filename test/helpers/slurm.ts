/**
 * Helpers for the CW_SLURM and CW_PBS tests: the one-node SLURM cluster of test/slurm/start.sh
 * (CW_PBS talks to it through SLURM's Torque wrappers, qsub/qstat/qdel), the state of a run's
 * jobs as squeue and qstat report them, and controls for the runs.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseQstatFull } from '../../src/workers/kinds/pbs.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Start (or find) the local SLURM cluster and point this process's SLURM clients at it. */
export function startSlurm(): string {
  const conf = execFileSync('bash', [path.join(ROOT, 'test', 'slurm', 'start.sh')], { encoding: 'utf8', timeout: 60_000 }).trim();
  process.env.SLURM_CONF = conf;
  return conf;
}

/** State of each job called `name` (every job of one riots run), by job id. */
export function jobStates(name: string): Map<string, string> {
  const out = execFileSync('squeue', ['--noheader', '--states=all', `--name=${name}`, '--format=%i|%T'], { encoding: 'utf8' });
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [id, state] = line.trim().split('|');
    if (id && state) m.set(id, state);
  }
  return m;
}

/** The job name of a run whose 'launched' events gave these job ids. */
export function jobNameOf(jobId: string): string {
  const out = execFileSync('squeue', ['--noheader', '--states=all', `--jobs=${jobId}`, '--format=%j'], { encoding: 'utf8' });
  return out.trim();
}

/** The script SLURM keeps for a job. */
export function batchScript(jobId: string): string {
  return execFileSync('scontrol', ['write', 'batch_script', jobId, '-'], { encoding: 'utf8' });
}

/** Pids of running `riots computeworker` processes. */
export function workerPids(): number[] {
  try {
    return execFileSync('pgrep', ['-f', 'cli/main\\.[jt]s computeworker'], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when there are none
  }
}

type HpcControlOpts = { read?: boolean; shared?: boolean; extra?: Record<string, unknown>; barrier?: number; single?: boolean };

/** Controls for a CW_SLURM or CW_PBS run in blocks of 64, with short polls, heartbeats and waits. */
export function hpcControls(kind: 'CW_SLURM' | 'CW_PBS', n: number, opts: HpcControlOpts = {}): Record<string, unknown> {
  return {
    windowXSize: 64,
    windowYSize: 64,
    concurrency: {
      computeWorkerKind: kind,
      ...(opts.single ? { singleBlockComputeWorkers: true } : { numComputeWorkers: n }),
      computeWorkersRead: opts.read ?? false,
      // the main reads for workers that do not read (RIOS refuses 0 read workers then)
      ...(opts.read || opts.single ? {} : { numReadWorkers: 1 }),
      haveSharedTemp: opts.shared ?? true,
      computeBarrierTimeout: opts.barrier ?? 60,
      computeWorkerExtraParams: { heartbeatSeconds: 0.5, workerLostSeconds: 3, pollSeconds: 0.5, jobEndGraceSeconds: 3, cancelWaitSeconds: 30, ...opts.extra },
    },
  };
}

export function slurmControls(n: number, opts: HpcControlOpts = {}): Record<string, unknown> {
  return hpcControls('CW_SLURM', n, opts);
}

/** The job state letter and attributes of each of these PBS jobs, as the real `qstat -f` gives them. */
export function qstatJobs(ids: string[]): Map<string, Record<string, string>> {
  const r = spawnSync('qstat', ['-f', ...ids], { encoding: 'utf8' });
  const m = new Map<string, Record<string, string>>();
  for (const j of parseQstatFull(r.stdout)) m.set(j.id, j.attrs);
  return m;
}
