/**
 * A local S3-compatible server (s3rver, on loopback) behind a small logging HTTP proxy: every
 * request GDAL makes is recorded (method, path, query, Range header, status, bytes sent) so that
 * tests can check that inputs are read with ranged GETs only. Objects are uploaded straight to
 * s3rver (anonymous PUT), so uploads do not show in the log.
 */
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';

export interface S3Request {
  method: string;
  path: string;
  query: string;
  range: string | undefined;
  status: number;
  bytes: number;
}

export interface LocalS3 {
  /** host:port of the logging proxy, for AWS_S3_ENDPOINT. */
  endpoint: string;
  /** GDAL's settings to reach it (path-style, plain HTTP, s3rver's keys). */
  gdalEnv: Record<string, string>;
  log: S3Request[];
  put(bucket: string, key: string, file: string): Promise<void>;
  close(): Promise<void>;
}

export async function startLocalS3(buckets: string[]): Promise<LocalS3> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'riots-s3rver-'));
  const s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: buckets.map((name) => ({ name })) });
  const { port: s3port } = (await s3.run()) as AddressInfo;
  const log: S3Request[] = [];
  const proxy = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const entry: S3Request = { method: req.method ?? '', path: url.pathname, query: url.search, range: req.headers.range, status: 0, bytes: 0 };
    log.push(entry);
    // the Host header is kept: GDAL signed it
    const up = http.request({ host: '127.0.0.1', port: s3port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      entry.status = ur.statusCode ?? 0;
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.on('data', (c: Buffer) => (entry.bytes += c.length));
      ur.pipe(res);
    });
    up.on('error', (e) => {
      entry.status = 502;
      res.destroy(e);
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const endpoint = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  return {
    endpoint,
    gdalEnv: {
      AWS_S3_ENDPOINT: endpoint,
      AWS_HTTPS: 'NO',
      AWS_VIRTUAL_HOSTING: 'FALSE',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REGION: 'us-east-1',
    },
    log,
    async put(bucket, key, file) {
      const r = await fetch(`http://127.0.0.1:${s3port}/${bucket}/${key}`, { method: 'PUT', body: readFileSync(file) });
      if (r.status !== 200) throw new Error(`PUT ${bucket}/${key} to s3rver: ${r.status} ${await r.text()}`);
    },
    async close() {
      proxy.closeAllConnections();
      await new Promise<void>((r) => proxy.close(() => r()));
      await s3.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
