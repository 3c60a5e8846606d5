/**
 * ECR on the local endpoint (AWS JSON 1.1: POST / with `X-Amz-Target:
 * AmazonEC2ContainerRegistry_V20150921.<Operation>`). Repositories come from stacks; images are
 * registered through the JS API ({@link putImage}) or stand in for a mapped Dockerfile.
 */
import { createHash } from 'node:crypto';
import type { LocalContext } from './context.js';
import type { Repository } from './state.js';
import { AwsApiError, jsonReply, type Reply } from './wire.js';

type Body = Record<string, unknown>;
/** The password in GetAuthorizationToken's `AWS:<password>`, which the registry checks. */
export const LOCAL_ECR_PASSWORD = 'local-endpoint-password';
const JSON11 = 'application/x-amz-json-1.1';
const seconds = (d: Date): number => d.getTime() / 1000;

/** Add (or re-tag) an image in a repository, as `docker push` would; returns its digest. */
export function putImage(repo: Repository, tag: string, content: string): string {
  const digest = 'sha256:' + createHash('sha256').update(content).digest('hex');
  for (const img of repo.images.values()) img.tags = img.tags.filter((t) => t !== tag);
  for (const [d, img] of repo.images) if (img.tags.length === 0 && d !== digest) repo.images.delete(d);
  const existing = repo.images.get(digest);
  if (existing) existing.tags.push(tag);
  else repo.images.set(digest, { tags: [tag], pushedAt: new Date() });
  return digest;
}

export class EcrService {
  constructor(private readonly ctx: LocalContext) {}

  handle(operation: string, body: Body): Reply {
    switch (operation) {
      case 'DescribeRepositories': {
        const names = Array.isArray(body.repositoryNames) ? body.repositoryNames.map(String) : undefined;
        const repos = names ? names.map((n) => this.repo(n)) : [...this.ctx.state.repositories.values()];
        return jsonReply({ repositories: repos.map((r) => this.describe(r)) }, JSON11);
      }
      case 'ListImages': {
        const repo = this.repo(String(body.repositoryName ?? ''));
        const tagStatus = ((body.filter ?? {}) as Body).tagStatus;
        const imageIds: Body[] = [];
        for (const [digest, img] of repo.images) {
          if (img.tags.length === 0) {
            if (tagStatus !== 'TAGGED') imageIds.push({ imageDigest: digest });
          } else if (tagStatus !== 'UNTAGGED') for (const t of img.tags) imageIds.push({ imageDigest: digest, imageTag: t });
        }
        return jsonReply({ imageIds }, JSON11);
      }
      case 'DescribeImages':
        return jsonReply({ imageDetails: this.describeImages(this.repo(String(body.repositoryName ?? '')), body.imageIds) }, JSON11);
      case 'BatchDeleteImage':
        return jsonReply(this.batchDelete(body), JSON11);
      case 'BatchGetImage':
        return jsonReply(this.batchGetImage(body), JSON11);
      case 'GetDownloadUrlForLayer':
        return jsonReply(this.downloadUrl(body), JSON11);
      case 'GetAuthorizationToken': {
        const token = Buffer.from(`AWS:${LOCAL_ECR_PASSWORD}`).toString('base64');
        return jsonReply(
          {
            authorizationData: [
              {
                authorizationToken: token,
                expiresAt: Date.now() / 1000 + 12 * 3600,
                proxyEndpoint: this.ctx.registry
                  ? `http://${this.ctx.registry.host}`
                  : `https://${this.ctx.accountId}.dkr.ecr.${this.ctx.region}.amazonaws.com`,
              },
            ],
          },
          JSON11,
        );
      }
      default:
        throw new AwsApiError('UnknownOperationException', `The local endpoint does not implement ECR ${operation}`);
    }
  }

  /**
   * DescribeImages: the pushed images, or those asked for by tag or digest. An image the endpoint
   * runs from a Dockerfile (the worker repository's from aws/Dockerfile, the main one's from
   * --main-dockerfile) and that was never pushed is described as `latest`, as after build-image.
   */
  private describeImages(repo: Repository, ids: unknown): Body[] {
    const detail = (digest: string, tags: string[], pushedAt: Date): Body => ({
      registryId: this.ctx.accountId,
      repositoryName: repo.name,
      imageDigest: digest,
      imageTags: tags,
      imagePushedAt: seconds(pushedAt),
      imageManifestMediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    });
    if (!Array.isArray(ids)) return [...repo.images].map(([d, img]) => detail(d, img.tags, img.pushedAt));
    return ids.map((raw) => {
      const id = (raw ?? {}) as { imageTag?: string; imageDigest?: string };
      const hit = [...repo.images].find(
        ([d, img]) => (id.imageDigest === undefined || d === id.imageDigest) && (id.imageTag === undefined || img.tags.includes(id.imageTag)),
      );
      if (hit) return detail(hit[0], hit[1].tags, hit[1].pushedAt);
      const dockerfile = id.imageTag === 'latest' && repo.images.size === 0 ? this.ctx.jobs.standIn(repo) : undefined;
      if (dockerfile !== undefined) return detail('sha256:' + createHash('sha256').update(dockerfile).digest('hex'), ['latest'], repo.createdAt);
      throw new AwsApiError(
        'ImageNotFoundException',
        `The image with imageId {imageDigest:'${id.imageDigest ?? 'null'}', imageTag:'${id.imageTag ?? 'null'}'} does not exist within the repository with name '${repo.name}' in the registry with id '${this.ctx.accountId}'`,
      );
    });
  }

  /** BatchGetImage: the manifests of pushed images (those of the registry; others have none to give). */
  private batchGetImage(body: Body): Body {
    const repo = this.repo(String(body.repositoryName ?? ''));
    const ids = Array.isArray(body.imageIds) ? (body.imageIds as { imageTag?: string; imageDigest?: string }[]) : [];
    const images: Body[] = [];
    const failures: Body[] = [];
    for (const id of ids) {
      const hit = [...repo.images].find(
        ([d, img]) => (id.imageDigest === undefined || d === id.imageDigest) && (id.imageTag === undefined || img.tags.includes(id.imageTag)),
      );
      const manifest = hit && hit[1].manifestMediaType !== undefined ? this.ctx.registry?.readBlob(hit[0]) : undefined;
      if (!hit || !manifest) {
        failures.push({ imageId: id, failureCode: hit ? 'ImageNotFound' : 'ImageTagDoesNotMatchDigest', failureReason: 'Requested image not found' });
        continue;
      }
      images.push({
        registryId: this.ctx.accountId,
        repositoryName: repo.name,
        imageId: { imageDigest: hit[0], ...(id.imageTag === undefined ? {} : { imageTag: id.imageTag }) },
        imageManifest: manifest.toString('utf8'),
        imageManifestMediaType: hit[1].manifestMediaType,
      });
    }
    return { images, failures };
  }

  /** GetDownloadUrlForLayer: a URL that fetches a pushed blob without credentials, as ECR's pre-signed S3 URLs do. */
  private downloadUrl(body: Body): Body {
    const repo = this.repo(String(body.repositoryName ?? ''));
    const digest = String(body.layerDigest ?? '');
    const url = this.ctx.registry?.blobExists(digest) ? this.ctx.registry.presign(repo.name, digest) : undefined;
    if (url === undefined) throw new AwsApiError('LayersNotFoundException', `The layer ${digest} does not exist in the repository '${repo.name}'`);
    return { downloadUrl: url, layerDigest: digest };
  }

  private repo(name: string): Repository {
    const r = this.ctx.state.repositories.get(name);
    if (!r) {
      throw new AwsApiError('RepositoryNotFoundException', `The repository with name '${name}' does not exist in the registry with id '${this.ctx.accountId}'`);
    }
    return r;
  }

  private describe(r: Repository): Body {
    return {
      repositoryArn: r.arn,
      registryId: this.ctx.accountId,
      repositoryName: r.name,
      repositoryUri: r.uri,
      createdAt: seconds(r.createdAt),
      imageTagMutability: 'MUTABLE',
      imageScanningConfiguration: { scanOnPush: false },
      encryptionConfiguration: { encryptionType: 'AES256' },
    };
  }

  private batchDelete(body: Body): Body {
    const repo = this.repo(String(body.repositoryName ?? ''));
    const ids = Array.isArray(body.imageIds) ? (body.imageIds as Body[]) : [];
    const deleted: Body[] = [];
    const failures: Body[] = [];
    for (const id of ids) {
      const digest = typeof id.imageDigest === 'string' ? id.imageDigest : undefined;
      const tag = typeof id.imageTag === 'string' ? id.imageTag : undefined;
      const found = [...repo.images].find(([d, img]) => (digest === undefined || d === digest) && (tag === undefined || img.tags.includes(tag)));
      if (!found || (digest === undefined && tag === undefined)) {
        failures.push({ imageId: id, failureCode: 'ImageNotFound', failureReason: 'Requested image not found' });
        continue;
      }
      const [d, img] = found;
      if (tag !== undefined && digest === undefined && img.tags.length > 1) {
        img.tags = img.tags.filter((t) => t !== tag);
        deleted.push({ imageDigest: d, imageTag: tag });
        continue;
      }
      repo.images.delete(d);
      if (img.tags.length === 0) deleted.push({ imageDigest: d });
      else for (const t of img.tags) deleted.push({ imageDigest: d, imageTag: t });
    }
    return { imageIds: deleted, failures };
  }
}
