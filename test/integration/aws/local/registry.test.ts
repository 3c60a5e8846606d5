/**
 * The local ECR's registry, spoken to over HTTP as an engine's push and pull do (the Docker
 * Registry API v2), and read back through the real ECR client: credentials required, blobs
 * uploaded whole or in chunks and checked against their digest, manifests refused when they name
 * a blob never pushed, and what was pushed visible to DescribeImages, BatchGetImage and the
 * pre-signed URLs of GetDownloadUrlForLayer.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { BatchGetImageCommand, DescribeImagesCommand, ECRClient, GetAuthorizationTokenCommand, GetDownloadUrlForLayerCommand } from '@aws-sdk/client-ecr';
import { startLocalAws, type LocalAws } from '../../../../src/aws/local/server.js';
import { clients, createBatchStack } from '../../../helpers/localaws.js';

let aws: LocalAws;
let ecr: ECRClient;
let auth: string;

const digestOf = (b: Buffer | string): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

function call(path: string, init: RequestInit & { noAuth?: boolean } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (!init.noAuth) headers.set('authorization', auth);
  return fetch(`${aws.url}${path}`, { ...init, headers });
}

before(async () => {
  aws = await startLocalAws({ stackDelaySeconds: 0.1, containers: { engine: 'podman' } });
  await createBatchStack(aws);
  ecr = clients(aws.url, aws.region).ecr;
  const token = (await ecr.send(new GetAuthorizationTokenCommand({}))).authorizationData![0]!;
  assert.equal(token.proxyEndpoint, `http://${aws.containers!.registryHost}`, 'the proxy endpoint is the registry');
  auth = `Basic ${token.authorizationToken}`;
});

after(async () => {
  ecr?.destroy();
  await aws?.close();
});

test('every request needs the credentials of GetAuthorizationToken', async () => {
  const none = await call('/v2/', { noAuth: true });
  assert.equal(none.status, 401);
  assert.match(none.headers.get('www-authenticate') ?? '', /^Basic /);
  const wrong = await call('/v2/', { noAuth: true, headers: { authorization: `Basic ${Buffer.from('AWS:guess').toString('base64')}` } });
  assert.equal(wrong.status, 401);
  assert.equal((await call('/v2/')).status, 200);
  const unknown = await call('/v2/nosuchrepo/manifests/latest');
  assert.equal(unknown.status, 404);
  assert.equal(((await unknown.json()) as { errors: { code: string }[] }).errors[0]!.code, 'NAME_UNKNOWN');
});

test('a push: blobs whole and in chunks, digests checked, a manifest naming them; then ECR and a pull see it', async () => {
  const config = Buffer.from(JSON.stringify({ architecture: 'arm64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const layer = Buffer.alloc(300_000, 7);
  // the config in one request
  const whole = await call(`/v2/riosecr/blobs/uploads/?digest=${digestOf(config)}`, { method: 'POST', body: config });
  assert.equal(whole.status, 201);
  assert.equal(whole.headers.get('docker-content-digest'), digestOf(config));
  // the layer in two chunks; a wrong digest first
  const start = await call('/v2/riosecr/blobs/uploads/', { method: 'POST' });
  assert.equal(start.status, 202);
  let loc = start.headers.get('location')!;
  const p1 = await call(loc, { method: 'PATCH', body: layer.subarray(0, 100_000) });
  assert.equal(p1.status, 202);
  assert.equal(p1.headers.get('range'), '0-99999');
  loc = p1.headers.get('location')!;
  const p2 = await call(loc, { method: 'PATCH', body: layer.subarray(100_000) });
  assert.equal(p2.headers.get('range'), '0-299999');
  const bad = await call(`${loc}?digest=${digestOf('something else')}`, { method: 'PUT' });
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as { errors: { code: string }[] }).errors[0]!.code, 'DIGEST_INVALID');
  assert.equal((await call(`/v2/riosecr/blobs/${digestOf('something else')}`, { method: 'HEAD' })).status, 404, 'a bad upload stores nothing');
  // again, right this time
  const again = await call('/v2/riosecr/blobs/uploads/', { method: 'POST' });
  const done = await call(`${again.headers.get('location')!}?digest=${digestOf(layer)}`, { method: 'PUT', body: layer });
  assert.equal(done.status, 201);
  const head = await call(`/v2/riosecr/blobs/${digestOf(layer)}`, { method: 'HEAD' });
  assert.equal(head.headers.get('content-length'), String(layer.length));

  const mediaType = 'application/vnd.docker.distribution.manifest.v2+json';
  const manifestOf = (layerDigest: string) =>
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: digestOf(config) },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: layer.length, digest: layerDigest }],
    });
  const missing = await call('/v2/riosecr/manifests/latest', {
    method: 'PUT',
    headers: { 'content-type': mediaType },
    body: manifestOf(digestOf('never pushed')),
  });
  assert.equal(missing.status, 400);
  assert.equal(((await missing.json()) as { errors: { code: string }[] }).errors[0]!.code, 'MANIFEST_BLOB_UNKNOWN');
  const manifest = manifestOf(digestOf(layer));
  const put = await call('/v2/riosecr/manifests/latest', { method: 'PUT', headers: { 'content-type': mediaType }, body: manifest });
  assert.equal(put.status, 201);
  assert.equal(put.headers.get('docker-content-digest'), digestOf(manifest));

  // a pull: the manifest by tag and by digest, then the blob
  const got = await call('/v2/riosecr/manifests/latest');
  assert.equal(got.headers.get('content-type'), mediaType);
  assert.equal(await got.text(), manifest);
  assert.equal((await call(`/v2/riosecr/manifests/${digestOf(manifest)}`)).status, 200);
  assert.deepEqual(Buffer.from(await (await call(`/v2/riosecr/blobs/${digestOf(layer)}`)).arrayBuffer()), layer);

  // ECR's view
  const d = (await ecr.send(new DescribeImagesCommand({ repositoryName: 'riosecr', imageIds: [{ imageTag: 'latest' }] }))).imageDetails![0]!;
  assert.equal(d.imageDigest, digestOf(manifest));
  assert.deepEqual(d.imageTags, ['latest']);
  const bgi = await ecr.send(new BatchGetImageCommand({ repositoryName: 'riosecr', imageIds: [{ imageTag: 'latest' }] }));
  assert.equal(bgi.images![0]!.imageManifest, manifest);
  const url = (await ecr.send(new GetDownloadUrlForLayerCommand({ repositoryName: 'riosecr', layerDigest: digestOf(config) }))).downloadUrl!;
  assert.deepEqual(Buffer.from(await (await fetch(url)).arrayBuffer()), config, 'the pre-signed URL needs no credentials');
  const forged = url.replace(/X-Amz-Signature=[0-9a-f]/, (m) => m.slice(0, -1) + (m.endsWith('0') ? '1' : '0'));
  assert.equal((await fetch(forged)).status, 401, 'a changed signature is refused');
  const other = url.replace(digestOf(config), digestOf(layer));
  assert.equal((await fetch(other)).status, 401, 'a signature is for one blob only');
  assert.equal(aws.state.repositories.get('riosecr')!.images.get(digestOf(manifest))!.architecture, 'arm64', "the config's architecture is recorded");
});
