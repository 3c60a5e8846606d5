/**
 * `riots batch local`: run the local AWS endpoint (CloudFormation, Batch, ECR, EC2 on loopback)
 * until interrupted, and print the variables that point the AWS SDK (and so riots) at it.
 */
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

export const help = `usage: riots batch local [--port N] [--main-dockerfile PATH] [--start-delay SECONDS]
                         [--stack-delay SECONDS] [--state-dir DIR] [--region REGION]
                         [--containers [--engine docker|podman] [--mount DIR[:rw]]...]

Run a local stand-in for the AWS services riots uses (CloudFormation, Batch, ECS, ECR, EC2), to
dry-run the AWS Batch workflow before spending money. Batch jobs and ECS tasks run as local
processes (the worker image is aws/Dockerfile of this checkout, the main image is
--main-dockerfile), or with --containers as containers of the images you push.

  --port N                 TCP port on 127.0.0.1 (default 4566; 0 picks a free port)
  --main-dockerfile PATH   Dockerfile standing for the main image (<ServiceName>ecrmain);
                           process mode only
  --start-delay SECONDS    delay from RUNNABLE to STARTING of each job, and from
                           PROVISIONING to PENDING of each ECS task (default 5)
  --stack-delay SECONDS    delay before a stack operation completes (default 1)
  --state-dir DIR          where job logs go: DIR/jobs/<jobId>.log (stdout and stderr)
                           (default: a new folder under the temp folder, kept after exit)
  --region REGION          its default region, printed for you to export (default: as every
                           riots command: $RIOS_AWSBATCH_REGION, else AWS_REGION, else
                           AWS_DEFAULT_REGION, else the profile's region, else us-east-1).
                           Every region is served, each with its own state, as on AWS.
  --containers             run each job and task as a container of the image its job or task
                           definition names, pulled from the endpoint's own registry (push
                           with 'riots batch build-image --push'), on the host's network, with
                           the job's vCPUs and memory as limits
  --engine docker|podman   the container engine (default: Docker when it answers, else podman)
  --mount DIR[:rw]         bind DIR into every container at the same path, read-only unless
                           :rw (the stand-in for a shared file system); repeatable
  -h, --help               show this help

Then, in another shell, export the variables it prints and use riots as with AWS:
  riots batch create --wait && riots batch submit-main --wait && riots batch delete --wait
Stop it with Ctrl-C: every job process is killed. See docs/aws-local.md.`;

function seconds(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number of seconds >= 0, not '${v}'`);
  return n;
}

/** `DIR` (read-only) or `DIR:rw`/`DIR:ro`: an existing absolute folder once resolved. */
export function parseMount(spec: string): { path: string; writable: boolean } {
  const m = /^(.*?)(?::(rw|ro))?$/.exec(spec)!;
  const path = resolve(m[1]!);
  if (m[1] === '' || !existsSync(path) || !statSync(path).isDirectory()) throw new Error(`--mount ${spec}: ${path} is not a folder`);
  return { path, writable: m[2] === 'rw' };
}

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        'main-dockerfile': { type: 'string' },
        'start-delay': { type: 'string' },
        'stack-delay': { type: 'string' },
        'state-dir': { type: 'string' },
        region: { type: 'string' },
        containers: { type: 'boolean' },
        engine: { type: 'string' },
        mount: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    process.stderr.write(`riots batch local: ${(e as Error).message}\n\n${help}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(help + '\n');
    return 0;
  }
  const port = values.port === undefined ? 4566 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`riots batch local: --port must be an integer 0..65535, not '${values.port}'\n`);
    return 2;
  }
  const { startLocalAws } = await import('../../aws/local/server.js');
  const stateDir = values['state-dir'] ?? mkdtempSync(join(tmpdir(), 'riots-local-aws-'));
  const options: import('../../aws/local/server.js').LocalAwsOptions = {
    port,
    stateDir,
    startDelaySeconds: seconds('start-delay', values['start-delay'], 5),
    stackDelaySeconds: seconds('stack-delay', values['stack-delay'], 1),
  };
  if (values['main-dockerfile'] !== undefined) options.mainDockerfile = values['main-dockerfile'];
  if (values.containers && values['main-dockerfile'] !== undefined) {
    process.stderr.write(
      `riots batch local: --main-dockerfile is for jobs run as processes; with --containers, build and push the main image ('riots batch build-image --main --push')\n`,
    );
    return 2;
  }
  if (!values.containers && (values.engine !== undefined || values.mount !== undefined)) {
    process.stderr.write(`riots batch local: --engine and --mount only apply with --containers\n`);
    return 2;
  }
  if (values.containers) {
    let mounts;
    try {
      mounts = (values.mount ?? []).map(parseMount);
    } catch (e) {
      process.stderr.write(`riots batch local: ${(e as Error).message}\n`);
      return 2;
    }
    const { chooseEngine } = await import('../../containerengine.js');
    options.containers = { engine: await chooseEngine(values.engine), mounts };
  }
  const { resolveRegion } = await import('../../aws/clients.js');
  options.region = (await resolveRegion(values.region)).region ?? 'us-east-1';
  let aws;
  try {
    aws = await startLocalAws(options);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      process.stderr.write(`riots batch local: port ${port} on 127.0.0.1 is in use; choose another with --port (0 picks a free one)\n`);
      return 1;
    }
    throw e;
  }
  const lines = [
    `riots local AWS endpoint listening on ${aws.url} (region ${aws.region})`,
    `job logs (stdout and stderr): ${aws.stateDir}/jobs/<jobId>.log`,
    ...(aws.containers ? [`jobs and tasks run as ${aws.containers.engine} containers of the images pushed to ${aws.containers.registryHost}`] : []),
    '',
    'In the shell that runs riots, set:',
    ...Object.entries(aws.env).map(([k, v]) => `export ${k}=${v}`),
    '',
    'Ctrl-C stops it and kills every job process.',
  ];
  process.stdout.write(lines.join('\n') + '\n');
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await aws.close();
  process.stdout.write('riots local AWS endpoint stopped\n');
  return 0;
}
