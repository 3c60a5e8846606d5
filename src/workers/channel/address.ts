/**
 * How a worker learns where the main process listens and the run's key, without the key ever
 * appearing in argv (and so in `ps`): either a file only the user can read
 * (`--channaddrfile FILE`), or `--channaddr host,port` plus the key in the environment
 * variable {@link CHANNEL_KEY_ENV} as hex.
 */
import { promises as fs } from 'node:fs';
import { AuthError, ChannelError } from '../../errors.js';
import type { ChannelAddress } from './channel.js';
import { KEY_BYTES } from './handshake.js';

/** Environment variable holding the channel key (hex) for `--channaddr`. */
export const CHANNEL_KEY_ENV = 'RIOTS_CHANNEL_KEY';

function parseKeyHex(hex: string, where: string): Buffer {
  if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== 2 * KEY_BYTES) {
    throw new AuthError(`${where}: the channel key must be ${2 * KEY_BYTES} hex digits`);
  }
  return Buffer.from(hex, 'hex');
}

function checkPort(port: unknown, where: string): number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ChannelError(`${where}: port must be an integer 1..65535, got ${String(port)}`);
  }
  return port;
}

/**
 * Write the channel address and key to a new file readable by the owner only (mode 0600).
 * Refuses to overwrite an existing file (which another user might be able to read).
 * @throws {ChannelError} when the file exists or cannot be written.
 */
export async function writeChannelAddrFile(path: string, addr: ChannelAddress): Promise<void> {
  const text = JSON.stringify({ host: addr.host, port: addr.port, key: Buffer.from(addr.key).toString('hex') }) + '\n';
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(path, 'wx', 0o600);
    await fh.chmod(0o600);
    await fh.writeFile(text, 'utf8');
  } catch (err) {
    throw new ChannelError(`cannot write channel address file ${path}: ${(err as Error).message}`, { file: path, cause: err });
  } finally {
    await fh?.close();
  }
}

/**
 * Read a file written by {@link writeChannelAddrFile}.
 * @throws {AuthError} when the file can be read by group or others (the key would be exposed), or the key is malformed.
 * @throws {ChannelError} when it cannot be read or parsed.
 */
export async function readChannelAddrFile(path: string): Promise<ChannelAddress> {
  let text: string;
  try {
    const st = await fs.stat(path);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw new AuthError(`channel address file ${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}); it must be 0600`, { file: path });
    }
    text = await fs.readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof AuthError) throw err;
    throw new ChannelError(`cannot read channel address file ${path}: ${(err as Error).message}`, { file: path, cause: err });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ChannelError(`channel address file ${path} is not valid JSON`, { file: path, cause: err });
  }
  const o = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>;
  if (typeof o.host !== 'string' || o.host === '') throw new ChannelError(`channel address file ${path}: host missing`, { file: path });
  if (typeof o.key !== 'string') throw new AuthError(`channel address file ${path}: key missing`, { file: path });
  return { host: o.host, port: checkPort(o.port, `channel address file ${path}`), key: parseKeyHex(o.key, `channel address file ${path}`) };
}

/**
 * Parse `--channaddr host,port` and take the key from {@link CHANNEL_KEY_ENV}.
 * @throws {ChannelError} on a malformed address; {@link AuthError} when the variable is missing or malformed.
 */
export function channelAddressFromArg(channaddr: string, env: NodeJS.ProcessEnv = process.env): ChannelAddress {
  const comma = channaddr.lastIndexOf(',');
  if (comma <= 0) throw new ChannelError(`--channaddr must be host,port, got ${JSON.stringify(channaddr)}`);
  const host = channaddr.slice(0, comma);
  const portText = channaddr.slice(comma + 1);
  if (!/^\d+$/.test(portText)) throw new ChannelError(`--channaddr port must be a number, got ${JSON.stringify(portText)}`);
  const hex = env[CHANNEL_KEY_ENV];
  if (hex === undefined || hex === '') throw new AuthError(`--channaddr needs the channel key in the environment variable ${CHANNEL_KEY_ENV}`);
  return { host, port: checkPort(Number(portText), '--channaddr'), key: parseKeyHex(hex, CHANNEL_KEY_ENV) };
}

/** The environment entry that carries `key` to a worker started with `--channaddr`. */
export function channelKeyEnv(key: Uint8Array): Record<string, string> {
  return { [CHANNEL_KEY_ENV]: Buffer.from(key).toString('hex') };
}
