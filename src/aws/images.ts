/**
 * Building and pushing the worker and main images with the docker CLI, and logging in to ECR.
 *
 * The docker CLI is run as a child process; the ECR password goes to `docker login` on its stdin,
 * never on its command line.
 */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { AwsError, RiotsError, TimeoutError } from '../errors.js';
import { awsCall, ecr } from './clients.js';

/** Local tag of the worker image (the main image's Dockerfile starts FROM it). */
export const WORKER_TAG = 'riots';
/** Local tag of a main image. */
export const MAIN_TAG = 'riots-main';
export const PLATFORMS = ['linux/amd64', 'linux/arm64'] as const;
/** How long `docker info` may take to say whether an engine answers. */
const DOCKER_INFO_TIMEOUT_MS = 30_000;

export interface BuildOptions {
  /** Build the user's main image instead of the worker image. */
  main: boolean;
  /** Main image Dockerfile (default Dockerfile.main in `cwd`). */
  dockerfile?: string | undefined;
  /** Build for this platform with buildx. */
  platform?: string | undefined;
  extraPackages: string;
  npmPackages: string;
  /** The riots package root (worker build context). */
  packageRoot: string;
  /** The main build context. */
  cwd: string;
}

/** The registry host of a repository URI: everything before the first '/'. */
export function registryHost(uri: string): string {
  const i = uri.indexOf('/');
  return i < 0 ? uri : uri.slice(0, i);
}

/** The arguments of `docker` that build the image (pure). */
export function buildArgs(o: BuildOptions): string[] {
  const head = o.platform ? ['buildx', 'build', '--platform', o.platform, '--load'] : ['build'];
  if (o.main) {
    const file = resolve(o.cwd, o.dockerfile ?? 'Dockerfile.main');
    const args = [...head, '-f', file, '-t', MAIN_TAG];
    // The main Dockerfile may declare these ARGs too; pass them only when they were given.
    if (o.extraPackages) args.push('--build-arg', `EXTRA_PACKAGES=${o.extraPackages}`);
    if (o.npmPackages) args.push('--build-arg', `NPM_PACKAGES=${o.npmPackages}`);
    return [...args, o.cwd];
  }
  return [
    ...head,
    '-f',
    join(o.packageRoot, 'aws', 'Dockerfile'),
    '-t',
    WORKER_TAG,
    '--build-arg',
    `EXTRA_PACKAGES=${o.extraPackages}`,
    '--build-arg',
    `NPM_PACKAGES=${o.npmPackages}`,
    o.packageRoot,
  ];
}

interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run `docker args…`. Output is shown (inherited) unless `capture`; `input` is written to its
 * stdin. Rejects with a RiotsError when docker cannot be started at all.
 */
export function docker(args: string[], opts: { capture?: boolean; input?: string; timeoutMs?: number } = {}): Promise<DockerResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('docker', args, {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', opts.capture ? 'pipe' : 'inherit', opts.capture ? 'pipe' : 'inherit'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(
        e.code === 'ENOENT'
          ? new RiotsError("no Docker: the 'docker' command is not on PATH. build-image needs Docker with a running engine.", { cause: e })
          : new RiotsError(`cannot run docker: ${e.message}`, { cause: e }),
      );
    });
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            child.kill('SIGKILL');
            reject(new TimeoutError(`'docker ${args.join(' ')}' did not answer within ${opts.timeoutMs! / 1000} s`));
          }, opts.timeoutMs);
    child.on('close', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Run docker and fail with a RiotsError naming the step when it exits non-zero. */
export async function dockerStep(what: string, args: string[], input?: string): Promise<void> {
  const r = await docker(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new RiotsError(`${what} failed: 'docker ${args[0]}' exited with code ${r.code}`);
}

/**
 * Make sure a Docker engine answers (`docker info`), before anything else is done.
 * @throws RiotsError saying there is no docker command, or no engine behind it.
 */
export async function checkDockerEngine(): Promise<void> {
  const r = await docker(['info'], { capture: true, timeoutMs: DOCKER_INFO_TIMEOUT_MS }).catch((e: unknown) => {
    if (e instanceof TimeoutError) {
      throw new RiotsError(`no Docker engine: ${e.message} (is DOCKER_HOST reachable?)`, { cause: e });
    }
    throw e;
  });
  if (r.code !== 0) {
    const why = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-2).join(' / ');
    throw new RiotsError(
      `no Docker engine: 'docker info' failed (exit ${r.code})${why ? `: ${why}` : ''}. ` +
        'build-image needs a running Docker engine (start Docker, or check DOCKER_HOST / your docker group).',
    );
  }
}

/** ECR GetAuthorizationToken, decoded: `AWS:<password>` -> {username, password}. */
export async function ecrCredentials(region: string | undefined): Promise<{ username: string; password: string }> {
  const { sdk, client } = await ecr(region);
  const res = await awsCall('ECR GetAuthorizationToken', () => client.send(new sdk.GetAuthorizationTokenCommand({})));
  const token = res.authorizationData?.[0]?.authorizationToken;
  if (!token) throw new AwsError('ECR GetAuthorizationToken returned no token');
  const text = Buffer.from(token, 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i <= 0) throw new AwsError('ECR GetAuthorizationToken returned a token that is not user:password');
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}

/** `docker login` to the registry of `repositoryUri`, with the password on stdin. */
export async function ecrLogin(region: string | undefined, repositoryUri: string): Promise<void> {
  const { username, password } = await ecrCredentials(region);
  const host = registryHost(repositoryUri);
  await dockerStep(`docker login to ${host}`, ['login', '--username', username, '--password-stdin', host], password);
}

/** Tag the local image as `<repositoryUri>:latest` and push it. */
export async function pushImage(localTag: string, repositoryUri: string): Promise<string> {
  const remote = `${repositoryUri}:latest`;
  await dockerStep(`docker tag ${localTag} ${remote}`, ['tag', localTag, remote]);
  await dockerStep(`docker push ${remote}`, ['push', remote]);
  return remote;
}

/** `<account>.dkr.ecr.<region>.amazonaws.com/<name>` -> registry id (account) and repository name. */
export function parseRepositoryUri(uri: string): { registryId?: string; repositoryName: string } {
  const slash = uri.indexOf('/');
  if (slash < 0) return { repositoryName: uri };
  const host = uri.slice(0, slash);
  const account = /^(\d{12})\./.exec(host)?.[1];
  const name = uri.slice(slash + 1).replace(/:[^/]*$/, '');
  return account ? { registryId: account, repositoryName: name } : { repositoryName: name };
}
