/**
 * A minimal worker process for channel tests: connects with `--channaddrfile FILE` or
 * `--channaddr host,port` (key from RIOTS_CHANNEL_KEY), answers `setup` with `ready`, each task
 * with a result whose outputs are its inputs with every byte inverted, and `shutdown` with
 * `finished` carrying the setup's otherArgs plus a task count. Exits when the channel closes.
 * Usage: node --import tsx test/helpers/channelworker.ts -i ID (--channaddrfile F | --channaddr H,P) [--timeout S]
 */
import { ChannelClient } from '../../src/workers/channel/channel.js';
import { channelAddressFromArg, readChannelAddrFile } from '../../src/workers/channel/address.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const file = arg('--channaddrfile');
const addr = file !== undefined ? await readChannelAddrFile(file) : channelAddressFromArg(arg('--channaddr') ?? '');
const conn = await ChannelClient.connect({ ...addr, workerId: Number(arg('-i')), timeoutSeconds: Number(arg('--timeout') ?? 10), heartbeatSeconds: 0.1 });
let otherArgs: unknown = null;
let done = 0;
conn.on('close', (err) => {
  process.stderr.write(`worker closed: ${err ? err.message : 'orderly'}\n`);
  process.exit(err ? 3 : 0);
});
for await (const m of conn.messages()) {
  if (m.type === 'setup') {
    otherArgs = m.otherArgs;
    await conn.send({ type: 'ready' });
  } else if (m.type === 'tasks') {
    for (const t of m.tasks) {
      const outputs = t.inputs.map((i) => ({ ...i, data: i.data.map((x) => 255 - x) }));
      done++;
      await conn.send({
        type: 'result',
        taskId: t.taskId,
        blockIndex: t.block.index,
        attempt: t.attempt,
        outputs,
        timings: { userfunction: { seconds: 0, count: 1 } },
      });
    }
  } else if (m.type === 'shutdown') {
    await conn.send({ type: 'finished', otherArgs: { received: otherArgs, done }, timings: {} });
    await conn.close();
  }
}
