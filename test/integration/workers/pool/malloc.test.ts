/**
 * The glibc malloc settings riots gives its worker processes (src/workers/pool/malloc.ts): merged with
 * the user's GLIBC_TUNABLES name by name, and the same value in the Batch image.
 */
import { REPO_ROOT } from '../../../helpers/root.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { readDockerfile } from '../../../../src/aws/local/dockerfile.js';
import { WORKER_MALLOC_TUNABLES, withWorkerMallocTunables } from '../../../../src/workers/pool/malloc.js';

const ROOT = REPO_ROOT;

test('withWorkerMallocTunables adds only the names the user did not set', () => {
  assert.equal(withWorkerMallocTunables(undefined), WORKER_MALLOC_TUNABLES);
  assert.equal(withWorkerMallocTunables(''), WORKER_MALLOC_TUNABLES);
  assert.equal(
    withWorkerMallocTunables('glibc.malloc.hugetlb=0'),
    'glibc.malloc.hugetlb=0:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824',
  );
  assert.equal(
    withWorkerMallocTunables('glibc.pthread.rseq=0::glibc.malloc.mmap_threshold=1'),
    'glibc.pthread.rseq=0:glibc.malloc.mmap_threshold=1:glibc.malloc.trim_threshold=1073741824:glibc.malloc.hugetlb=1',
  );
  const all = 'glibc.malloc.mmap_threshold=1:glibc.malloc.trim_threshold=2:glibc.malloc.hugetlb=0';
  assert.equal(withWorkerMallocTunables(all), all);
});

test('glibc takes every setting, with its value', () => {
  // the dynamic loader lists the tunables it parsed, with their values
  const loader = process.arch === 'arm64' ? '/lib/ld-linux-aarch64.so.1' : '/lib64/ld-linux-x86-64.so.2';
  const r = spawnSync(loader, ['--list-tunables'], { env: { GLIBC_TUNABLES: WORKER_MALLOC_TUNABLES }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const seen = new Map([...r.stdout.matchAll(/^(glibc\.\S+): (0x[0-9a-f]+)/gm)].map((m) => [m[1]!, BigInt(m[2]!)]));
  for (const kv of WORKER_MALLOC_TUNABLES.split(':')) {
    const [name, value] = kv.split('=') as [string, string];
    assert.equal(seen.get(name), BigInt(value), name);
  }
});

test('a Node process with them reuses freed block buffers instead of faulting in fresh pages', () => {
  // 500 arrays of 256 KiB, each dropped after use: with glibc's defaults each is mapped fresh
  const script =
    'const f0 = process.resourceUsage().minorPageFault; for (let i = 0; i < 500; i++) new Float32Array(65536).fill(i); console.log(process.resourceUsage().minorPageFault - f0);';
  const faults = (tunables: string | undefined): number => {
    const env = { ...process.env };
    if (tunables === undefined) delete env.GLIBC_TUNABLES;
    else env.GLIBC_TUNABLES = tunables;
    const r = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return Number(r.stdout.trim());
  };
  const plain = faults(undefined);
  const tuned = faults(WORKER_MALLOC_TUNABLES);
  assert.ok(plain > 500 * 16, `the default allocator faults in fresh pages for every array (${plain} faults)`);
  assert.ok(tuned < plain * 0.75, `${tuned} page faults with the settings against ${plain} without`);
});

test('aws/Dockerfile gives its jobs the same settings', () => {
  const spec = readDockerfile(path.join(ROOT, 'aws', 'Dockerfile'));
  assert.equal(spec.env.GLIBC_TUNABLES, WORKER_MALLOC_TUNABLES);
  assert.match(readFileSync(path.join(ROOT, 'aws', 'Dockerfile'), 'utf8'), /src\/workers\/malloc\.ts/);
});
