/**
 * The channel of one run: a private folder (0700, removed at the end and at process exit), the
 * authenticated server the workers connect to, and how a worker is told where it is and the key
 * (an address file in the folder, or the key in the worker's environment).
 */
import { promises as fs, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cleanUpAtExit } from '../../exitcleanup.js';
import { channelKeyEnv, writeChannelAddrFile } from '../channel/address.js';
import { ChannelServer, type WorkerConnection } from '../channel/channel.js';
import type { Launcher, WorkerChannelAddress } from './launcher.js';
import type { ChannelBackendSettings } from './settings.js';

export class RunChannel {
  private constructor(
    /** The run's private folder. */
    readonly tempDir: string,
    private readonly keepTempDirAtExit: () => void,
    readonly server: ChannelServer,
    /** Where workers connect. */
    readonly addr: WorkerChannelAddress,
    /** What a worker's environment adds: the key, when there is no address file. */
    readonly env: Record<string, string>,
  ) {}

  /**
   * Make the folder and start the server. `alive()` is asked between the steps: it throws when the
   * run failed meanwhile, and what was made is then removed.
   */
  static async open(o: {
    tempBase: string | undefined;
    settings: ChannelBackendSettings;
    launcher: Pick<Launcher<unknown>, 'bindHost' | 'advertiseHost' | 'useAddrFile'>;
    allocPayload: (bytes: number) => ArrayBuffer;
    onConnection: (c: WorkerConnection) => void;
    alive: () => void;
  }): Promise<RunChannel> {
    const tempDir = await fs.mkdtemp(path.join(o.tempBase ?? os.tmpdir(), 'riots-run-'));
    const keep = cleanUpAtExit(() => rmSync(tempDir, { recursive: true, force: true }));
    let server: ChannelServer | undefined;
    try {
      o.alive();
      const s = o.settings;
      server = await ChannelServer.create({
        host: s.channelHost ?? o.launcher.bindHost ?? '0.0.0.0',
        ...(s.channelPortRange ? { portRange: s.channelPortRange } : {}),
        heartbeatSeconds: s.heartbeatSeconds,
        allocPayload: o.allocPayload,
        // the backend declares loss itself (and keeps the connection to discard late results); this is the backstop
        peerTimeoutSeconds: s.workerLostSeconds * 4,
      });
      o.alive();
      server.on('connection', o.onConnection);
      const a = server.address(s.advertiseHost ?? o.launcher.advertiseHost);
      const addr: WorkerChannelAddress = { host: a.host, port: a.port };
      if (o.launcher.useAddrFile) {
        addr.addrFile = path.join(tempDir, 'channel.addr');
        await writeChannelAddrFile(addr.addrFile, a);
      }
      return new RunChannel(tempDir, keep, server, addr, o.launcher.useAddrFile ? {} : channelKeyEnv(a.key));
    } catch (err) {
      await server?.close().catch(() => undefined);
      await fs.rm(tempDir, { recursive: true, force: true }).catch(() => undefined);
      keep();
      throw err;
    }
  }

  /** Close the server and remove the folder. */
  async close(): Promise<void> {
    await this.server.close().catch(() => undefined);
    await fs.rm(this.tempDir, { recursive: true, force: true }).catch(() => undefined);
    this.keepTempDirAtExit();
  }
}
