/**
 * The architecture rule: a worker image runs only on instances (or Fargate tasks) of its own
 * architecture. What the stack runs on comes from its parameters (InstanceType for Batch,
 * EcsCpuArchitecture for ECS); what an image was built for comes from ECR, as an engine pulling
 * it would learn it: the manifest (BatchGetImage) and, for a single-platform image, its config
 * blob (GetDownloadUrlForLayer, then the pre-signed URL).
 */
import { awsCall, ecr } from './clients.js';
import { parseRepositoryUri } from './images.js';
import { withTimeout } from '../timeout.js';

export type Arch = 'amd64' | 'arm64';

/** How long the download of an image's config may take, in seconds. */
const CONFIG_TIMEOUT_S = 30;

/**
 * The architecture of a Batch instance type: Graviton families (a1, and a `g` after the
 * generation digit: m7g, c6gn, r8gd, t4g…) are arm64; `optimal` and every other family amd64.
 */
export function instanceArch(instanceType: string): Arch {
  const family = instanceType.split('.')[0]!.toLowerCase();
  return family === 'a1' || /^[a-z]+\d+g[a-z]*$/.test(family) ? 'arm64' : 'amd64';
}

/** ECS's EcsCpuArchitecture (X86_64, ARM64) as an image architecture. */
export function ecsArch(cpuArchitecture: string): Arch {
  return cpuArchitecture.toUpperCase() === 'ARM64' ? 'arm64' : 'amd64';
}

/** The `platform` flag value that builds for an architecture. */
export function platformFor(arch: Arch): string {
  return `linux/${arch}`;
}

type Manifest = { mediaType?: string; config?: { digest?: string }; manifests?: { platform?: { architecture?: string; os?: string } }[] };

/**
 * The architectures an image in ECR runs on: every platform of a multi-platform image, the
 * config's architecture of a single one. Undefined when the image has no manifest to give (not
 * pushed by an engine).
 */
export async function imageArchitectures(region: string | undefined, repositoryUri: string, tag = 'latest'): Promise<string[] | undefined> {
  const { sdk, client } = await ecr(region);
  try {
    const repo = parseRepositoryUri(repositoryUri);
    const got = await awsCall(`ECR BatchGetImage of ${repositoryUri}:${tag}`, () =>
      client.send(new sdk.BatchGetImageCommand({ ...repo, imageIds: [{ imageTag: tag }] })),
    );
    const text = got.images?.[0]?.imageManifest;
    if (text === undefined) return undefined;
    const manifest = JSON.parse(text) as Manifest;
    if (manifest.manifests) return manifest.manifests.filter((m) => m.platform?.os !== 'unknown').map((m) => String(m.platform?.architecture));
    const digest = manifest.config?.digest;
    if (digest === undefined) return undefined;
    const url = await awsCall(`ECR GetDownloadUrlForLayer of ${repositoryUri}@${digest}`, () =>
      client.send(new sdk.GetDownloadUrlForLayerCommand({ ...repo, layerDigest: digest })),
    );
    if (url.downloadUrl === undefined) return undefined;
    const signal = AbortSignal.timeout(CONFIG_TIMEOUT_S * 1000 + 1000);
    const res = await withTimeout(fetch(url.downloadUrl, { signal }), CONFIG_TIMEOUT_S, `the config of image ${repositoryUri}:${tag}`);
    if (!res.ok) throw new Error(`downloading the config of ${repositoryUri}:${tag} gave HTTP ${res.status}`);
    const config = (await res.json()) as { architecture?: string };
    return config.architecture === undefined ? undefined : [config.architecture];
  } finally {
    client.destroy();
  }
}
