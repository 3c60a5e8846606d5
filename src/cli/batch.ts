/**
 * `riots batch <subcommand>`: the AWS Batch tooling — create and delete the stack, build and push
 * the images, submit the main job, clean up jobs, check the stack, and a local endpoint for dry
 * runs. Names and defaults follow RIOS's tooling so that its instructions carry over.
 */
import { RiotsError } from '../errors.js';
import { UsageError, err, out, type BatchSubcommand } from './batch/common.js';

type Loader = () => Promise<BatchSubcommand>;

/** Subcommand -> its summary and a loader (so `riots batch outputs` loads no docker code etc.). */
const SUBCOMMANDS: Record<string, { summary: string; load: Loader }> = {
  create: { summary: 'create (or --modify) the AWS Batch stack', load: async () => (await import('./batch/create.js')).create },
  delete: { summary: 'empty the ECR repositories and delete the stack', load: async () => (await import('./batch/delete.js')).del },
  outputs: { summary: "print the stack's outputs", load: async () => (await import('./batch/outputs.js')).outputs },
  'ecr-path': { summary: 'print the ECR repository of the worker (or --main) image', load: async () => (await import('./batch/outputs.js')).ecrPath },
  'build-image': {
    summary: 'build the worker (or --main) image with docker; --push it to ECR',
    load: async () => (await import('./batch/image.js')).buildImage,
  },
  'submit-main': { summary: 'run the main image as a job on the main queue (and --wait)', load: async () => (await import('./batch/submit.js')).submitMain },
  cleanup: { summary: "terminate riots' jobs still active on the queues", load: async () => (await import('./batch/cleanup.js')).cleanup },
  preflight: { summary: 'check the stack is ready for a run', load: async () => (await import('./batch/preflight.js')).preflightCommand },
  local: {
    summary: 'run a local AWS endpoint (CloudFormation, Batch, ECR, EC2) for dry runs',
    load: async () => {
      const m = await import('./batch/local.js'); // helper module of the local endpoint
      return { summary: '', help: m.help, run: m.run };
    },
  },
};

export const help = `usage: riots batch <subcommand> [options]

Run riots' compute workers on AWS Batch. The stack is RIOS_AWSBATCH_STACK (default RIOS) in
region RIOS_AWSBATCH_REGION (default: the usual AWS region settings). See docs/aws-batch.md.

subcommands:
${Object.entries(SUBCOMMANDS)
  .map(([k, s]) => `  ${k.padEnd(12)} ${s.summary}`)
  .join('\n')}

Run 'riots batch <subcommand> --help' for its options.`;

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    out(help);
    return name === undefined ? 2 : 0;
  }
  const entry = Object.prototype.hasOwnProperty.call(SUBCOMMANDS, name) ? SUBCOMMANDS[name] : undefined;
  if (entry === undefined) {
    err(`riots batch: unknown subcommand '${name}'\n\n${help}`);
    return 2;
  }
  const sub = await entry.load();
  try {
    return await sub.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      err(`riots batch ${name}: ${e.message}\n\n${sub.help.trimEnd()}`);
      return 2;
    }
    if (e instanceof RiotsError) {
      err(`riots batch ${name}: ${e.message}`);
      if (process.env.RIOTS_DEBUG) err(String(e.stack));
      return 1;
    }
    throw e;
  }
}
