/**
 * `riots batch build-image`: build the worker image (aws/Dockerfile, context the riots package)
 * or a main image (your Dockerfile.main, context the current folder) with Docker or podman, and with
 * --push log in to ECR and push it to the stack's repository as :latest.
 */
import { MAIN_TAG, PLATFORMS, WORKER_TAG, buildArgs, ecrLogin, pushImage } from '../../aws/images.js';
import { ENGINES, chooseEngine, engineStep } from '../../containerengine.js';
import { getStackOutputs, requireOutput } from '../../aws/stack.js';
import { STACK_HELP, STACK_OPTIONS, UsageError, out, packageRoot, parseOptions, stackOpts, type BatchSubcommand } from './common.js';

const options = {
  ...STACK_OPTIONS,
  main: { type: 'boolean' },
  file: { type: 'string', short: 'f' },
  platform: { type: 'string' },
  'extra-packages': { type: 'string' },
  'npm-packages': { type: 'string' },
  push: { type: 'boolean' },
  engine: { type: 'string' },
  timeout: { type: 'string' },
} as const;

/** Default limit of the build, and of the push, in minutes. */
const DEFAULT_TIMEOUT_MIN = 60;

const help = `usage: riots batch build-image [options]

Build the compute-worker image from aws/Dockerfile (context: the riots package), tagged
'${WORKER_TAG}' locally. With --main, build your main image instead from a Dockerfile that
starts FROM ${WORKER_TAG} (context: the current folder), tagged '${MAIN_TAG}'.
With --push, log in to ECR and push it to the stack's BatchECR (or BatchECRMain) as :latest.
Needs a container engine: Docker when its engine answers, else podman (or --engine).

options:
  --main                 build the main image instead of the worker image
  -f, --file DOCKERFILE  the main image's Dockerfile (default Dockerfile.main); with --main
  --engine ENGINE        ${ENGINES.join(' or ')} (default: $RIOTS_CONTAINER_ENGINE, else Docker
                         when its engine answers, else podman)
  --platform PLATFORM    ${PLATFORMS.join(' or ')} ('docker buildx build --load', or podman's --platform);
                         must match the stack's instance type (Graviton is linux/arm64)
  --extra-packages "A B" Debian packages to add to the worker image
                         (default: $EXTRA_PACKAGES)
  --npm-packages "A B"   npm packages to add for your functions (default: $NPM_PACKAGES)
  --push                 push to the stack's repository as :latest
  --timeout MINUTES      stop the build, and the push, if either takes longer (default ${DEFAULT_TIMEOUT_MIN})
${STACK_HELP}`;

async function run(argv: string[]): Promise<number> {
  const parsed = parseOptions(argv, options, help);
  if (!parsed) return 0;
  const v = parsed.values;
  const main = v.main === true;
  if (v.file !== undefined && !main) throw new UsageError('-f/--file is for the main image: add --main');
  if (v.platform !== undefined && !(PLATFORMS as readonly string[]).includes(v.platform)) {
    throw new UsageError(`--platform must be ${PLATFORMS.join(' or ')}, not '${v.platform}'`);
  }
  const minutes = v.timeout === undefined ? DEFAULT_TIMEOUT_MIN : Number(v.timeout);
  if (!Number.isFinite(minutes) || minutes <= 0) throw new UsageError(`--timeout must be a number of minutes > 0, not '${v.timeout}'`);
  const timeoutMs = minutes * 60_000;
  const engine = await chooseEngine(v.engine);
  // Find the repository before a long build, so a missing stack is said at once.
  let repo: string | undefined;
  let region: string | undefined;
  if (v.push === true) {
    const outputs = await getStackOutputs(stackOpts(v));
    repo = requireOutput(outputs, main ? 'BatchECRMain' : 'BatchECR', `to push the ${main ? 'main' : 'worker'} image`);
    region = outputs.region;
  }
  const args = buildArgs(
    {
      main,
      dockerfile: v.file,
      platform: v.platform,
      extraPackages: (v['extra-packages'] ?? process.env.EXTRA_PACKAGES ?? '').trim(),
      npmPackages: (v['npm-packages'] ?? process.env.NPM_PACKAGES ?? '').trim(),
      packageRoot: packageRoot(),
      cwd: process.cwd(),
    },
    engine,
  );
  const tag = main ? MAIN_TAG : WORKER_TAG;
  out(`building ${main ? 'main' : 'worker'} image '${tag}': ${engine} ${args.join(' ')}`);
  await engineStep(engine, `building image '${tag}'`, args, { timeoutMs });
  if (repo === undefined) {
    out(`built '${tag}'; push it with 'riots batch build-image${main ? ' --main' : ''} --push'`);
    return 0;
  }
  await ecrLogin(engine, region, repo);
  const remote = await pushImage(engine, tag, repo, timeoutMs);
  out(`pushed ${remote}`);
  return 0;
}

export const buildImage: BatchSubcommand = {
  summary: 'build the worker (or --main) image with Docker or podman, and --push it to ECR',
  help,
  run,
};
