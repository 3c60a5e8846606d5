/**
 * `riots batch preflight`: check the stack before a run, one PASS/FAIL line per check.
 */
import { preflight } from '../../aws/preflight.js';
import { STACK_HELP, STACK_OPTIONS, out, parseOptions, stackOpts, wholeNumber, type BatchSubcommand } from './common.js';

const help = `usage: riots batch preflight [options]

Check that the riots AWS Batch stack is ready for a run, and print PASS, FAIL or SKIP for each:
  - the stack exists and has its outputs;
  - its security group (BatchSecurityGroup) lets members reach each other on TCP 30000-50000,
    which the compute workers need to connect back to the main process;
  - the worker and main job queues are VALID and ENABLED;
  - their compute environments are VALID and ENABLED;
  - BatchMaxVCPUS / BatchVCPUS allows the number of compute workers you will ask for;
  - the worker image is in BatchECR as :latest (every job pulls it), and the main image in
    BatchECRMain (SKIP when it is not: only riots batch submit-main needs it);
  - for CW_ECS: the ECS cluster is ACTIVE, and the worker task definition ACTIVE and
    Fargate-compatible (SKIP for a stack made before CW_ECS).
Exits non-zero when any check fails.

options:
  --workers N            the numComputeWorkers you will use (default 1)
${STACK_HELP}`;

async function run(argv: string[]): Promise<number> {
  const parsed = parseOptions(argv, { ...STACK_OPTIONS, workers: { type: 'string' } } as const, help);
  if (!parsed) return 0;
  const v = parsed.values;
  const workers = wholeNumber(v.workers, 'workers') ?? 1;
  const results = await preflight({ ...stackOpts(v), workers });
  for (const r of results) out(`${r.state.padEnd(4)}  ${r.name}: ${r.detail}`);
  const failed = results.filter((r) => r.state === 'FAIL').length;
  const skipped = results.filter((r) => r.state === 'SKIP').length;
  out(failed > 0 ? `${failed} check(s) failed` : skipped > 0 ? `no check failed; ${skipped} skipped` : 'all checks passed');
  return failed === 0 ? 0 : 1;
}

export const preflightCommand: BatchSubcommand = { summary: 'check the stack is ready for a run', help, run };
