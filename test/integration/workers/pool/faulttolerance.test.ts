/**
 * Channel workers that die, stall, go slow or never arrive (CW_SUBPROC, the reference for every
 * remote kind). Events are ordered through the backend's diagnostics events, never sleeps;
 * heartbeats and loss timeouts are short through computeWorkerExtraParams.
 */
import { REPO_ROOT } from '../../../helpers/root.js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { apply } from '../../../../src/applier/apply.js';
import { InputError, InputMissingError, InterruptedError, TimeoutError, WorkerLostError } from '../../../../src/errors.js';
import { alive, channelFixture, type ChannelFixture, type EventLog, riotsTempEntries, subprocControls, withEventLog } from '../../../helpers/subproc.js';

let dir: string;
let inputs: { a: string; b: string };
let combine: Parameters<typeof apply>[0];
let userModule: string;
let seqBytes: Buffer;
const COLS = 512;
const ROWS = 384; // 8 x 6 = 48 blocks of 64
const BLOCKS = 48;

let fx: ChannelFixture;

before(async () => {
  fx = await channelFixture('riots-ft-test-', COLS, ROWS);
  ({ dir, inputs, combine, seqBytes, userModule } = fx);
});

after(() => fx.close());

async function failure(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => assert.fail('the run should fail'),
    (e: unknown) => e as Error,
  );
}

function pidOf(log: EventLog, workerId: number): number {
  return log.of('connected').find((e) => e.workerId === workerId)!.pid;
}

describe('worker loss', () => {
  test('SIGKILL of 1 of 3 workers at about half the blocks: identical output, nothing left', async () => {
    await withEventLog(async (log) => {
      let victim: number | undefined;
      log.on((e) => {
        if (e.event !== 'result' || victim !== undefined || log.of('result').length < BLOCKS / 2) return;
        // a worker with blocks in flight: the last one handed a block that has no result yet
        const open = log.of('dispatched').filter((d) => !log.of('result').some((r) => r.blockIndex === d.blockIndex && r.attempt === d.attempt));
        victim = open[open.length - 1]!.workerId;
        process.kill(pidOf(log, victim), 'SIGKILL');
      });
      const out = path.join(dir, 'kill.tif');
      const r = await apply(combine, inputs, { out }, { controls: subprocControls(3), otherArgs: { busyMs: 5 } });
      assert.deepEqual(readFileSync(out), seqBytes);
      const lost = log.of('lost');
      assert.equal(lost.length, 1);
      assert.equal(lost[0]!.workerId, victim);
      assert.ok(lost[0]!.requeued.length >= 1, 'its blocks were re-queued');
      for (const b of lost[0]!.requeued)
        assert.ok(
          log.of('result').some((x) => x.blockIndex === b && x.workerId !== victim),
          `block ${b} done by another worker`,
        );
      assert.equal(r.otherArgsList.length, log.of('connected').length - 1, 'the lost worker has no final otherArgs');
    });
  });

  test('SIGSTOP of a worker: its blocks are re-queued, the run completes, its late results are discarded after SIGCONT', async () => {
    await withEventLog(async (log) => {
      let stopped: number | undefined;
      log.on((e) => {
        if (e.event === 'result' && stopped === undefined && log.of('result').length >= 8 && e.workerId !== undefined) {
          // it has just sent a result and is running its next block
          if (
            !log
              .of('dispatched')
              .some((d) => d.workerId === e.workerId && !log.of('result').some((r) => r.blockIndex === d.blockIndex && r.attempt === d.attempt))
          )
            return;
          stopped = e.workerId;
          process.kill(pidOf(log, stopped), 'SIGSTOP');
        }
        if (e.event === 'lost' && e.workerId === stopped) process.kill(pidOf(log, stopped), 'SIGCONT');
      });
      const out = path.join(dir, 'stop.tif');
      // lostWorkerDrainSeconds: the end of the run waits for the continued worker to go by itself
      await apply(combine, inputs, { out }, { controls: subprocControls(3, { lostWorkerDrainSeconds: 30 }), otherArgs: { busyMs: 40 } });
      assert.deepEqual(readFileSync(out), seqBytes);
      const lost = log.of('lost');
      assert.equal(lost.length, 1);
      assert.equal(lost[0]!.workerId, stopped);
      assert.match(lost[0]!.reason, /sent nothing/);
      const discarded = log.of('discarded').filter((d) => d.workerId === stopped);
      assert.ok(discarded.length >= 1, 'a late result from the stopped worker was discarded');
      for (const d of discarded) {
        assert.ok(lost[0]!.requeued.includes(d.blockIndex), `block ${d.blockIndex} had been re-queued`);
        assert.ok(
          log.of('result').some((r) => r.blockIndex === d.blockIndex && r.attempt > d.attempt),
          'its later attempt was the one kept',
        );
      }
    });
  });

  test('with the default timeouts, a worker stopped while it holds the block the writer needs is recovered, not a timeout', async () => {
    // workerLostSeconds (15) < computeBufferPopTimeout (20), both defaults: the stopped worker is
    // declared lost first, block 0 is handed out anew and the writer's clock starts again
    await withEventLog(async (log) => {
      let stopped: number | undefined;
      log.on((e) => {
        if (e.event === 'dispatched' && e.blockIndex === 0 && stopped === undefined && e.workerId !== undefined) {
          stopped = e.workerId;
          process.kill(pidOf(log, stopped), 'SIGSTOP');
        }
        if (e.event === 'lost' && e.workerId === stopped) process.kill(pidOf(log, stopped), 'SIGCONT');
      });
      const out = path.join(dir, 'stop-defaults.tif');
      const controls = { windowXSize: 64, windowYSize: 64, concurrency: { computeWorkerKind: 'CW_SUBPROC' as const, numComputeWorkers: 3, numReadWorkers: 1 } };
      await apply(combine, inputs, { out }, { controls, otherArgs: { busyMs: 5 } });
      assert.deepEqual(readFileSync(out), seqBytes);
      const lost = log.of('lost');
      assert.equal(lost.length, 1);
      assert.equal(lost[0]!.workerId, stopped);
      assert.match(lost[0]!.reason, /sent nothing, not even a heartbeat, for more than 15 s \(workerLostSeconds/);
      assert.ok(lost[0]!.requeued.includes(0));
    });
  });

  test('a block that kills its worker 3 times fails the run naming the block', async () => {
    await withEventLog(async (log) => {
      const out = path.join(dir, 'die.tif');
      const err = await failure(apply(combine, inputs, { out }, { controls: subprocControls(3), otherArgs: { dieOnBlock: 7 } }));
      assert.ok(err instanceof WorkerLostError, String(err));
      assert.equal(err.block?.index, 7);
      assert.match(err.message, /block 7 \(x 448\.\.511, y 0\.\.63\) killed its worker 3 times/);
      assert.equal(log.of('lost').length, 3);
      assert.equal(existsSync(out), false);
    });
  });

  test('every worker gone: a clear error, no hang', async () => {
    await withEventLog(async () => {
      const err = await failure(apply(combine, inputs, { out: path.join(dir, 'gone.tif') }, { controls: subprocControls(2), otherArgs: { dieOnBlock: 9 } }));
      assert.ok(err instanceof WorkerLostError, String(err));
      assert.match(err.message, /every CW_SUBPROC compute worker is gone/);
      assert.match(err.message, /exited with code 7/);
    });
  });

  test('an interrupt stops the workers, closes the channel and removes the temporary output', async () => {
    await withEventLog(async (log) => {
      const ac = new AbortController();
      log.on((e) => {
        if (e.event === 'result' && log.of('result').length === 10) ac.abort(new InterruptedError('interrupted by SIGINT (test)'));
      });
      const out = path.join(dir, 'abort.tif');
      const err = await failure(apply(combine, inputs, { out }, { controls: subprocControls(2), otherArgs: { busyMs: 10 }, signal: ac.signal }));
      assert.ok(err instanceof InterruptedError, String(err));
      assert.equal(existsSync(out), false);
    });
  });

  test('workers are launched while the inputs open; an input that then fails stops them and leaves nothing', async () => {
    // an input that takes a second to fail: an HTTP server that answers 404 after 1 s
    const server = http.createServer((_req, res) => setTimeout(() => res.writeHead(404).end(), 1000));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `/vsicurl/http://127.0.0.1:${(server.address() as AddressInfo).port}/slow.tif`;
    try {
      await withEventLog(
        async (log) => {
          const out = path.join(dir, 'missing-input.tif');
          const err = await failure(apply(combine, { a: inputs.a, b: url }, { out }, { controls: subprocControls(2) }));
          assert.ok(err instanceof InputError, String(err));
          assert.ok(err.message.includes(url), err.message);
          assert.equal(log.of('launched').length, 2, 'both workers were launched while the input was opening');
          assert.equal(log.of('result').length, 0);
          assert.equal(existsSync(out), false);
        },
        { workersStarted: true },
      );
    } finally {
      server.close();
    }
  });

  test('an input missing at once: no worker outlives the error', async () => {
    await withEventLog(async () => {
      const err = await failure(
        apply(combine, { a: inputs.a, b: path.join(dir, 'no-such-input.tif') }, { out: path.join(dir, 'missing.tif') }, { controls: subprocControls(2) }),
      );
      assert.ok(err instanceof InputMissingError, String(err));
      assert.match(err.message, /no-such-input\.tif/);
    });
  });

  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    test(`${sig} to the main process stops the workers and removes the temporary output`, async () => {
      const tempBefore = riotsTempEntries();
      const out = path.join(dir, `sig-${sig}.tif`);
      const runner = path.join(REPO_ROOT, 'test', 'helpers', 'subprocrun.ts');
      const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), runner, inputs.a, inputs.b, out, userModule, '2'], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      const pids: number[] = [];
      const lines: string[] = [];
      for await (const line of createInterface({ input: child.stdout })) {
        lines.push(line);
        if (line.startsWith('PID ')) pids.push(Number(line.slice(4)));
        if (line === 'RESULT 5') child.kill(sig);
      }
      const code = await new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', r)));
      assert.equal(code, 0);
      assert.match(lines[lines.length - 1]!, new RegExp(`^ERROR INTERRUPTED interrupted by ${sig}`));
      assert.equal(pids.length, 2);
      for (const pid of pids) assert.equal(alive(pid), false, `worker ${pid} is gone`);
      assert.deepEqual(
        readdirSync(dir).filter((n) => n.startsWith(`sig-${sig}`)),
        [],
        'no output or temporary output left',
      );
      assert.deepEqual(
        riotsTempEntries().filter((e) => !tempBefore.includes(e)),
        [],
      );
    });
  }
});

describe('a main process that dies in the middle of a run', () => {
  for (const how of ['throw', 'exit'] as const) {
    const what = how === 'throw' ? 'an uncaught exception elsewhere in the program' : 'process.exit()';
    test(`${what}: no temporary output, spill file, run folder or worker is left`, async () => {
      const tempBefore = riotsTempEntries();
      const out = path.join(dir, `crash-${how}.tif`);
      const runner = path.join(REPO_ROOT, 'test', 'helpers', 'subprocrun.ts');
      const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), runner, inputs.a, inputs.b, out, userModule, '2', how], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      const pids: number[] = [];
      const lines: string[] = [];
      for await (const line of createInterface({ input: child.stdout })) {
        lines.push(line);
        if (line.startsWith('PID ')) pids.push(Number(line.slice(4)));
      }
      const code = await new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', r)));
      assert.equal(code, how === 'throw' ? 1 : 7);
      assert.ok(lines.includes('RESULT 5') && !lines.includes('DONE'), `the run was cut short: ${lines.slice(-3).join(' | ')}`);
      assert.equal(pids.length, 2);
      // the workers see their connection close and exit by themselves
      const deadline = Date.now() + 10000;
      while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      for (const pid of pids) assert.equal(alive(pid), false, `worker ${pid} is gone`);
      assert.deepEqual(
        readdirSync(dir).filter((n) => n.startsWith(`crash-${how}`)),
        [],
        'no output, temporary output or spill file left',
      );
      assert.deepEqual(
        riotsTempEntries().filter((e) => !tempBefore.includes(e)),
        [],
      );
    });
  }
});

describe('scheduling', () => {
  test('a worker slowed 10x does fewer than 1/(2N) of the blocks', async () => {
    await withEventLog(
      async (log) => {
        const out = path.join(dir, 'slow.tif');
        await apply(
          combine,
          inputs,
          { out },
          { controls: subprocControls(3, { workerLostSeconds: 10 }), otherArgs: { busyMs: 40, slowWorker: 1, slowFactor: 10 } },
        );
        assert.deepEqual(readFileSync(out), seqBytes);
        const bySlow = log.of('result').filter((r) => r.workerId === 1).length;
        assert.ok(bySlow < BLOCKS / 6, `the slow worker did ${bySlow} of ${BLOCKS} blocks`);
      },
      { checkNothingLeft: false },
    );
  });

  test('no worker ready within computeBarrierTimeout: a TimeoutError listing the workers, nothing left', async () => {
    await withEventLog(async (log) => {
      log.on((e) => {
        if (e.event === 'launched') process.kill(Number(/pid (\d+)/.exec(e.handle)![1]), 'SIGSTOP');
      });
      const controls = subprocControls(2);
      (controls.concurrency as Record<string, unknown>).computeBarrierTimeout = 1.5;
      const out = path.join(dir, 'barrier.tif');
      const err = await failure(apply(combine, inputs, { out }, { controls }));
      assert.ok(err instanceof TimeoutError, String(err));
      assert.match(err.message, /computeBarrierTimeout/);
      assert.match(err.message, /worker 0 \(pid \d+\).*worker 1 \(pid \d+\)/);
      assert.equal(log.of('result').length, 0);
      assert.equal(existsSync(out), false);
    });
  });

  test('with 2 of 3 workers held at the handshake, the blocks still complete', async () => {
    await withEventLog(async (log) => {
      const held: number[] = [];
      log.on((e) => {
        if (e.event === 'launched' && e.workerId !== 0) {
          const pid = Number(/pid (\d+)/.exec(e.handle)![1]);
          process.kill(pid, 'SIGSTOP');
          held.push(e.workerId);
        }
      });
      const out = path.join(dir, 'held.tif');
      const r = await apply(combine, inputs, { out }, { controls: subprocControls(3) });
      assert.deepEqual(readFileSync(out), seqBytes);
      assert.deepEqual(held.sort(), [1, 2]);
      assert.deepEqual([...new Set(log.of('result').map((x) => x.workerId))], [0]);
      assert.deepEqual(
        log.of('connected').map((c) => c.workerId),
        [0],
      );
      assert.equal(r.otherArgsList.length, 1);
    });
  });
});
