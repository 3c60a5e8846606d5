/**
 * `riots doctor`: each line checked against what this machine really has (gdalinfo's GDAL
 * version, esbuild's version, the region and credentials given), a stand-in docker for the
 * container engine, and riots installed without gdal-async for the failing case.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../../helpers/root.js';
import { fakeDocker } from '../../helpers/batchtools.js';
import { installedWithout } from '../../helpers/installed.js';

interface Finding {
  check: string;
  status: string;
  text: string;
}

function doctor(env: Record<string, string>, cli?: string): { code: number | null; findings: Finding[]; stdout: string } {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(base)) if (/^(AWS_|RIOS_AWSBATCH_)/.test(k)) delete base[k];
  const tsx = pathToFileURL(path.join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
  const argv = cli ? [cli, 'doctor', '--json'] : ['--import', tsx, path.join(REPO_ROOT, 'src/cli/main.ts'), 'doctor', '--json'];
  const r = spawnSync(process.execPath, argv, { env: { ...base, ...env }, encoding: 'utf8' });
  const findings = r.stdout
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Finding);
  return { code: r.status, findings, stdout: r.stdout + r.stderr };
}

const line = (fs: Finding[], check: string, re: RegExp): Finding => {
  const f = fs.find((x) => x.check === check && re.test(x.text));
  assert.ok(f, `a ${check} line matching ${re}: ${JSON.stringify(fs)}`);
  return f;
};

test('on this machine: every line says what is really here, and the exit code is 0', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'riots-doctor-'));
  try {
    fakeDocker(dir, path.join(dir, 'docker.log'));
    const env = {
      PATH: `${dir}:${process.env.PATH}`,
      AWS_DEFAULT_REGION: 'eu-west-3',
      AWS_ACCESS_KEY_ID: 'x',
      AWS_SECRET_ACCESS_KEY: 'y',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:4566',
      AWS_CONFIG_FILE: path.join(dir, 'none'),
    };
    const r = doctor(env);
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(
      r.findings.filter((f) => f.status === 'FAIL'),
      [],
    );
    line(r.findings, 'node', new RegExp(`^Node\\.js ${process.versions.node.replace(/\./g, '\\.')} `));
    const gdalVersion = /GDAL (\d+\.\d+\.\d+)/.exec(execFileSync('gdalinfo', ['--version'], { encoding: 'utf8' }))![1]!;
    line(r.findings, 'gdal', new RegExp(`with GDAL ${gdalVersion.replace(/\./g, '\\.')} \\(the system GDAL\\)`));
    line(r.findings, 'gdal', /^drivers GTiff, HFA, VRT and MEM$/);
    const esbuild = createRequire(import.meta.url)('esbuild') as { version: string };
    assert.equal(line(r.findings, 'bundler', /^esbuild /).text, `esbuild ${esbuild.version}`);
    assert.equal(line(r.findings, 'images', /'docker info' answers/).status, 'ok');
    line(r.findings, 'aws', /^AWS calls go to http:\/\/127\.0\.0\.1:4566 /);
    assert.equal(line(r.findings, 'aws', /^region /).text, 'region eu-west-3 (from AWS_DEFAULT_REGION)');
    line(r.findings, 'aws', /^credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
    // docker without an engine, and a podman that answers: podman
    fakeDocker(dir, path.join(dir, 'docker.log'), { infoFails: true });
    fakeDocker(dir, path.join(dir, 'podman.log'), { name: 'podman' });
    assert.equal(line(doctor(env).findings, 'images', /'podman info' answers.*with podman/).status, 'ok');
    // no engine, no region, no credentials: notes, not failures
    fakeDocker(dir, path.join(dir, 'podman.log'), { name: 'podman', infoFails: true });
    const bare = doctor({ PATH: env.PATH, AWS_CONFIG_FILE: env.AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'none'), HOME: dir });
    assert.equal(bare.code, 0, bare.stdout);
    assert.equal(line(bare.findings, 'images', /no container engine/).status, 'note');
    assert.equal(line(bare.findings, 'aws', /^no region/).status, 'note');
    assert.equal(line(bare.findings, 'aws', /^no AWS credentials/).status, 'note');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without gdal-async: a FAIL line with the fix, and exit code 1', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'riots-doctor-nogdal-'));
  try {
    const r = doctor({}, installedWithout(dir));
    assert.equal(r.code, 1, r.stdout);
    const f = line(r.findings, 'gdal', /riots needs gdal-async/);
    assert.equal(f.status, 'FAIL');
    assert.match(f.text, /npm_config_build_from_source=true npm_config_shared_gdal=true npm rebuild gdal-async/);
    assert.equal(line(r.findings, 'node', /^Node\.js/).status, 'ok', 'the other checks still run');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
