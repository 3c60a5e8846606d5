/**
 * Opening rasters on S3 and other network file systems (/vsis3/bucket/key, /vsicurl/, /vsigs/,
 * ...) without needless requests.
 *
 * GDAL reaches S3 with its own standard settings (AWS_S3_ENDPOINT, AWS_HTTPS,
 * AWS_VIRTUAL_HOSTING, AWS_REGION, the credentials in the environment or ~/.aws, the instance
 * role on EC2) — riots adds nothing to those. It reads a GeoTIFF by byte ranges. But on open it
 * lists the object's "directory" (an S3 LIST) to look for side-car files; with listing disabled
 * it would instead probe some thirty side-car names one GET at a time. riots therefore opens
 * network paths with GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR (no side-car files assumed), unless
 * you set that option yourself (environment or gdal config). It is set only while a network
 * path is being opened, so local files keep their .ovr and .aux.xml.
 */
import { gdal, type Dataset } from './index.js';

/** The options riots sets while opening a network path, unless the user set them. */
export const NETWORK_OPEN_DEFAULTS: Readonly<Record<string, string>> = Object.freeze({
  GDAL_DISABLE_READDIR_ON_OPEN: 'EMPTY_DIR',
});

const NETWORK_FS = [
  'vsis3',
  'vsis3_streaming',
  'vsicurl',
  'vsicurl_streaming',
  'vsigs',
  'vsigs_streaming',
  'vsiaz',
  'vsiaz_streaming',
  'vsiadls',
  'vsioss',
  'vsioss_streaming',
  'vsiswift',
  'vsiswift_streaming',
  'vsiwebhdfs',
];

/** Whether GDAL reaches `path` over the network (also inside a chain such as /vsizip//vsis3/...). */
export function isNetworkPath(path: string): boolean {
  return NETWORK_FS.some((fs) => path.includes(`/${fs}/`)) || /^https?:\/\//i.test(path);
}

let openCount = 0;
let applied: string[] = [];

function enter(): void {
  if (openCount++ > 0) return;
  applied = [];
  for (const [k, v] of Object.entries(NETWORK_OPEN_DEFAULTS)) {
    if (gdal.config.get(k) !== null) continue; // the user's own setting (config or environment) wins
    gdal.config.set(k, v);
    applied.push(k);
  }
}

function leave(): void {
  if (--openCount > 0) return;
  for (const k of applied) gdal.config.set(k, null);
  applied = [];
}

/**
 * Run `open` (a GDAL open of `path`) with {@link NETWORK_OPEN_DEFAULTS} set when `path` is a
 * network path; a local path is opened as is.
 */
export async function openWithNetworkDefaults(path: string, open: () => Promise<Dataset>): Promise<Dataset> {
  if (!isNetworkPath(path)) return open();
  enter();
  try {
    return await open();
  } finally {
    leave();
  }
}

/** The options in force now (for tests and diagnostics). */
export function networkOpenOption(key: string): string | null {
  return gdal.config.get(key);
}
