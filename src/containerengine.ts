/**
 * The container engine that builds, pushes and runs riots' images: Docker when its engine
 * answers, else podman (which needs no daemon: Debian's builds and runs images as root), or the
 * one the user names. Both are run as CLI child processes with the same verbs (build, tag,
 * login --password-stdin, push, run, rm); where they differ, the caller asks {@link Engine}.
 */
import { spawn } from 'node:child_process';
import { RiotsError, TimeoutError, UsageError } from './errors.js';

export const ENGINES = ['docker', 'podman'] as const;
export type Engine = (typeof ENGINES)[number];

/** How long `<engine> info` may take to say whether an engine answers. */
const INFO_TIMEOUT_MS = 30_000;

export interface EngineResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run `<engine> args…`. Output is shown (inherited) unless `capture`; `input` is written to its
 * stdin (a password never goes on the command line). Rejects with a RiotsError when the command
 * cannot be started, and a TimeoutError naming the command after `timeoutMs`.
 */
export function runEngine(engine: Engine, args: string[], opts: { capture?: boolean; input?: string; timeoutMs?: number } = {}): Promise<EngineResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(engine, args, {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', opts.capture ? 'pipe' : 'inherit', opts.capture ? 'pipe' : 'inherit'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(
        e.code === 'ENOENT'
          ? new RiotsError(`no ${engine}: the '${engine}' command is not on PATH`, { cause: e })
          : new RiotsError(`cannot run ${engine}: ${e.message}`, { cause: e }),
      );
    });
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            child.kill('SIGKILL');
            reject(new TimeoutError(`'${engine} ${args.join(' ')}' did not answer within ${opts.timeoutMs! / 1000} s`));
          }, opts.timeoutMs);
    child.on('close', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** How long quick engine steps (login, tag) may take. */
export const QUICK_STEP_MS = 120_000;

/**
 * Run the engine (its output shown) and fail with a RiotsError naming the step when it exits
 * non-zero, or a TimeoutError naming it when it runs longer than `timeoutMs`.
 */
export async function engineStep(engine: Engine, what: string, args: string[], opts: { input?: string; timeoutMs: number }): Promise<void> {
  let r: EngineResult;
  try {
    r = await runEngine(engine, args, opts);
  } catch (e) {
    if (e instanceof TimeoutError)
      throw new TimeoutError(`${what}: stopped after ${opts.timeoutMs / 1000} s ('${engine} ${args[0]}' was still running)`, { cause: e });
    throw e;
  }
  if (r.code !== 0) throw new RiotsError(`${what} failed: '${engine} ${args[0]}' exited with code ${r.code}`);
}

/** Why `<engine> info` does not answer, or undefined when it does. */
async function notAnswering(engine: Engine): Promise<string | undefined> {
  try {
    const r = await runEngine(engine, ['info'], { capture: true, timeoutMs: INFO_TIMEOUT_MS });
    if (r.code === 0) return undefined;
    const why = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-2).join(' / ');
    return `'${engine} info' failed (exit ${r.code})${why ? `: ${why}` : ''}`;
  } catch (e) {
    return (e as Error).message;
  }
}

/** The engine named (checked), else $RIOTS_CONTAINER_ENGINE, else Docker when it answers, else podman. */
export async function chooseEngine(given?: string): Promise<Engine> {
  const named = given ?? (process.env.RIOTS_CONTAINER_ENGINE || undefined);
  if (named !== undefined) {
    if (!(ENGINES as readonly string[]).includes(named)) throw new UsageError(`the container engine must be ${ENGINES.join(' or ')}, not '${named}'`);
    const why = await notAnswering(named as Engine);
    if (why !== undefined) {
      throw new RiotsError(
        `no ${named} engine: ${why}. ` +
          (named === 'docker' ? 'Start Docker, or check DOCKER_HOST / your docker group.' : 'Install podman (Debian: apt-get install podman runc).'),
      );
    }
    return named as Engine;
  }
  const reasons: string[] = [];
  for (const e of ENGINES) {
    const why = await notAnswering(e);
    if (why === undefined) return e;
    reasons.push(why);
  }
  throw new RiotsError(
    `no container engine: ${reasons.join('; ')}. Building and running images needs Docker with a running engine, or podman (Debian: apt-get install podman runc).`,
  );
}
