/**
 * CW_PBS: one PBS batch job per compute worker, submitted with `qsub`, followed with `qstat -f`
 * and stopped with `qdel` — the commands PBS Pro, OpenPBS and Torque share, and that SLURM's
 * Torque wrappers (Debian's slurm-wlm-torque) give a SLURM cluster.
 *
 * Only the PBS commands are here (a {@link Scheduler}); the jobs' scripts, environment, polling
 * and cancelling are hpcjobs.ts's, shared with CW_SLURM. The job script is written to a 0600
 * file in the run's private folder and handed to qsub, which copies it into the job; it runs
 * `initCmds` and then `riots computeworker -i ID ...`, and holds no key. Options go on qsub's
 * command line, not as `#PBS` lines, so that they mean the same under every implementation:
 * `-N riots-<8 hex>` (short enough for PBS's 15-character names), `-o <log> -j oe` (one log per
 * job), `-r n` (riots re-runs a lost worker's blocks itself; a rerun job would come back as a
 * second worker with the same id) and `-V` (the job gets qsub's environment, and with it the key
 * when the run has no shared temporary folder; PBS shows a job's Variable_List to its owner and
 * the administrators only).
 *
 * Jobs are followed by id: one `qstat -f ID ...` for every unended job of the run. A job that
 * qstat no longer knows (PBS Pro forgets finished jobs unless asked for history; Torque keeps
 * them for keep_completed seconds) has ended. A process that exits in the middle of a run runs
 * `qdel` on its unended jobs at 'exit'; a job whose qsub was under way at that moment has no id
 * yet and is left to start, find no main and exit after workerTimeoutSeconds.
 *
 * computeWorkerExtraParams: those of hpcjobs.ts, with the submit options as `qsubOptions`, e.g.
 * '-q short -l walltime=01:00:00 -l select=1:ncpus=2:mem=4gb -A project'. Not -N, -o, -e, -j,
 * -r, -V, -I, -J, -t, -k or -W block=, which riots sets or which would break the run.
 */
import { newRunId } from '../../runid.js';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import type { RunDescription } from '../backend.js';
import type { ComputeBackend } from '../backend.js';
import { SchedulerCommandError, WorkerError } from '../../errors.js';
import { HpcLauncher, hpcExtraParams, hpcSettings, runCommand, type HpcSettings, type JobState, type Scheduler, type SubmitRequest } from './hpc.js';
import { ChannelWorkerBackend } from '../pool/channelbackend.js';

/** qsub options riots sets itself, or that would break a run, and why. */
const RESERVED_OPTIONS: Record<string, string> = {
  '-N': 'riots names the jobs',
  '-o': "use logDir for the jobs' output",
  '-e': "use logDir for the jobs' output",
  '-j': "use logDir for the jobs' output",
  '-k': "use logDir for the jobs' output",
  '-r': 'riots re-runs a lost worker itself',
  '-V': 'the job gets this environment; set more variables with -v or in initCmds',
  '-I': 'workers are batch jobs',
  '-J': 'one job per worker, no arrays',
  '-t': 'one job per worker, no arrays',
};

/** Every computeWorkerExtraParams of CW_PBS. */
export const EXTRA_PARAMS = hpcExtraParams('qsubOptions', 'more `qsub` options, a string (shell quoting) or an array of words');

/** Read the CW_PBS settings of computeWorkerExtraParams. @throws {ControlsError} on a bad value. */
export function pbsSettings(extra: Readonly<Record<string, unknown>>): HpcSettings {
  return hpcSettings(extra, 'qsubOptions', (w) => {
    if (/^(-W\s*)?block=/i.test(w)) return 'may not set -W block: qsub would wait for each job to end';
    const why = w.startsWith('-') ? RESERVED_OPTIONS[w.slice(0, 2)] : undefined;
    return why === undefined ? undefined : `may not set ${w.slice(0, 2)}: riots sets it (${why})`;
  });
}

/** PBS job states (one letter) in words. */
const STATE_WORDS: Record<string, string> = {
  Q: 'queued',
  H: 'held',
  W: 'waiting for its start time',
  T: 'being moved',
  R: 'running',
  E: 'exiting',
  S: 'suspended',
  U: 'suspended, or unknown',
  B: 'array begun',
  M: 'moved to another server',
  C: 'completed',
  F: 'finished',
  X: 'finished',
};

/** One job of `qstat -f`: its id and attributes (names as PBS spells them). */
export interface QstatJob {
  id: string;
  attrs: Record<string, string>;
}

/**
 * Parse `qstat -f` output: a `Job Id: ID` line per job, then indented `name = value` lines;
 * a long value continues on lines that start with a tab and have no ` = ` of their own.
 */
export function parseQstatFull(text: string): QstatJob[] {
  const jobs: QstatJob[] = [];
  let cur: QstatJob | undefined;
  let last: string | undefined;
  for (const line of text.split('\n')) {
    const head = /^Job Id:\s*(\S+)/.exec(line);
    if (head) {
      cur = { id: head[1]!, attrs: {} };
      jobs.push(cur);
      last = undefined;
      continue;
    }
    if (!cur) continue;
    const attr = /^\s+([A-Za-z_][\w.]*) = ?(.*)$/.exec(line);
    if (attr) {
      last = attr[1]!;
      cur.attrs[last] = attr[2]!.trimEnd();
    } else if (last !== undefined && /^\t/.test(line)) {
      cur.attrs[last] += line.trim();
    }
  }
  return jobs;
}

/** The state of one job from its qstat attributes. */
export function pbsJobState(attrs: Readonly<Record<string, string>>): JobState {
  const code = (attrs.job_state ?? '?').trim().slice(0, 1).toUpperCase();
  const words = STATE_WORDS[code];
  const ended = code === 'C' || code === 'F' || code === 'X';
  const exit = attrs.Exit_status ?? attrs.exit_status;
  const reason = [attrs.comment?.trim(), ended && exit !== undefined ? `exit status ${exit.trim()}` : undefined].filter((x): x is string => !!x).join('; ');
  return { state: words ? `${code} (${words})` : code, reason, running: code === 'R' || code === 'E', ended };
}

/** The sequence number of a PBS job id ("1234.server" and "1234" are the same job). */
const seqOf = (id: string): string => id.split('.')[0]!;

/** What qdel and qstat say of a job that has already ended: not an error for us. */
const GONE = /unknown job id|has finished|already complet|job has been deleted|invalid state for job|request invalid for state of job/i;

/**
 * A qdel that failed because the job had already ended: PBS says so; SLURM's wrapper says
 * nothing and exits 1. Anything else is a real failure.
 */
function alreadyGone(exitCode: number | undefined, said: string): boolean {
  return GONE.test(said) || (exitCode !== undefined && said.trim() === '');
}

/** qsub, qstat -f, qdel. */
export const PBS: Scheduler = {
  kind: 'CW_PBS',
  name: 'PBS',
  // PBS (and Torque before 2.5) cut job names at 15 characters
  jobName: (runId) => `riots-${runId.split('-').pop()!.slice(0, 8)}`,

  async submit(r: SubmitRequest): Promise<string> {
    await fs.writeFile(r.scriptFile, r.script, { mode: 0o600 });
    const args = ['-N', r.jobName, '-o', r.logFile, '-j', 'oe', '-r', 'n', '-V', ...r.options, r.scriptFile];
    const out = await runCommand('qsub', args, { env: r.env, timeoutMs: r.timeoutMs, what: 'PBS' });
    // "1234.server" (PBS Pro, Torque) or "1234" (SLURM's wrapper): the last word printed
    const jobId = out.trim().split(/\s+/).pop() ?? '';
    if (!/^\d+(\[\d*\])?(\.[\w.-]+)?$/.test(jobId))
      throw new WorkerError(`qsub gave no job id (it printed: ${out.trim().slice(0, 200)})`, { workerId: r.workerId });
    return jobId;
  },

  async query(ids, _jobName, timeoutMs): Promise<Map<string, JobState>> {
    let out: string;
    try {
      out = await runCommand('qstat', ['-f', ...ids], { timeoutMs, what: 'PBS' });
    } catch (err) {
      // some of the jobs unknown (153: PBSE_UNKJOBID) or finished (35, PBS Pro): the others are still listed
      if (!(err instanceof SchedulerCommandError) || !(err.exitCode === 153 || err.exitCode === 35 || GONE.test(err.stderr))) throw err;
      out = err.stdout;
    }
    const listed = parseQstatFull(out);
    const seen = new Map<string, JobState>();
    for (const id of ids) {
      const j = listed.find((x) => x.id === id) ?? listed.find((x) => seqOf(x.id) === seqOf(id));
      if (j) seen.set(id, pbsJobState(j.attrs));
    }
    return seen;
  },

  async cancel(id, timeoutMs): Promise<void> {
    try {
      await runCommand('qdel', [id], { timeoutMs, what: 'PBS' });
    } catch (err) {
      if (err instanceof SchedulerCommandError && alreadyGone(err.exitCode, `${err.stdout} ${err.stderr}`)) return;
      throw err;
    }
  },

  cancelAtExit(ids, jobName, timeoutMs) {
    const manual = `qselect -N ${jobName} | xargs qdel`;
    if (ids.length === 0) return { ok: false, how: 'a qsub was under way: its job has no id yet', manual };
    const failed: string[] = [];
    for (const id of ids) {
      const r = spawnSync('qdel', [id], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
      if (r.status !== 0 && !(r.status !== null && alreadyGone(r.status, `${r.stdout} ${r.stderr}`)))
        failed.push(`${id}: ${r.error ? r.error.message : (r.stderr || r.stdout).trim() || `exit code ${r.status}`}`);
    }
    return { ok: failed.length === 0, how: failed.length === 0 ? `qdel ${ids.join(' ')}` : `qdel ${failed.join('; ')}`, manual };
  },

  lookCommand: (id) => `qstat -f ${id}`,
};

/** Entry point for src/workers/index.ts. Nothing is submitted before start(). */
export async function createBackend(run: RunDescription): Promise<ComputeBackend> {
  const s = pbsSettings(run.concurrency.computeWorkerExtraParams);
  return new ChannelWorkerBackend(
    run,
    new HpcLauncher(PBS, s, { haveSharedTemp: run.concurrency.haveSharedTemp, runId: newRunId(run.controls.global.jobName) }),
  );
}
