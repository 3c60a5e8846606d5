/**
 * Jobs and tasks as containers (`riots batch local --containers`): `<engine> run` of the image
 * the job or task names, pulled from the endpoint's registry as Batch and ECS pull from ECR, the
 * command appended to the image's ENTRYPOINT, on the host's network (the main's channel port and
 * the endpoint are reached as on AWS), with the job's vCPUs and memory as limits. The environment
 * goes in a file of mode 0600 (no value in any argv). Every container carries the endpoint's
 * labels: stopping a job stops its container, closing the endpoint removes them all, and a new
 * endpoint removes those an endpoint killed before it could (SIGKILL) left behind.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LaunchCallbacks, LaunchSpec, Launcher } from './launch.js';
import { settleWithin } from '../../timeout.js';
import type { Engine } from '../../containerengine.js';

/** A host folder bound into every container at the same path. */
export interface Mount {
  path: string;
  writable: boolean;
}

export interface ContainerLauncherOptions {
  engine: Engine;
  /** Where env files and the registry login go (`jobs/<key>.env`, `registry-auth.json`). */
  stateDir: string;
  /** `host:port` of the endpoint's registry and its Basic credentials. */
  registryHost: string;
  username: string;
  password: string;
  mounts: Mount[];
}

const LABEL = 'riots.local-endpoint.pid';
/** How long an engine command (stop, rm, ps, login) may take. */
const ENGINE_TIMEOUT_MS = 60_000;

/** Bind-mount arguments: `-v DIR:DIR:ro` (or `:rw`). */
export function mountArgs(mounts: readonly Mount[]): string[] {
  return mounts.flatMap((m) => ['-v', `${m.path}:${m.path}:${m.writable ? 'rw' : 'ro'}`]);
}

/** `K=V` lines of an env file; a value with a line break cannot go in one. */
export function envFileText(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => {
      if (/[\r\n]/.test(v) || /[\r\n=]/.test(k)) throw new Error(`environment variable ${k} has a line break or '=' in its name or value`);
      return `${k}=${v}\n`;
    })
    .join('');
}

export class ContainerLauncher implements Launcher {
  readonly kind = 'container';
  private readonly clients = new Map<string, ChildProcess>();
  private readonly exited = new Map<string, Promise<void>>();
  private readonly authFile: string;
  private loggedIn = false;

  constructor(private readonly opts: ContainerLauncherOptions) {
    this.authFile = join(opts.stateDir, 'registry-auth.json');
    removeOrphans(opts.engine);
  }

  private name(key: string): string {
    return `riots-${key}`;
  }

  /** Engine arguments that reach the endpoint's registry: its login, and plain HTTP on loopback (Docker allows that by itself). */
  private registryArgs(): string[] {
    if (this.opts.engine !== 'podman') return [];
    if (!this.loggedIn) {
      const auth = Buffer.from(`${this.opts.username}:${this.opts.password}`).toString('base64');
      writeFileSync(this.authFile, JSON.stringify({ auths: { [this.opts.registryHost]: { auth } } }), { mode: 0o600 });
      this.loggedIn = true;
    }
    return ['--authfile', this.authFile, '--tls-verify=false'];
  }

  /** Docker keeps logins in its own configuration: log in once, the password on stdin. */
  private dockerLogin(): void {
    if (this.opts.engine !== 'docker' || this.loggedIn) return;
    const r = spawnSync('docker', ['login', '--username', this.opts.username, '--password-stdin', this.opts.registryHost], {
      input: this.opts.password,
      timeout: ENGINE_TIMEOUT_MS,
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`docker login to the local registry failed: ${(r.stderr || r.error?.message || '').trim()}`);
    this.loggedIn = true;
  }

  launch(key: string, spec: LaunchSpec, logPath: string, cb: LaunchCallbacks): void {
    if (spec.kind !== 'container') throw new Error('the container launcher runs containers, not processes');
    const envFile = join(this.opts.stateDir, 'jobs', `${key}.env`);
    let args: string[];
    try {
      writeFileSync(envFile, envFileText(spec.env), { mode: 0o600 });
      this.dockerLogin();
      args = [
        'run',
        '--rm',
        '--name',
        this.name(key),
        '--label',
        `${LABEL}=${process.pid}`,
        '--pull',
        'always',
        ...this.registryArgs(),
        '--network',
        'host',
        '--env-file',
        envFile,
        '--cpus',
        String(spec.cpus),
        '--memory',
        `${Math.max(6, Math.floor(spec.memoryMiB))}m`,
        ...mountArgs(this.opts.mounts),
        spec.image,
        ...spec.command,
      ];
    } catch (e) {
      rmSync(envFile, { force: true });
      cb.failed(`CannotStartContainerError: ${(e as Error).message}`);
      return;
    }
    const out = openSync(logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(this.opts.engine, args, { stdio: ['ignore', out, out] });
    } finally {
      closeSync(out);
    }
    this.clients.set(key, child);
    let resolveExit!: () => void;
    this.exited.set(key, new Promise((r) => (resolveExit = r)));
    child.once('spawn', () => cb.started(child.pid!));
    child.once('error', (e) => {
      if (child.pid !== undefined) return;
      this.clients.delete(key);
      rmSync(envFile, { force: true });
      cb.failed(`CannotStartContainerError: cannot run ${this.opts.engine}: ${e.message}`);
      resolveExit();
    });
    child.once('exit', (code, signal) => {
      this.clients.delete(key);
      rmSync(envFile, { force: true });
      const exitCode = code ?? 137;
      // 125: the engine itself failed (the image could not be pulled, the container not made)
      const why = exitCode === 125 ? engineFailure(logPath) : undefined;
      if (why !== undefined) cb.failed(why);
      else cb.exited(exitCode, signal);
      resolveExit();
    });
  }

  has(key: string): boolean {
    return this.clients.has(key);
  }

  /** `<engine> stop`: SIGTERM to the container, SIGKILL after the grace; then removed (--rm). */
  stop(key: string, graceMs: number): void {
    if (!this.clients.has(key)) return;
    const stopper = spawn(this.opts.engine, ['stop', '--time', String(Math.ceil(graceMs / 1000)), this.name(key)], { stdio: 'ignore' });
    stopper.on('error', () => undefined);
    // a container that outlives its grace and the engine's answer is removed by force
    setTimeout(() => {
      if (this.clients.has(key)) this.removeNow([key]);
    }, graceMs + ENGINE_TIMEOUT_MS).unref();
  }

  runningPids(): number[] {
    return [...this.clients.values()].map((c) => c.pid).filter((p): p is number => p !== undefined);
  }

  private removeNow(keys: string[]): void {
    if (keys.length === 0) return;
    spawnSync(this.opts.engine, [...forceRemove(this.opts.engine), ...keys.map((k) => this.name(k))], { stdio: 'ignore', timeout: ENGINE_TIMEOUT_MS });
    for (const k of keys) this.clients.get(k)?.kill('SIGKILL');
  }

  killAll(): void {
    this.removeNow([...this.clients.keys()]);
  }

  /** Remove every container, then the engine's names for images of this registry (its port dies with it; images keep their other names). */
  async close(timeoutMs: number): Promise<void> {
    this.killAll();
    await settleWithin(Promise.all([...this.exited.values()]), timeoutMs);
    rmSync(this.authFile, { force: true });
    const r = spawnSync(this.opts.engine, ['images', '--format', '{{.Repository}}:{{.Tag}}'], { encoding: 'utf8', timeout: ENGINE_TIMEOUT_MS });
    const names = (r.stdout ?? '').split('\n').filter((n) => n.startsWith(`${this.opts.registryHost}/`));
    if (names.length > 0) spawnSync(this.opts.engine, ['rmi', ...names], { stdio: 'ignore', timeout: ENGINE_TIMEOUT_MS });
  }
}

/** `rm` that kills at once (podman would otherwise wait for the container's stop timeout). */
function forceRemove(engine: Engine): string[] {
  return engine === 'podman' ? ['rm', '--force', '--time', '0'] : ['rm', '--force'];
}

/** Why the engine failed, from the last line it wrote to the log, as AWS names it. */
function engineFailure(logPath: string): string | undefined {
  let lines: string[];
  try {
    lines = readFileSync(logPath, 'utf8').trim().split('\n');
  } catch {
    return undefined;
  }
  const last = [...lines].reverse().find((l) => /^(Error|docker:)/.test(l));
  if (last === undefined) return undefined;
  const pull = /pull|manifest|image|initializing source|reading blob/i.test(last);
  return `${pull ? 'CannotPullContainerError' : 'CannotStartContainerError'}: ${last.replace(/^Error:\s*/, '')}`;
}

/** Remove the containers of endpoints that are gone (killed before they could remove them). */
function removeOrphans(engine: Engine): void {
  // Docker's ps has .Label "k"; podman's has only the .Labels map
  const label = engine === 'docker' ? `{{.Label "${LABEL}"}}` : `{{index .Labels "${LABEL}"}}`;
  const r = spawnSync(engine, ['ps', '--all', '--filter', `label=${LABEL}`, '--format', `{{.ID}} ${label}`], {
    encoding: 'utf8',
    timeout: ENGINE_TIMEOUT_MS,
  });
  if (r.status !== 0) return;
  const orphans = r.stdout
    .split('\n')
    .map((l) => l.trim().split(' '))
    .filter(([id, pid]) => id && pid && !alive(Number(pid)))
    .map(([id]) => id!);
  if (orphans.length > 0) spawnSync(engine, [...forceRemove(engine), ...orphans], { stdio: 'ignore', timeout: ENGINE_TIMEOUT_MS });
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
