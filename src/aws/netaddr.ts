/**
 * The address compute workers on AWS Batch connect back to: by default this machine's primary
 * private IPv4 (the address of the interface holding the default route), which is what other
 * instances in the VPC reach. It can be given explicitly, for NAT or multi-homed hosts, with
 * `computeWorkerExtraParams.channelAddress` or the environment variable {@link CHANNEL_ADDRESS_ENV}.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import os from 'node:os';
import { ControlsError } from '../errors.js';

/** Environment variable giving the advertised channel address (host name or IP). */
export const CHANNEL_ADDRESS_ENV = 'RIOTS_CHANNEL_ADDRESS';

/** Whether an IPv4 address is in a private range (RFC 1918) or the shared range (RFC 6598). */
export function isPrivateIPv4(addr: string): boolean {
  if (isIP(addr) !== 4) return false;
  const [a, b] = addr.split('.').map(Number) as [number, number];
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127);
}

/** Interfaces with a default route, from /proc/net/route text (Linux); lowest metric first. */
export function defaultRouteInterfaces(routeTable: string): string[] {
  const rows: { iface: string; metric: number }[] = [];
  for (const line of routeTable.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    if (f[1] === '00000000' && f[7] === '00000000') rows.push({ iface: f[0]!, metric: Number(f[6]) || 0 });
  }
  return rows.sort((x, y) => x.metric - y.metric).map((r) => r.iface);
}

type Interfaces = ReturnType<typeof os.networkInterfaces>;

/**
 * Pick the primary IPv4 from interface data: the first IPv4 of a default-route interface, else the
 * first private non-internal IPv4, else any non-internal IPv4. Pure, for tests.
 */
export function pickPrimaryIPv4(ifaces: Interfaces, defaultIfaces: string[]): string | undefined {
  const v4 = (name: string): string[] => (ifaces[name] ?? []).filter((a) => a.family === 'IPv4' && !a.internal).map((a) => a.address);
  for (const name of defaultIfaces) {
    const a = v4(name)[0];
    if (a !== undefined) return a;
  }
  const all = Object.keys(ifaces).flatMap(v4);
  return all.find(isPrivateIPv4) ?? all[0];
}

/**
 * This machine's primary private IPv4.
 * @throws {ControlsError} when the machine has no non-loopback IPv4 address.
 */
export function primaryPrivateIPv4(): string {
  let table = '';
  try {
    table = readFileSync('/proc/net/route', 'utf8');
  } catch {
    // not Linux: fall back to the interface list alone
  }
  const addr = pickPrimaryIPv4(os.networkInterfaces(), defaultRouteInterfaces(table));
  if (addr === undefined) {
    throw new ControlsError(
      `this machine has no non-loopback IPv4 address for compute workers to connect to; ` +
        `set computeWorkerExtraParams.channelAddress or ${CHANNEL_ADDRESS_ENV}`,
    );
  }
  return addr;
}

/**
 * The address to advertise: `explicit` (from computeWorkerExtraParams), else {@link CHANNEL_ADDRESS_ENV},
 * else {@link primaryPrivateIPv4}.
 * @throws {ControlsError} for an empty or malformed explicit address.
 */
export function advertisedChannelAddress(explicit: unknown, env: NodeJS.ProcessEnv = process.env): string {
  const given =
    explicit !== undefined ? explicit : env[CHANNEL_ADDRESS_ENV] !== undefined && env[CHANNEL_ADDRESS_ENV] !== '' ? env[CHANNEL_ADDRESS_ENV] : undefined;
  const where = explicit !== undefined ? 'computeWorkerExtraParams.channelAddress' : CHANNEL_ADDRESS_ENV;
  if (given === undefined) return primaryPrivateIPv4();
  if (typeof given !== 'string' || !/^[A-Za-z0-9.:_-]+$/.test(given) || given.includes(',')) {
    throw new ControlsError(`${where} must be a host name or IP address (got ${JSON.stringify(given)})`);
  }
  return given;
}
