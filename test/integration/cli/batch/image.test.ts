/**
 * `riots batch build-image` with stand-in `docker` and `podman` commands first on PATH that
 * record every call (argv, and stdin for `login`), and the local AWS endpoint for the stack and
 * ECR's token. The real builds are in image-build.test.ts.
 */
import { REPO_ROOT } from '../../../helpers/root.js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { startLocalAws, type LocalAws } from '../../../../src/aws/local/server.js';
import { fakeDocker, readCalls, runRiots } from '../../../helpers/batchtools.js';

const ROOT = REPO_ROOT;

describe('riots batch build-image', () => {
  let aws: LocalAws;
  let dir: string;
  let n = 0;
  let workerRepo: string;
  let mainRepo: string;
  let password: string;

  /** A fresh stand-in docker (and log) per case; with `podman`, a stand-in podman beside it too. */
  function docker(opts: { infoFails?: boolean; failOn?: string; hangOn?: string; podman?: { infoFails?: boolean } } = {}): {
    bin: string;
    log: string;
    podmanLog: string;
  } {
    const bin = join(dir, `bin${++n}`);
    mkdirSync(bin);
    const log = join(dir, `docker${n}.jsonl`);
    const podmanLog = join(dir, `podman${n}.jsonl`);
    fakeDocker(bin, log, opts);
    if (opts.podman) fakeDocker(bin, podmanLog, { ...opts.podman, name: 'podman' });
    return { bin, log, podmanLog };
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'riots-build-image-'));
    aws = await startLocalAws({ stackDelaySeconds: 0.2 });
    const r = await runRiots(['batch', 'create', '--wait', '--poll', '0.1', '--timeout', '60'], aws.env);
    assert.equal(r.code, 0, r.stderr);
    workerRepo = aws.state.repositories.get('riosecr')!.uri;
    mainRepo = aws.state.repositories.get('riosecrmain')!.uri;
    // The password ECR hands out, read on our own through the SDK.
    const ecr = new ECRClient({ endpoint: aws.url, region: aws.region, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    const token = (await ecr.send(new GetAuthorizationTokenCommand({}))).authorizationData![0]!.authorizationToken!;
    ecr.destroy();
    password = Buffer.from(token, 'base64').toString('utf8').split(':').slice(1).join(':');
    assert.ok(password.length > 0);
  });

  after(async () => {
    await aws?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('builds the worker image from aws/Dockerfile with the build args, no push', async () => {
    const d = docker();
    const r = await runRiots(['batch', 'build-image', '--extra-packages', 'jq  python3-numpy', '--npm-packages', 'proj4'], {
      PATH: `${d.bin}:${process.env.PATH}`,
      NPM_PACKAGES: 'ignored-because-option-wins',
    });
    assert.equal(r.code, 0, r.stderr);
    const calls = readCalls(d.log).map((c) => c.argv);
    assert.deepEqual(calls, [
      ['info'],
      [
        'build',
        '-f',
        join(ROOT, 'aws', 'Dockerfile'),
        '-t',
        'riots',
        '--build-arg',
        'EXTRA_PACKAGES=jq  python3-numpy',
        '--build-arg',
        'NPM_PACKAGES=proj4',
        ROOT,
      ],
    ]);
  });

  test('EXTRA_PACKAGES / NPM_PACKAGES come from the environment; --platform uses buildx --load', async () => {
    const d = docker();
    const r = await runRiots(['batch', 'build-image', '--platform', 'linux/arm64'], {
      PATH: `${d.bin}:${process.env.PATH}`,
      EXTRA_PACKAGES: 'gdal-data',
      NPM_PACKAGES: 'd3-array@3',
    });
    assert.equal(r.code, 0, r.stderr);
    const build = readCalls(d.log)[1]!.argv;
    assert.deepEqual(build.slice(0, 5), ['buildx', 'build', '--platform', 'linux/arm64', '--load']);
    assert.ok(build.includes('EXTRA_PACKAGES=gdal-data'));
    assert.ok(build.includes('NPM_PACKAGES=d3-array@3'));
    const bad = await runRiots(['batch', 'build-image', '--platform', 'linux/riscv64'], { PATH: `${d.bin}:${process.env.PATH}` });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--platform must be linux\/amd64 or linux\/arm64/);
  });

  test('--push logs in with the password on stdin, tags and pushes <BatchECR>:latest', async () => {
    const d = docker();
    const r = await runRiots(['batch', 'build-image', '--push'], { ...aws.env, PATH: `${d.bin}:${process.env.PATH}` });
    assert.equal(r.code, 0, r.stderr);
    const calls = readCalls(d.log);
    const host = workerRepo.split('/')[0]!;
    assert.deepEqual(
      calls.map((c) => c.argv[0]),
      ['info', 'build', 'login', 'tag', 'push'],
    );
    assert.deepEqual(calls[2]!.argv, ['login', '--username', 'AWS', '--password-stdin', host]);
    assert.equal(calls[2]!.stdin, password);
    for (const c of calls) assert.ok(!c.argv.some((a) => a.includes(password)), `password not in argv of docker ${c.argv[0]}`);
    assert.deepEqual(calls[3]!.argv, ['tag', 'riots', `${workerRepo}:latest`]);
    assert.deepEqual(calls[4]!.argv, ['push', `${workerRepo}:latest`]);
    assert.match(r.stdout, new RegExp(`pushed ${workerRepo}:latest`));
  });

  test('--main builds your Dockerfile in the current folder and pushes to BatchECRMain', async () => {
    const d = docker();
    const app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'Dockerfile.custom'), 'FROM riots\n');
    const r = await runRiots(
      ['batch', 'build-image', '--main', '-f', 'Dockerfile.custom', '--push'],
      { ...aws.env, PATH: `${d.bin}:${process.env.PATH}` },
      { cwd: app },
    );
    assert.equal(r.code, 0, r.stderr);
    const calls = readCalls(d.log).map((c) => c.argv);
    assert.deepEqual(calls[1], ['build', '-f', join(app, 'Dockerfile.custom'), '-t', 'riots-main', app]);
    assert.deepEqual(calls[3], ['tag', 'riots-main', `${mainRepo}:latest`]);
    assert.deepEqual(calls[4], ['push', `${mainRepo}:latest`]);
    const noMain = await runRiots(['batch', 'build-image', '-f', 'Dockerfile.custom'], { PATH: `${d.bin}:${process.env.PATH}` }, { cwd: app });
    assert.equal(noMain.code, 2);
    assert.match(noMain.stderr, /-f\/--file is for the main image: add --main/);
  });

  test('a failing docker step stops there, with its exit code', async () => {
    const d = docker({ failOn: 'build' });
    const r = await runRiots(['batch', 'build-image', '--push'], { ...aws.env, PATH: `${d.bin}:${process.env.PATH}` });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /building image 'riots' failed: 'docker build' exited with code 17/);
    assert.deepEqual(
      readCalls(d.log).map((c) => c.argv[0]),
      ['info', 'build'],
      'no login, tag or push after a failed build',
    );
    const p = docker({ failOn: 'push' });
    const r2 = await runRiots(['batch', 'build-image', '--push'], { ...aws.env, PATH: `${p.bin}:${process.env.PATH}` });
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, new RegExp(`docker push ${workerRepo.replace(/\./g, '\\.')}:latest failed: 'docker push' exited with code 17`));
  });

  test('a build that runs past --timeout is stopped, with an error naming it', async () => {
    const d = docker({ hangOn: 'build' });
    const t0 = performance.now();
    const r = await runRiots(['batch', 'build-image', '--push', '--timeout', '0.05'], { ...aws.env, PATH: `${d.bin}:${process.env.PATH}` });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /building image 'riots': stopped after 3 s \('docker build' was still running\)/);
    assert.ok(performance.now() - t0 < 30_000, 'it did not wait longer');
    assert.deepEqual(
      readCalls(d.log).map((c) => c.argv[0]),
      ['info', 'build'],
      'nothing pushed after it',
    );
    const bad = await runRiots(['batch', 'build-image', '--timeout', '0'], { PATH: `${d.bin}:${process.env.PATH}` });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--timeout must be a number of minutes > 0, not '0'/);
  });

  test('--push without a stack says so before building', async () => {
    const d = docker();
    const r = await runRiots(['batch', 'build-image', '--push', '--stackname', 'Nope'], { ...aws.env, PATH: `${d.bin}:${process.env.PATH}` });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /stack 'Nope' in region .* does not exist/);
    assert.deepEqual(
      readCalls(d.log).map((c) => c.argv[0]),
      ['info'],
      'nothing was built',
    );
  });

  test('no docker and no podman command: a clear error before anything else', async () => {
    const empty = join(dir, 'empty-bin');
    mkdirSync(empty);
    // No AWS settings either: reaching AWS would give another error.
    const r = await runRiots(['batch', 'build-image', '--push'], { PATH: empty });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no container engine: no docker: the 'docker' command is not on PATH; no podman: the 'podman' command is not on PATH/);
  });

  test('an engine that does not answer: a clear error naming each, nothing built', async () => {
    const d = docker({ infoFails: true, podman: { infoFails: true } });
    const r = await runRiots(['batch', 'build-image', '--push'], { PATH: `${d.bin}:${process.env.PATH}` });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no container engine: 'docker info' failed \(exit 1\): Cannot connect to the Docker daemon.*; 'podman info' failed \(exit 1\)/);
    assert.deepEqual(
      readCalls(d.log).map((c) => c.argv[0]),
      ['info'],
    );
    // the engine named is the only one tried
    const named = await runRiots(['batch', 'build-image', '--engine', 'docker'], { PATH: `${d.bin}:${process.env.PATH}` });
    assert.match(named.stderr, /no docker engine: 'docker info' failed \(exit 1\).*Start Docker/);
    const bad = await runRiots(['batch', 'build-image', '--engine', 'containerd'], { PATH: `${d.bin}:${process.env.PATH}` });
    assert.equal(bad.code, 2, 'a usage error');
    assert.match(bad.stderr, /the container engine must be docker or podman, not 'containerd'/);
  });

  test('docker without an engine and a podman that answers: podman builds (ignore file, --platform) and pushes', async () => {
    const d = docker({ infoFails: true, podman: {} });
    const r = await runRiots(['batch', 'build-image', '--push', '--platform', 'linux/arm64'], { ...aws.env, PATH: `${d.bin}:${process.env.PATH}` });
    assert.equal(r.code, 0, r.stderr);
    const calls = readCalls(d.podmanLog);
    assert.deepEqual(
      calls.map((c) => c.argv[0]),
      ['info', 'build', 'login', 'tag', 'push'],
    );
    assert.deepEqual(calls[1]!.argv, [
      'build',
      '--format',
      'docker',
      '--platform',
      'linux/arm64',
      '-f',
      join(ROOT, 'aws', 'Dockerfile'),
      '--ignorefile',
      join(ROOT, 'aws', 'Dockerfile.dockerignore'),
      '-t',
      'riots',
      '--build-arg',
      'EXTRA_PACKAGES=',
      '--build-arg',
      'NPM_PACKAGES=',
      ROOT,
    ]);
    assert.equal(calls[2]!.stdin, password, 'the password on stdin');
    assert.ok(!calls[2]!.argv.includes(password), 'never on the command line');
    assert.deepEqual(calls[4]!.argv, ['push', `${workerRepo}:latest`]);
  });
});
