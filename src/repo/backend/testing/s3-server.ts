/**
 * A real S3-protocol server for tests: s3rver (npm), on 127.0.0.1 with a port of the system's
 * choosing and a temporary directory, with a bucket of a unique name, taking aws-chunked
 * uploads as S3 does (s3-chunked.ts). stop() and start() let a
 * test take it away and bring it back on the same port; cleanup() removes everything.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acceptAwsChunked } from './s3-chunked.js';

interface S3rverInstance {
  middleware: Parameters<typeof acceptAwsChunked>[0]['middleware'];
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;

const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;

/** s3rver's fixed credentials. */
export const S3_TEST_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface S3TestServer {
  endpoint: string;
  bucket: string;
  /** `s3:http://127.0.0.1:PORT/BUCKET/PREFIX`, a fresh prefix each call. */
  location(prefix?: string): string;
  /** Stops the server at once, dropping every connection (a crash, as a client sees it). */
  stop(): Promise<void>;
  /** Starts it again on the same port, with the same data (nothing if it runs). */
  start(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function startS3Server(): Promise<S3TestServer> {
  const dir = await mkdtemp(join(tmpdir(), 'brankas-test-s3-'));
  const bucket = `brankas-test-${randomBytes(6).toString('hex')}`;
  let port = 0;
  let server: S3rverInstance | undefined;
  const start = async (): Promise<void> => {
    if (server) return;
    const s = new S3rver({
      address: '127.0.0.1',
      port,
      silent: true,
      directory: dir,
      configureBuckets: [{ name: bucket, configs: [] }],
    });
    acceptAwsChunked(s); // restic's uploads (minio-go), with no proxy in between
    port = (await s.run()).port;
    server = s;
  };
  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (!s) return;
    const closed = s.close();
    s.httpServer?.closeAllConnections();
    await closed;
  };
  try {
    await start();
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket,
    location: (prefix = `r-${randomBytes(4).toString('hex')}`) =>
      `s3:${endpoint}/${bucket}${prefix ? `/${prefix}` : ''}`,
    stop,
    start,
    cleanup: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
