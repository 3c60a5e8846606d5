/**
 * What a job or task of the local endpoint runs, from the image it names: in process mode the
 * image's ENTRYPOINT read from the Dockerfile that stands for its repository (aws/Dockerfile for
 * the worker repository, --main-dockerfile for the main one, or one mapped by the JS API), made
 * local; in container mode the image itself, which must have been pushed to the endpoint's
 * registry.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LocalContext } from './context.js';
import { jobArgv, readDockerfile, type ImageSpec } from './dockerfile.js';
import type { LaunchSpec } from './launch.js';
import type { Repository } from './state.js';

export interface SpecOptions {
  /** The endpoint's URL, given to jobs as AWS_ENDPOINT_URL. */
  url: string;
  stateDir: string;
  /** Dockerfile of the worker repository (`*ecr`): aws/Dockerfile of this checkout by default. */
  workerDockerfile: string;
  /** Build context of the worker image (the riots checkout, as `riots batch build-image` uses). */
  workerContext: string;
  /** Dockerfile of the main repository (`*ecrmain`), from `--main-dockerfile`. */
  mainDockerfile?: string | undefined;
  /** The argv that stands for the `riots` command inside images. */
  riotsCommand: string[];
}

/** What to run, or why it cannot run (`pull`: the image cannot be had; else it cannot start). */
export type Resolved = { spec: LaunchSpec } | { reason: string; pull: boolean };

/** What the job or task asks for besides its image. */
export interface RunRequest {
  image: string;
  command: string[];
  /** Its own variables (Batch's, the endpoint's jobEnv, its overrides), applied last. */
  variables: Record<string, string>;
  cpus: number;
  memoryMiB: number;
}

/** Per-service endpoint variables of the services this endpoint stands for: a container must reach it, not them (S3's stays). */
const LOCAL_SERVICE_ENDPOINT_VARS = ['BATCH', 'CLOUDFORMATION', 'ECR', 'EC2', 'ECS'].map((s) => `AWS_ENDPOINT_URL_${s}`);

export class SpecResolver {
  /** Dockerfiles mapped to repositories by the JS API, by repository name. */
  readonly imageMap = new Map<string, string>();
  private binDir: string | undefined;

  constructor(
    private readonly ctx: LocalContext,
    private readonly opts: SpecOptions,
    private readonly mode: LaunchSpec['kind'],
  ) {}

  /** The Dockerfile standing for a repository's image, if there is one. */
  dockerfileFor(repo: Repository): string | undefined {
    const mapped = this.imageMap.get(repo.name);
    if (mapped) return mapped;
    if (repo.name.endsWith('ecrmain')) return this.opts.mainDockerfile;
    if (repo.name.endsWith('ecr')) return existsSync(this.opts.workerDockerfile) ? this.opts.workerDockerfile : undefined;
    return undefined;
  }

  resolve(req: RunRequest): Resolved {
    return this.mode === 'container' ? this.container(req) : this.process(req);
  }

  /** The endpoint, its region and credentials (the caller's, else dummies), as a job on AWS has a role's. */
  private endpointVariables(): Record<string, string> {
    const env: Record<string, string> = { AWS_ENDPOINT_URL: this.opts.url, AWS_REGION: this.ctx.region, AWS_DEFAULT_REGION: this.ctx.region };
    const own = process.env.AWS_ACCESS_KEY_ID;
    env.AWS_ACCESS_KEY_ID = own || 'test';
    env.AWS_SECRET_ACCESS_KEY = own ? (process.env.AWS_SECRET_ACCESS_KEY ?? '') : 'test';
    if (own && process.env.AWS_SESSION_TOKEN) env.AWS_SESSION_TOKEN = process.env.AWS_SESSION_TOKEN;
    if (process.env.AWS_ENDPOINT_URL_S3) env.AWS_ENDPOINT_URL_S3 = process.env.AWS_ENDPOINT_URL_S3;
    return env;
  }

  /** A pushed image, run as it is: nothing of the endpoint's environment but how to reach it. */
  private container(req: RunRequest): Resolved {
    const repo = this.ctx.state.findRepositoryForImage(req.image);
    const ref = /@(sha256:[0-9a-f]{64})$/.exec(req.image)?.[1] ?? /:([^/:@]+)$/.exec(req.image)?.[1] ?? 'latest';
    const pushed = repo && [...repo.images].some(([d, img]) => img.manifestMediaType !== undefined && (d === ref || img.tags.includes(ref)));
    if (!pushed) {
      const why = repo ? `${req.image}: not found` : `repository ${req.image.replace(/[:@][^/]*$/, '')} does not exist`;
      return { pull: true, reason: `CannotPullContainerError: pull image manifest: ${why} (push the image with 'riots batch build-image --push')` };
    }
    const env = { ...this.endpointVariables(), ...req.variables };
    return { spec: { kind: 'container', image: req.image, command: req.command, env, cpus: req.cpus, memoryMiB: req.memoryMiB } };
  }

  /** The image's ENTRYPOINT made local, in the Dockerfile's folder, with the endpoint's environment. */
  private process(req: RunRequest): Resolved {
    const repo = this.ctx.state.findRepositoryForImage(req.image);
    const dockerfile = repo ? this.dockerfileFor(repo) : undefined;
    if (!dockerfile) {
      return {
        pull: true,
        reason: `CannotPullContainerError: the local endpoint has no Dockerfile for image ${req.image} (main images need 'riots batch local --main-dockerfile PATH')`,
      };
    }
    let spec: ImageSpec;
    try {
      spec = this.imageSpec(dockerfile);
    } catch (e) {
      return { pull: true, reason: `CannotPullContainerError: cannot read ${dockerfile}: ${(e as Error).message}` };
    }
    const argv = this.argvFor(spec, req.command);
    if (argv.length === 0) return { pull: false, reason: `CannotStartContainerError: ${spec.dockerfile} has no ENTRYPOINT or CMD and no command was given` };
    return { spec: { kind: 'process', argv, cwd: spec.context, env: { ...this.baseEnvironment(spec), ...req.variables } } };
  }

  /** What a Dockerfile says to run (a main image's `FROM riots` builds on the worker image). */
  private imageSpec(dockerfile: string): ImageSpec {
    const worker = (): ImageSpec => readDockerfile(this.opts.workerDockerfile, undefined, this.opts.workerContext);
    return dockerfile === this.opts.workerDockerfile
      ? worker()
      : readDockerfile(dockerfile, (from) => (from === 'riots' && existsSync(this.opts.workerDockerfile) ? worker() : undefined));
  }

  /** The argv of a container: the image's ENTRYPOINT/CMD with the command, `riots` and `node` made local. */
  private argvFor(spec: ImageSpec, command: string[]): string[] {
    const argv = jobArgv(spec, command);
    if (argv[0] === 'riots') return [...this.opts.riotsCommand, ...argv.slice(1)];
    if (argv[0] === 'node') return [process.execPath, ...argv.slice(1)];
    return argv;
  }

  /** For shell-form ENTRYPOINTs: a folder with a `riots` that runs this checkout's CLI, to put first on PATH. */
  private shimDir(): string {
    if (this.binDir === undefined) {
      this.binDir = join(this.opts.stateDir, 'bin');
      mkdirSync(this.binDir, { recursive: true });
      const shim = join(this.binDir, 'riots');
      writeFileSync(shim, `#!/bin/sh\nexec ${this.opts.riotsCommand.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')} "$@"\n`);
      chmodSync(shim, 0o755);
    }
    return this.binDir;
  }

  /**
   * A process's environment before its own: the endpoint's (less the endpoint variables of the
   * services it stands for, the profile and Batch's job variables), the image's ENV, then this
   * endpoint with its region and, when none are set, dummy credentials.
   */
  private baseEnvironment(spec: ImageSpec): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of Object.keys(env)) if (LOCAL_SERVICE_ENDPOINT_VARS.includes(k) || k.startsWith('AWS_BATCH_') || k === 'AWS_PROFILE') delete env[k];
    Object.assign(env, spec.env);
    env.PATH = `${this.shimDir()}:${env.PATH ?? '/usr/bin:/bin'}`;
    env.AWS_ENDPOINT_URL = this.opts.url;
    env.AWS_REGION = this.ctx.region;
    env.AWS_DEFAULT_REGION = this.ctx.region;
    if (!env.AWS_ACCESS_KEY_ID) {
      env.AWS_ACCESS_KEY_ID = 'test';
      env.AWS_SECRET_ACCESS_KEY = 'test';
    }
    return env;
  }
}
