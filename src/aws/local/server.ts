/**
 * The local AWS endpoint: one HTTP server on loopback speaking the wire protocols the real SDK
 * clients use for the calls riots makes. Requests are routed by protocol: Batch by path
 * (`/v1/…`, REST-JSON), ECR and ECS by `X-Amz-Target` (JSON 1.1), CloudFormation and EC2 by the form
 * body's `Action` and `Version` (Query and EC2 Query protocols, XML replies).
 *
 * This module (and src/cli/batch-local.ts) is the only riots code that reads or sets
 * AWS_ENDPOINT_URL: everything else relies on the SDK honouring it.
 */
import { existsSync, mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BatchService } from './batch.js';
import { CloudFormationService } from './cloudformation.js';
import type { LocalContext } from './context.js';
import { Ec2Service, ec2Error } from './ec2.js';
import { ContainerLauncher, type Mount } from './containers.js';
import { EcrService, LOCAL_ECR_PASSWORD, putImage } from './ecr.js';
import { EcsService } from './ecs.js';
import { JobRunner, type JobRunnerOptions } from './jobs.js';
import type { Launcher } from './launch.js';
import { ProcessLauncher } from './processes.js';
import { LocalRegistry } from './registry.js';
import { ACCOUNT_ID, LocalAwsState, type Repository } from './state.js';
import { AwsApiError, parseForm, requestId, xml, type Reply } from './wire.js';
import { cleanUpAtExit } from '../../exitcleanup.js';
import { UsageError } from '../../errors.js';
import { batchRegion } from '../../region.js';
import { chooseEngine, type Engine } from '../../containerengine.js';

export interface LocalAwsOptions {
  /** TCP port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /**
   * The default region: the one it prints and puts in `env`, and the one of unsigned requests
   * (default: riots' region rule without a profile, src/aws/clients.ts, else us-east-1). Every region is served, each
   * with its own state, as AWS keeps them apart.
   */
  region?: string;
  /** Dockerfile standing for the main repository's image (`<ServiceName>ecrmain`). */
  mainDockerfile?: string;
  /** Delay from RUNNABLE to STARTING, in seconds (default 5). */
  startDelaySeconds?: number;
  /** Delay before a stack operation completes, in seconds (default 1). */
  stackDelaySeconds?: number;
  /** Folder for job logs (jobs/<jobId>.log: stdout and stderr) and the `riots` shim; default a temp folder removed on close. */
  stateDir?: string;
  /** The riots checkout: its aws/Dockerfile is the worker image and dist/cli/main.js the `riots` command. */
  repoRoot?: string;
  /**
   * The argv standing for `riots` in images. Default: `node <repoRoot>/dist/cli/main.js` when this
   * module runs built, `node --import tsx <repoRoot>/src/cli/main.ts` when it runs from source.
   */
  riotsCommand?: string[];
  /** Extra environment given to every job process. */
  jobEnv?: Record<string, string>;
  /** Grace between SIGTERM and SIGKILL when a running job is terminated, in seconds (default 2). */
  killGraceSeconds?: number;
  /**
   * Run jobs and tasks as containers of the images pushed to the endpoint's registry (repository
   * URIs become `127.0.0.1:<port>/<name>`), instead of local processes made from Dockerfiles.
   */
  containers?: {
    /** Default: Docker when its engine answers, else podman (or $RIOTS_CONTAINER_ENGINE). */
    engine?: Engine;
    /** Host folders bound into every container at the same path. */
    mounts?: Mount[];
  };
}

export interface LocalAws {
  url: string;
  port: number;
  region: string;
  stateDir: string;
  /** The variables a shell or a child process needs to talk to this endpoint. */
  env: Record<string, string>;
  /** The state of `region` (the default region's is `state`). */
  stateOf(region: string): LocalAwsState;
  /** The default region's state. */
  state: LocalAwsState;
  /** Jobs of `queue` (name or ARN) stay RUNNABLE with `reason`; undefined lets them start again. */
  holdQueue(queue: string, reason: string | undefined): void;
  /** Tasks of ECS cluster `cluster` (name or ARN) stay PROVISIONING (as when Fargate has no capacity); undefined lets them start. */
  holdCluster(cluster: string, reason: string | undefined): void;
  /**
   * Interrupt a FARGATE_SPOT task as Fargate does when it takes the capacity back: SIGTERM, then
   * SIGKILL after the grace period, STOPPED with stopCode SpotInterruption.
   * @throws when the task (id or ARN) is unknown or not on FARGATE_SPOT.
   */
  interruptSpotTask(task: string): void;
  /** Set a queue ENABLED or DISABLED (as UpdateJobQueue does). */
  setQueueState(queue: string, state: 'ENABLED' | 'DISABLED'): void;
  /**
   * Register an image in a repository (as a push would), optionally mapping a Dockerfile to it:
   * for process mode. In container mode jobs run only images really pushed to the registry, so
   * an image registered this way is not pulled (the job fails with CannotPullContainerError).
   */
  putImage(repositoryName: string, tag: string, dockerfile?: string): string;
  /** Process ids of the job and task processes (container mode: the engine clients) still running. */
  jobPids(): number[];
  /** In container mode: the engine and the registry's `host:port`. */
  containers?: { engine: Engine; registryHost: string };
  /** Stop the server and kill every job process. */
  close(): Promise<void>;
}

/**
 * The argv standing for `riots` inside images: this checkout's CLI, in the form this module runs
 * in: built (dist/cli/main.js) when running from dist, else src/cli/main.ts through tsx, so that
 * tests from source never run a stale build.
 */
function defaultRiotsCommand(repoRoot: string): string[] {
  const fromSource = import.meta.url.endsWith('.ts');
  const tsx = join(repoRoot, 'node_modules', 'tsx', 'dist', 'loader.mjs');
  if (fromSource && existsSync(tsx)) return [process.execPath, '--import', pathToFileURL(tsx).href, join(repoRoot, 'src', 'cli', 'main.ts')];
  return [process.execPath, join(repoRoot, 'dist', 'cli', 'main.js')];
}

function defaultRepoRoot(): string {
  // src/aws/local/server.ts and dist/aws/local/server.js both sit three folders below the root.
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The region a SigV4 request was signed for, or undefined for an unsigned request. */
function signedRegion(authorization: string | undefined): string | undefined {
  return /Credential=[^/]+\/\d{8}\/([^/]+)\//.exec(authorization ?? '')?.[1];
}

function queryErrorXml(e: AwsApiError): string {
  return `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>${e.type}</Type><Code>${xml(e.code, 'member')}</Code><Message>${xml(e.message, 'member')}</Message></Error><RequestId>${requestId()}</RequestId></ErrorResponse>`;
}

type Services = { cfn: CloudFormationService; batch: BatchService; ecr: EcrService; ecs: EcsService; ec2: Ec2Service };
/** One region of the endpoint: its state, services and job processes. */
type Region = { ctx: LocalContext; runner: JobRunner; services: Services };
type Shared = { stackDelayMs: number; runnerOptions: JobRunnerOptions; launcher: Launcher; registry: LocalRegistry | undefined };
type Protocol = 'batch' | 'json11' | 'query' | 'ec2';

/** Parse a JSON body ('' is {}). */
function jsonBody(body: string): Record<string, unknown> {
  return body === '' ? {} : (JSON.parse(body) as Record<string, unknown>);
}

/** Which service a request is for, by the protocol each speaks (REST JSON, JSON 1.1 by target, query by Version), and its reply. */
function dispatch(svc: Services, req: IncomingMessage, url: URL, body: string): Reply {
  const target = req.headers['x-amz-target'];
  if (url.pathname.startsWith('/v1/')) return svc.batch.handle(req.method ?? 'POST', url.pathname, url.searchParams, jsonBody(body));
  if (typeof target === 'string' && target.startsWith('AmazonEC2ContainerRegistry_V20150921.'))
    return svc.ecr.handle(target.slice(target.indexOf('.') + 1), jsonBody(body));
  if (typeof target === 'string' && target.startsWith('AmazonEC2ContainerServiceV20141113.'))
    return svc.ecs.handle(target.slice(target.indexOf('.') + 1), jsonBody(body));
  const params = parseForm(body);
  const action = params.get('Action') ?? '';
  const version = params.get('Version');
  if (version === '2016-11-15') return svc.ec2.handle(action, params);
  if (version === '2010-05-15') return svc.cfn.handle(action, params);
  throw new AwsApiError(
    'UnknownOperationException',
    `The local endpoint does not know ${req.method} ${url.pathname} (Action=${action}, Version=${version ?? 'none'})`,
    404,
  );
}

/** An error as the protocol of the request says errors. */
function errorReply(protocol: Protocol, err: AwsApiError): Reply {
  if (protocol === 'batch')
    return {
      status: err.status,
      headers: { 'content-type': 'application/json', 'x-amzn-errortype': err.code },
      body: JSON.stringify({ message: err.message }),
    };
  if (protocol === 'json11')
    return { status: err.status, headers: { 'content-type': 'application/x-amz-json-1.1' }, body: JSON.stringify({ __type: err.code, message: err.message }) };
  if (protocol === 'ec2') return { status: err.status, headers: { 'content-type': 'text/xml' }, body: ec2Error(err.code, err.message) };
  return { status: err.status, headers: { 'content-type': 'text/xml' }, body: queryErrorXml(err) };
}

/**
 * The HTTP handler: every request to its service in the region it was signed for (each region's
 * state apart, as in AWS), every failure in its protocol's error form.
 */
function router(servicesIn: (region: string | undefined) => Services): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    let reply: Reply;
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const target = req.headers['x-amz-target'];
    const protocol: Protocol = url.pathname.startsWith('/v1/')
      ? 'batch'
      : typeof target === 'string'
        ? 'json11'
        : body.includes('Version=2016-11-15')
          ? 'ec2'
          : 'query';
    try {
      reply = dispatch(servicesIn(signedRegion(req.headers.authorization)), req, url, body);
    } catch (e) {
      const err =
        e instanceof AwsApiError
          ? e
          : new AwsApiError(
              e instanceof SyntaxError ? 'SerializationException' : 'InternalFailure',
              (e as Error).message,
              e instanceof SyntaxError ? 400 : 500,
              'Receiver',
            );
      reply = errorReply(protocol, err);
    }
    res.writeHead(reply.status, { ...reply.headers, 'content-length': Buffer.byteLength(reply.body) });
    res.end(reply.body);
  };
}

/** A region's state, services and job runner. */
function makeRegion(region: string, shared: Shared): Region {
  const ctx: LocalContext = {
    state: new LocalAwsState(region),
    region,
    accountId: ACCOUNT_ID,
    stackDelayMs: shared.stackDelayMs,
    registry: shared.registry,
    jobs: { submitted: () => undefined, terminate: () => undefined, taskCreated: () => undefined, stopTask: () => undefined, standIn: () => undefined },
    timers: new Set(),
  };
  const runner = new JobRunner(ctx, shared.runnerOptions, shared.launcher);
  ctx.jobs = runner;
  const services = {
    cfn: new CloudFormationService(ctx),
    batch: new BatchService(ctx),
    ecr: new EcrService(ctx),
    ecs: new EcsService(ctx),
    ec2: new Ec2Service(ctx),
  };
  return { ctx, runner, services };
}

/** The registry and the container launcher of container mode. */
function containerMode(
  engine: Engine,
  registryHost: string,
  stateDir: string,
  mounts: Mount[],
  repository: (name: string) => Repository | undefined,
): { registry: LocalRegistry; launcher: Launcher } {
  return {
    registry: new LocalRegistry({ host: registryHost, dir: join(stateDir, 'registry'), password: LOCAL_ECR_PASSWORD, repository }),
    launcher: new ContainerLauncher({ engine, stateDir, registryHost, username: 'AWS', password: LOCAL_ECR_PASSWORD, mounts }),
  };
}

/**
 * Start the local AWS endpoint.
 * @example
 * const aws = await startLocalAws({ startDelaySeconds: 5, mainDockerfile: 'Dockerfile.main' });
 * Object.assign(process.env, aws.env); // SDK clients now talk to it
 * await aws.close();
 */
export async function startLocalAws(options: LocalAwsOptions = {}): Promise<LocalAws> {
  const region = options.region ?? batchRegion() ?? 'us-east-1';
  const repoRoot = options.repoRoot ?? defaultRepoRoot();
  const ownStateDir = options.stateDir === undefined;
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'riots-local-aws-'));
  mkdirSync(stateDir, { recursive: true });
  const stackDelayMs = (options.stackDelaySeconds ?? 1) * 1000;
  const runnerOptions: JobRunnerOptions = {
    startDelayMs: (options.startDelaySeconds ?? 5) * 1000,
    url: '',
    stateDir,
    workerDockerfile: join(repoRoot, 'aws', 'Dockerfile'),
    workerContext: repoRoot,
    mainDockerfile: options.mainDockerfile === undefined ? undefined : resolve(options.mainDockerfile),
    riotsCommand: options.riotsCommand ?? defaultRiotsCommand(repoRoot),
    jobEnv: options.jobEnv ?? {},
    killGraceMs: (options.killGraceSeconds ?? 2) * 1000,
  };
  if (options.containers && options.mainDockerfile !== undefined) {
    throw new UsageError('mainDockerfile is for jobs run as processes; in container mode the main image is the one pushed to the registry');
  }
  const engine = options.containers ? (options.containers.engine ?? (await chooseEngine())) : undefined;
  // every region the endpoint is asked about, made on first use, each with its own state and jobs
  const regions = new Map<string, Region>();
  const shared: Shared = { stackDelayMs, runnerOptions, launcher: new ProcessLauncher(), registry: undefined };
  const regionOf = (r: string): Region => {
    let reg = regions.get(r);
    if (!reg) regions.set(r, (reg = makeRegion(r, shared)));
    return reg;
  };

  const route = router((r) => regionOf(r ?? region).services);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (shared.registry && /^\/v2(\/|$)/.test(url.pathname)) void shared.registry.handle(req, res, url);
    else void route(req, res);
  });

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolveListen());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  runnerOptions.url = url;
  if (engine !== undefined) {
    // a repository's name is found in the default region first (one registry serves them all)
    const repository = (name: string) => [regionOf(region), ...regions.values()].map((r) => r.ctx.state.repositories.get(name)).find((x) => x !== undefined);
    Object.assign(shared, containerMode(engine, `127.0.0.1:${port}`, stateDir, options.containers?.mounts ?? [], repository));
  }
  const { ctx, runner } = regionOf(region);
  const state = ctx.state;
  // A process that exits without close() (an uncaught exception, process.exit()) takes its
  // "containers" with it, as a machine that goes away does: the job processes are in process
  // groups of their own and would otherwise outlive it.
  const keepAtExit = cleanUpAtExit(() => {
    for (const r of regions.values()) r.runner.closing();
    shared.launcher.killAll();
    if (ownStateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  const queue = (ref: string) => {
    const q = state.findQueue(ref);
    if (!q) throw new AwsApiError('ClientException', `JobQueue ${ref} not found`);
    return q;
  };
  let closed: Promise<void> | undefined;
  return {
    url,
    port,
    region,
    stateDir,
    env: { AWS_ENDPOINT_URL: url, AWS_REGION: region, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' },
    state,
    holdQueue(ref, reason) {
      const q = queue(ref);
      if (reason === undefined) delete q.holdReason;
      else q.holdReason = reason;
    },
    holdCluster(ref, reason) {
      const c = state.findCluster(ref);
      if (!c) throw new AwsApiError('ClusterNotFoundException', `Cluster ${ref} not found`);
      if (reason === undefined) delete c.holdReason;
      else c.holdReason = reason;
    },
    interruptSpotTask(ref) {
      const t = state.findTask(ref);
      if (!t) throw new Error(`no ECS task ${ref}`);
      if (t.capacityProviderName !== 'FARGATE_SPOT') throw new Error(`task ${ref} does not run on FARGATE_SPOT (${t.capacityProviderName ?? t.launchType})`);
      runner.stopTask(t.taskId, 'SpotInterruption', 'Your Spot Task was interrupted.');
    },
    setQueueState(ref, s) {
      queue(ref).state = s;
    },
    putImage(repositoryName, tag, dockerfile) {
      const repo = state.repositories.get(repositoryName);
      if (!repo) throw new AwsApiError('RepositoryNotFoundException', `The repository with name '${repositoryName}' does not exist`);
      if (dockerfile !== undefined) runner.specs.imageMap.set(repositoryName, resolve(dockerfile));
      return putImage(repo, tag, `${repositoryName}:${tag}:${dockerfile ?? ''}:${Date.now()}`);
    },
    stateOf: (r) => regionOf(r).ctx.state,
    jobPids: () => shared.launcher.runningPids(),
    ...(engine === undefined ? {} : { containers: { engine, registryHost: shared.registry!.host } }),
    close() {
      closed ??= (async () => {
        const all = [...regions.values()];
        for (const r of all) for (const t of r.ctx.timers) clearTimeout(t);
        for (const r of all) r.ctx.timers.clear();
        for (const r of all) r.runner.closing();
        await shared.launcher.close(5000);
        for (const r of all) for (const t of r.ctx.timers) clearTimeout(t);
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
        if (ownStateDir) rmSync(stateDir, { recursive: true, force: true });
        keepAtExit();
      })();
      return closed;
    },
  };
}
