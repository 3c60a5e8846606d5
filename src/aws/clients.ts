/**
 * Lazy factories for the AWS SDK v3 clients riots uses (CloudFormation, Batch, ECS, ECR, EC2).
 *
 * Each SDK is loaded with a dynamic `import()` on first use, so code paths that never touch AWS
 * never load it. Endpoints are left to the SDK: it honours `AWS_ENDPOINT_URL`,
 * `AWS_ENDPOINT_URL_BATCH`, … and the shared config file itself, so nothing here reads them.
 * The region is `region` when given, otherwise `RIOS_AWSBATCH_REGION`, `AWS_REGION`,
 * `AWS_DEFAULT_REGION`, the profile's region ({@link batchRegion}).
 */
import type * as CfnSdk from '@aws-sdk/client-cloudformation';
import type * as BatchSdk from '@aws-sdk/client-batch';
import type * as EcrSdk from '@aws-sdk/client-ecr';
import type * as EcsSdk from '@aws-sdk/client-ecs';
import type * as Ec2Sdk from '@aws-sdk/client-ec2';
import { createRequire } from 'node:module';
import { AwsError } from '../errors.js';
import { REGION_ENV, REGION_VARIABLES, batchRegion } from '../region.js';

export { REGION_ENV, batchRegion };

/** A loaded SDK module with one client of it. */
export interface Loaded<M, C> {
  sdk: M;
  client: C;
}

/** {@link batchRegion} down to the profile's region, with where it came from; undefined when none is set anywhere. */
export async function resolveRegion(region?: string): Promise<{ region: string | undefined; from: string }> {
  if (region !== undefined && region !== '') return { region, from: '--region' };
  for (const name of REGION_VARIABLES) {
    const v = process.env[name];
    if (v !== undefined && v !== '') return { region: v, from: name };
  }
  try {
    const { client } = await cloudFormation();
    return { region: await client.config.region(), from: `the profile '${process.env.AWS_PROFILE ?? 'default'}'` };
  } catch {
    return { region: undefined, from: 'nowhere' };
  }
}

/** Seconds an AWS call may take before it fails (each of the SDK's attempts); env override. */
export const REQUEST_TIMEOUT_ENV = 'RIOTS_AWS_REQUEST_TIMEOUT_SECONDS';
const DEFAULT_REQUEST_TIMEOUT_SECONDS = 60;
const CONNECT_TIMEOUT_SECONDS = 10;

function requestTimeoutSeconds(): number {
  const v = process.env[REQUEST_TIMEOUT_ENV];
  if (v === undefined || v === '') return DEFAULT_REQUEST_TIMEOUT_SECONDS;
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new AwsError(`${REQUEST_TIMEOUT_ENV} must be a positive number of seconds (got '${v}')`);
  return n;
}

/**
 * Region, and timeouts on every request: the SDK has none by default, so an endpoint that
 * accepts a connection and never answers would hang the run. Each attempt gives up after the
 * request timeout (the SDK retries, 3 attempts in all) and the error names the call.
 */
function config(region?: string): { region?: string; requestHandler: { connectionTimeout: number; requestTimeout: number; throwOnRequestTimeout: true } } {
  const r = batchRegion(region);
  const t = requestTimeoutSeconds();
  const requestHandler = { connectionTimeout: Math.min(CONNECT_TIMEOUT_SECONDS, t) * 1000, requestTimeout: t * 1000, throwOnRequestTimeout: true as const };
  return r === undefined ? { requestHandler } : { region: r, requestHandler };
}

/**
 * The SDK's packages have no "exports" map, so Node takes their CommonJS build either way.
 * require skips the export lexer that import() runs over it first: ~75 ms less CPU per client
 * package on this machine, paid on the way to a run's first AWS call.
 */
const requireSdk = createRequire(import.meta.url);

/** The SDK's switch for its warning about the Node versions of its future releases. */
export const NODE_WARNING_ENV = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

/**
 * Load an SDK client package. The SDK warns in every process on Node < 22 that releases after
 * January 2027 will need Node 22: the versions riots pins support the running Node (their
 * `engines` field says so), so the warning would only repeat in every command and job log.
 * It stays on when the user set the variable, or when the installed package does not support
 * this Node.
 */
function loadSdk<M>(name: string): M {
  if (process.env[NODE_WARNING_ENV] === undefined) {
    const range = (requireSdk(`${name}/package.json`) as { engines?: { node?: string } }).engines?.node ?? '';
    const min = /^>=\s*(\d+)(?:\.\d+)*$/.exec(range.trim());
    if (min && Number(process.versions.node.split('.')[0]) >= Number(min[1])) process.env[NODE_WARNING_ENV] = 'true';
  }
  return requireSdk(name) as M;
}

export async function cloudFormation(region?: string): Promise<Loaded<typeof CfnSdk, CfnSdk.CloudFormationClient>> {
  const sdk = loadSdk<typeof CfnSdk>('@aws-sdk/client-cloudformation');
  return { sdk, client: new sdk.CloudFormationClient(config(region)) };
}

export async function batch(region?: string): Promise<Loaded<typeof BatchSdk, BatchSdk.BatchClient>> {
  const sdk = loadSdk<typeof BatchSdk>('@aws-sdk/client-batch');
  return { sdk, client: new sdk.BatchClient(config(region)) };
}

export async function ecs(region?: string): Promise<Loaded<typeof EcsSdk, EcsSdk.ECSClient>> {
  const sdk = loadSdk<typeof EcsSdk>('@aws-sdk/client-ecs');
  return { sdk, client: new sdk.ECSClient(config(region)) };
}

export async function ecr(region?: string): Promise<Loaded<typeof EcrSdk, EcrSdk.ECRClient>> {
  const sdk = loadSdk<typeof EcrSdk>('@aws-sdk/client-ecr');
  return { sdk, client: new sdk.ECRClient(config(region)) };
}

export async function ec2(region?: string): Promise<Loaded<typeof Ec2Sdk, Ec2Sdk.EC2Client>> {
  const sdk = loadSdk<typeof Ec2Sdk>('@aws-sdk/client-ec2');
  return { sdk, client: new sdk.EC2Client(config(region)) };
}

/** Name and message of an SDK error (the SDK sets `name` to the service's error code). */
export function sdkErrorText(err: unknown): string {
  if (err instanceof Error) {
    const name = err.name && err.name !== 'Error' ? `${err.name}: ` : '';
    return `${name}${err.message}`;
  }
  return String(err);
}

/** An {@link AwsError} saying what was being done, with the SDK error kept as `cause`. */
export function toAwsError(what: string, err: unknown): AwsError {
  if (err instanceof AwsError) return err;
  const text = sdkErrorText(err);
  const hint = /region is missing/i.test(text) ? ` (set --region, ${REGION_ENV}, AWS_REGION or a profile region)` : '';
  return new AwsError(`${what} failed: ${text}${hint}`, { cause: err });
}

/** Run one AWS call; any failure becomes {@link toAwsError}(what, err). */
export async function awsCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw toAwsError(what, err);
  }
}

/**
 * Where the SDK would send an AWS call (here CloudFormation's), as it resolves it: AWS itself,
 * or an endpoint from AWS_ENDPOINT_URL or the shared config. No request is made: the call is
 * stopped once its URL is known, before it is signed or sent.
 */
export async function resolvedEndpoint(region?: string): Promise<string> {
  const sdk = loadSdk<typeof CfnSdk>('@aws-sdk/client-cloudformation');
  // never sent: stand-in credentials keep the SDK from looking for real ones first
  const client = new sdk.CloudFormationClient({
    ...config(region ?? batchRegion() ?? 'us-east-1'),
    credentials: { accessKeyId: 'unused', secretAccessKey: 'unused' },
  });
  const found = Symbol('endpoint');
  client.middlewareStack.add(
    () => (args) => {
      const r = args.request as { protocol?: string; hostname?: string; port?: number };
      throw Object.assign(new Error('stopped'), { [found]: `${r.protocol ?? 'https:'}//${r.hostname ?? '?'}${r.port ? `:${r.port}` : ''}` });
    },
    { step: 'build', name: 'riotsResolvedEndpoint' },
  );
  try {
    await client.send(new sdk.DescribeStacksCommand({}));
    return 'unknown';
  } catch (e) {
    const url = (e as Record<symbol, unknown>)[found];
    if (typeof url === 'string') return url;
    throw toAwsError('resolving the AWS endpoint', e);
  } finally {
    client.destroy();
  }
}
