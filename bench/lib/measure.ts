/**
 * Timing helpers for benchmarks: whole commands as child processes, wall time measured here and
 * peak RSS from GNU time (%M, the child's ru_maxrss including what it waited for).
 */
import { spawn, spawnSync } from 'node:child_process';
import os from 'node:os';

export interface RunResult {
  wall: number;
  /** Peak resident set of the child, MB. */
  maxRssMB: number;
  /** CPU seconds of the child and what it waited for (user + system). */
  cpu: number;
  stdout: string;
}

export function runMeasured(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): RunResult {
  const t0 = process.hrtime.bigint();
  const t = spawnSync('/usr/bin/time', ['-f', 'MAXRSS=%M CPU=%U+%S', cmd, ...args], { encoding: 'utf8', env, maxBuffer: 1 << 26 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (t.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${t.stderr}`);
  const m = /MAXRSS=(\d+) CPU=([\d.]+)\+([\d.]+)/.exec(t.stderr);
  return { wall, stdout: t.stdout, maxRssMB: m ? Number(m[1]) / 1024 : NaN, cpu: m ? Number(m[2]) + Number(m[3]) : NaN };
}

/** {@link runMeasured} without blocking this process's event loop (wall time and stdout only). */
export function runMeasuredAsync(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ wall: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(' ')} failed (${code})`));
      resolve({ wall: (performance.now() - t0) / 1000, stdout: out });
    });
  });
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

export function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${os.cpus().length} cores (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`;
}

/**
 * Run `script --run ARGS…` under tsx as a child process; it prints JSON {applySeconds, report}
 * as its last line. Resolves with that and the child's wall time.
 */
export function runApplyChild(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ wall: number; applySeconds: number; report: string; trace?: string; startup?: number[] }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['--import', 'tsx', script, '--run', ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.on('exit', (code) => {
      const wall = (performance.now() - t0) / 1000;
      if (code !== 0) return reject(new Error(`${script} --run failed (${code})`));
      const j = JSON.parse(out.trim().split('\n').pop()!) as { applySeconds: number; report: string; trace?: string; startup?: number[] };
      resolve({ wall, ...j });
    });
  });
}
