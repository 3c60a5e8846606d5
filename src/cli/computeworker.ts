/**
 * `riots computeworker -i ID (--channaddrfile FILE | --channaddr host,port)`: a compute worker
 * that connects back to a main process. riots starts it itself (CW_SUBPROC, AWS Batch, SLURM,
 * ...); the key never travels in argv, so it never shows in `ps`.
 */
import { parseArgs } from 'node:util';
import { ControlsError } from '../errors.js';
import { CHANNEL_KEY_ENV, channelAddressFromArg, readChannelAddrFile } from '../workers/channel/address.js';
import { runComputeWorker } from '../workers/worker/computeworker.js';

/** Default seconds the worker waits for an unreachable or silent main process before exiting. */
export const DEFAULT_WORKER_TIMEOUT = 60;

export const help = `usage: riots computeworker -i ID (--channaddrfile FILE | --channaddr HOST,PORT) [options]

Run one compute worker for a riots main process: connect to its data channel, authenticate with
the run's key, load the user function it sends, and compute the blocks it hands out until it
says to stop. riots starts these itself; you rarely run one by hand.

The key is never given on the command line (it would show in ps):
  --channaddrfile FILE   a file written by the main process, readable by its owner only (0600),
                         holding the host, port and key
  --channaddr HOST,PORT  the address; the key comes from the environment variable ${CHANNEL_KEY_ENV} (hex)

options:
  -i, --id ID            this worker's id (given by the main process)
  --timeout SECONDS      exit when the main process cannot be reached, or falls silent, for this
                         long (default ${DEFAULT_WORKER_TIMEOUT}; env RIOTS_WORKER_TIMEOUT)
  --heartbeat SECONDS    seconds between heartbeats (default 5)
  -h, --help             show this help
`;

function seconds(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new ControlsError(`${name} must be a positive number of seconds (got ${v})`);
  return n;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      id: { type: 'string', short: 'i' },
      channaddrfile: { type: 'string' },
      channaddr: { type: 'string' },
      timeout: { type: 'string' },
      heartbeat: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const id = Number(values.id);
  if (values.id === undefined || !Number.isInteger(id) || id < 0) {
    process.stderr.write('riots computeworker: -i ID (a non-negative integer) is required\n\n' + help);
    return 2;
  }
  if ((values.channaddrfile === undefined) === (values.channaddr === undefined)) {
    process.stderr.write('riots computeworker: give exactly one of --channaddrfile FILE or --channaddr HOST,PORT\n\n' + help);
    return 2;
  }
  const address = values.channaddrfile !== undefined ? await readChannelAddrFile(values.channaddrfile) : channelAddressFromArg(values.channaddr!);
  // The key is not for the user function or anything it starts.
  delete process.env[CHANNEL_KEY_ENV];
  const timeoutSeconds = seconds(values.timeout ?? process.env.RIOTS_WORKER_TIMEOUT, '--timeout', DEFAULT_WORKER_TIMEOUT);
  const heartbeatSeconds = values.heartbeat !== undefined ? seconds(values.heartbeat, '--heartbeat', 5) : undefined;
  const code = await runComputeWorker({ workerId: id, address, timeoutSeconds, ...(heartbeatSeconds !== undefined ? { heartbeatSeconds } : {}) });
  // Whatever the user function left open (timers, GDAL handles) must not keep a finished worker alive.
  process.exit(code);
}
