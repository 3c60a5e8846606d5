/**
 * The local ECR's image registry: the part of the Docker Registry HTTP API v2 (the OCI
 * distribution spec) that `docker push`/`podman push` and a container engine's pull use, served
 * under `/v2/` by the endpoint, so that `riots batch build-image --push` pushes real images and
 * the container mode runs them. Blobs are stored by digest under `<stateDir>/registry`; a manifest
 * pushed under a tag registers the image in the ECR repository of that name (DescribeImages,
 * BatchGetImage, BatchDeleteImage see it). Every request needs ECR's Basic credentials
 * (`AWS:<password>` from GetAuthorizationToken), as ECR does.
 */
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { RegistryAccess } from './context.js';
import type { ImageRecord, Repository } from './state.js';

/** The manifest media types riots' images come in (Docker v2 schema 2, OCI, and their lists). */
const MANIFEST_TYPES = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.index.v1+json',
];
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

type Route =
  | { kind: 'base' }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'upload'; name: string; id: string | undefined }
  | { kind: 'manifest'; name: string; reference: string };

/** `/v2/<name>/(blobs|manifests)/…` -> what is asked for; names may contain slashes. */
function parseRoute(pathname: string): Route | undefined {
  if (pathname === '/v2/' || pathname === '/v2') return { kind: 'base' };
  const m = /^\/v2\/(.+?)\/(blobs\/uploads\/?([^/]*)|blobs\/([^/]+)|manifests\/([^/]+))$/.exec(pathname);
  if (!m) return undefined;
  const name = m[1]!;
  if (m[2]!.startsWith('blobs/uploads')) return { kind: 'upload', name, id: m[3] === '' ? undefined : m[3] };
  if (m[4] !== undefined) return { kind: 'blob', name, digest: decodeURIComponent(m[4]) };
  return { kind: 'manifest', name, reference: decodeURIComponent(m[5]!) };
}

class RegistryError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface RegistryOptions {
  /** `host:port` the registry is reached at (the endpoint's). */
  host: string;
  /** Folder for blobs and uploads in progress. */
  dir: string;
  /** The password of GetAuthorizationToken's `AWS:<password>`. */
  password: string;
  /** The ECR repository of a name, in whichever region holds it. */
  repository(name: string): Repository | undefined;
}

export class LocalRegistry implements RegistryAccess {
  readonly host: string;
  private readonly blobs: string;
  private readonly uploads: string;
  /** Signs the download URLs of GetDownloadUrlForLayer. */
  private readonly urlKey = randomBytes(32);

  constructor(private readonly opts: RegistryOptions) {
    this.host = opts.host;
    this.blobs = join(opts.dir, 'blobs');
    this.uploads = join(opts.dir, 'uploads');
    mkdirSync(this.blobs, { recursive: true });
    mkdirSync(this.uploads, { recursive: true });
  }

  /** Answer one `/v2/…` request; errors in the registry's JSON error form. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    try {
      if (!this.authorized(req.headers.authorization) && !this.signed(url)) {
        req.resume();
        throw new RegistryError(401, 'UNAUTHORIZED', 'authentication required: log in with the credentials of ECR GetAuthorizationToken');
      }
      const route = parseRoute(url.pathname);
      if (!route) throw new RegistryError(404, 'NAME_UNKNOWN', `no such registry path ${url.pathname}`);
      await this.serve(route, req, res, url);
    } catch (e) {
      const err = e instanceof RegistryError ? e : new RegistryError(500, 'UNKNOWN', (e as Error).message);
      req.resume();
      const body = JSON.stringify({ errors: [{ code: err.code, message: err.message }] });
      const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
      if (err.status === 401) headers['www-authenticate'] = 'Basic realm="riots local ECR"';
      if (!res.headersSent) res.writeHead(err.status, headers);
      res.end(req.method === 'HEAD' ? undefined : body);
    }
  }

  private authorized(header: string | undefined): boolean {
    const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
    if (!m) return false;
    const given = Buffer.from(Buffer.from(m[1]!, 'base64').toString('utf8'));
    const expected = Buffer.from(`AWS:${this.opts.password}`);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  presign(repositoryName: string, digest: string): string {
    const path = `/v2/${repositoryName}/blobs/${digest}`;
    return `http://${this.host}${path}?X-Amz-Signature=${this.signature(path)}`;
  }

  private signature(path: string): string {
    return createHmac('sha256', this.urlKey).update(path).digest('hex');
  }

  /** A blob GET with the signature of {@link presign}. */
  private signed(url: URL): boolean {
    const given = Buffer.from(url.searchParams.get('X-Amz-Signature') ?? '');
    const expected = Buffer.from(this.signature(url.pathname));
    return /\/blobs\/sha256:/.test(url.pathname) && given.length === expected.length && timingSafeEqual(given, expected);
  }

  blobExists(digest: string): boolean {
    return DIGEST.test(digest) && existsSync(this.blobPath(digest));
  }

  private repo(name: string): Repository {
    const r = this.opts.repository(name);
    if (!r) throw new RegistryError(404, 'NAME_UNKNOWN', `The repository with name '${name}' does not exist in the local ECR`);
    return r;
  }

  private async serve(route: Route, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    if (route.kind === 'base') return reply(res, 200, {}, '{}');
    const repo = this.repo(route.name);
    if (route.kind === 'blob' && (method === 'GET' || method === 'HEAD')) return this.getBlob(route.digest, method, res);
    if (route.kind === 'upload') return this.upload(route, method, req, res, url);
    if (route.kind === 'manifest' && method === 'PUT') return this.putManifest(repo, route.reference, req, res);
    if (route.kind === 'manifest' && (method === 'GET' || method === 'HEAD')) return this.getManifest(repo, route.reference, method, res);
    throw new RegistryError(405, 'UNSUPPORTED', `${method} ${url.pathname} is not supported by the local ECR`);
  }

  private blobPath(digest: string): string {
    if (!DIGEST.test(digest)) throw new RegistryError(400, 'DIGEST_INVALID', `not a sha256 digest: ${digest}`);
    return join(this.blobs, digest.slice('sha256:'.length));
  }

  /** The bytes of a stored blob (manifests, image configs), or undefined. */
  readBlob(digest: string): Buffer | undefined {
    const p = this.blobPath(digest);
    return existsSync(p) ? readFileSync(p) : undefined;
  }

  private async getBlob(digest: string, method: string, res: ServerResponse): Promise<void> {
    const p = this.blobPath(digest);
    if (!existsSync(p)) throw new RegistryError(404, 'BLOB_UNKNOWN', `blob ${digest} is not in the local ECR`);
    const size = statSync(p).size;
    res.writeHead(200, { 'content-length': size, 'docker-content-digest': digest, 'content-type': 'application/octet-stream' });
    if (method === 'HEAD') return void res.end();
    await pipeline(createReadStream(p), res);
  }

  /** Blob uploads: POST starts one (or mounts, or takes a whole blob), PATCH appends, PUT ends it with its digest. */
  private async upload(route: Extract<Route, { kind: 'upload' }>, method: string, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const location = (id: string): string => `/v2/${route.name}/blobs/uploads/${id}`;
    if (method === 'POST' && route.id === undefined) {
      const mount = url.searchParams.get('mount');
      if (mount !== null && existsSync(this.blobPath(mount))) return this.created(res, route.name, mount);
      const id = randomUUID();
      writeFileSync(join(this.uploads, id), '');
      const digest = url.searchParams.get('digest');
      if (digest !== null) return this.finish(route.name, id, digest, req, res);
      return reply(res, 202, { location: location(id), range: '0-0', 'docker-upload-uuid': id });
    }
    if (route.id === undefined || !/^[0-9a-f-]{36}$/.test(route.id) || !existsSync(join(this.uploads, route.id)))
      throw new RegistryError(404, 'BLOB_UPLOAD_UNKNOWN', `no upload ${route.id ?? ''} in progress`);
    if (method === 'PATCH') {
      const size = await this.append(route.id, req);
      return reply(res, 202, { location: location(route.id), range: `0-${Math.max(0, size - 1)}`, 'docker-upload-uuid': route.id });
    }
    if (method === 'PUT') return this.finish(route.name, route.id, url.searchParams.get('digest') ?? '', req, res);
    if (method === 'DELETE') {
      rmSync(join(this.uploads, route.id), { force: true });
      return reply(res, 204, {});
    }
    throw new RegistryError(405, 'UNSUPPORTED', `${method} on an upload is not supported`);
  }

  private async append(id: string, req: IncomingMessage): Promise<number> {
    const p = join(this.uploads, id);
    await pipeline(req, createWriteStream(p, { flags: 'a' }));
    return statSync(p).size;
  }

  /** Append the last bytes, check the digest, and move the upload into the blob store. */
  private async finish(name: string, id: string, digest: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const p = join(this.uploads, id);
    await this.append(id, req);
    const target = this.blobPath(digest);
    const hash = createHash('sha256');
    await pipeline(createReadStream(p), hash);
    const actual = 'sha256:' + hash.digest('hex');
    if (actual !== digest) {
      rmSync(p, { force: true });
      throw new RegistryError(400, 'DIGEST_INVALID', `the uploaded blob's digest is ${actual}, not ${digest}`);
    }
    renameSync(p, target);
    this.created(res, name, digest);
  }

  private created(res: ServerResponse, name: string, digest: string): void {
    reply(res, 201, { location: `/v2/${name}/blobs/${digest}`, 'docker-content-digest': digest });
  }

  private async putManifest(repo: Repository, reference: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > MAX_MANIFEST_BYTES) throw new RegistryError(400, 'MANIFEST_INVALID', `manifest larger than ${MAX_MANIFEST_BYTES} bytes`);
      chunks.push(c as Buffer);
    }
    const body = Buffer.concat(chunks);
    const mediaType = String(req.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim();
    if (!MANIFEST_TYPES.includes(mediaType)) throw new RegistryError(400, 'MANIFEST_INVALID', `manifest type '${mediaType}' is not supported`);
    let manifest: { config?: { digest?: string }; layers?: { digest?: string }[]; manifests?: { digest?: string }[] };
    try {
      manifest = JSON.parse(body.toString('utf8')) as typeof manifest;
    } catch {
      throw new RegistryError(400, 'MANIFEST_INVALID', 'the manifest is not JSON');
    }
    const refs = [manifest.config?.digest, ...(manifest.layers ?? []).map((l) => l.digest), ...(manifest.manifests ?? []).map((m) => m.digest)];
    for (const d of refs) {
      if (d !== undefined && !existsSync(this.blobPath(d)))
        throw new RegistryError(400, 'MANIFEST_BLOB_UNKNOWN', `the manifest names blob ${d}, which was not pushed`);
    }
    const digest = 'sha256:' + createHash('sha256').update(body).digest('hex');
    if (DIGEST.test(reference) && reference !== digest) throw new RegistryError(400, 'DIGEST_INVALID', `the manifest's digest is ${digest}, not ${reference}`);
    writeFileSync(this.blobPath(digest), body);
    const record: ImageRecord = { tags: [], pushedAt: new Date(), manifestMediaType: mediaType, size: body.length };
    const config = manifest.config?.digest === undefined ? undefined : this.readBlob(manifest.config.digest);
    if (config) Object.assign(record, platformOf(config));
    registerImage(repo, digest, DIGEST.test(reference) ? undefined : reference, record);
    reply(res, 201, { location: `/v2/${repo.name}/manifests/${digest}`, 'docker-content-digest': digest });
  }

  private getManifest(repo: Repository, reference: string, method: string, res: ServerResponse): void {
    const hit = [...repo.images].find(([d, img]) => img.manifestMediaType !== undefined && (d === reference || img.tags.includes(reference)));
    const body = hit ? this.readBlob(hit[0]) : undefined;
    if (!hit || !body) throw new RegistryError(404, 'MANIFEST_UNKNOWN', `manifest unknown: ${repo.name}:${reference} was not pushed to the local ECR`);
    res.writeHead(200, { 'content-type': hit[1].manifestMediaType!, 'content-length': body.length, 'docker-content-digest': hit[0] });
    res.end(method === 'HEAD' ? undefined : body);
  }
}

function reply(res: ServerResponse, status: number, headers: Record<string, string>, body = ''): void {
  res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body), 'docker-distribution-api-version': 'registry/2.0' });
  res.end(body);
}

/** The platform an image config names (`architecture`, `os`). */
function platformOf(config: Buffer): { architecture?: string; os?: string } {
  try {
    const c = JSON.parse(config.toString('utf8')) as { architecture?: unknown; os?: unknown };
    const out: { architecture?: string; os?: string } = {};
    if (typeof c.architecture === 'string') out.architecture = c.architecture;
    if (typeof c.os === 'string') out.os = c.os;
    return out;
  } catch {
    return {};
  }
}

/** Add an image (or a tag of it) to a repository: a tag moves from whichever image held it; an image left without tags stays, untagged, as in ECR. */
export function registerImage(repo: Repository, digest: string, tag: string | undefined, record: ImageRecord): void {
  if (tag !== undefined) for (const img of repo.images.values()) img.tags = img.tags.filter((t) => t !== tag);
  const existing = repo.images.get(digest);
  if (existing) {
    if (tag !== undefined && !existing.tags.includes(tag)) existing.tags.push(tag);
    existing.pushedAt = record.pushedAt;
    return;
  }
  record.tags = tag === undefined ? [] : [tag];
  repo.images.set(digest, record);
}
