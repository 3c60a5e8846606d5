/**
 * Building and pushing the worker and main images with the container engine (../containerengine.ts:
 * Docker or podman), and logging in to ECR. The ECR password goes to `login` on its stdin,
 * never on its command line.
 */
import { join, resolve } from 'node:path';
import { AwsError } from '../errors.js';
import { awsCall, ecr } from './clients.js';
import { QUICK_STEP_MS, engineStep, type Engine } from '../containerengine.js';

/** Local tag of the worker image (the main image's Dockerfile starts FROM it). */
export const WORKER_TAG = 'riots';
/** Local tag of a main image. */
export const MAIN_TAG = 'riots-main';
export const PLATFORMS = ['linux/amd64', 'linux/arm64'] as const;

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

/**
 * Engine arguments for talking to a registry: podman speaks plain HTTP to a registry on loopback
 * only when told (Docker allows 127.0.0.0/8 by itself), as to the local endpoint's.
 */
export function registryArgs(engine: Engine, host: string): string[] {
  const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  const loopback = name === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(name) || name === '::1';
  return engine === 'podman' && loopback ? ['--tls-verify=false'] : [];
}

/**
 * The arguments of the engine that build the image (pure). Docker builds for another platform
 * with buildx (--load keeps the result local) and reads aws/Dockerfile.dockerignore itself;
 * podman takes --platform and the ignore file directly, and writes Docker-format images.
 */
export function buildArgs(o: BuildOptions, engine: Engine = 'docker'): string[] {
  const head =
    engine === 'podman'
      ? ['build', '--format', 'docker', ...(o.platform ? ['--platform', o.platform] : [])]
      : o.platform
        ? ['buildx', 'build', '--platform', o.platform, '--load']
        : ['build'];
  if (o.main) {
    const file = resolve(o.cwd, o.dockerfile ?? 'Dockerfile.main');
    const args = [...head, '-f', file, '-t', MAIN_TAG];
    // The main Dockerfile may declare these ARGs too; pass them only when they were given.
    if (o.extraPackages) args.push('--build-arg', `EXTRA_PACKAGES=${o.extraPackages}`);
    if (o.npmPackages) args.push('--build-arg', `NPM_PACKAGES=${o.npmPackages}`);
    return [...args, o.cwd];
  }
  const dockerfile = join(o.packageRoot, 'aws', 'Dockerfile');
  return [
    ...head,
    '-f',
    dockerfile,
    ...(engine === 'podman' ? ['--ignorefile', `${dockerfile}.dockerignore`] : []),
    '-t',
    WORKER_TAG,
    '--build-arg',
    `EXTRA_PACKAGES=${o.extraPackages}`,
    '--build-arg',
    `NPM_PACKAGES=${o.npmPackages}`,
    o.packageRoot,
  ];
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

/** `<engine> login` to the registry of `repositoryUri`, with the password on stdin. */
export async function ecrLogin(engine: Engine, region: string | undefined, repositoryUri: string): Promise<void> {
  const { username, password } = await ecrCredentials(region);
  const host = registryHost(repositoryUri);
  await engineStep(engine, `${engine} login to ${host}`, ['login', ...registryArgs(engine, host), '--username', username, '--password-stdin', host], {
    input: password,
    timeoutMs: QUICK_STEP_MS,
  });
}

/** Tag the local image as `<repositoryUri>:latest` and push it (within `timeoutMs`). */
export async function pushImage(engine: Engine, localTag: string, repositoryUri: string, timeoutMs: number): Promise<string> {
  const remote = `${repositoryUri}:latest`;
  await engineStep(engine, `${engine} tag ${localTag} ${remote}`, ['tag', localTag, remote], { timeoutMs: QUICK_STEP_MS });
  await engineStep(engine, `${engine} push ${remote}`, ['push', ...registryArgs(engine, registryHost(repositoryUri)), remote], { timeoutMs });
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
