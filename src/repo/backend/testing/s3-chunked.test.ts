import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { S3Backend } from '../s3.js';
import { decodeAwsChunked } from './s3-chunked.js';
import { S3_TEST_CREDENTIALS, startS3Server, type S3TestServer } from './s3-server.js';

const SIG = 'chunk-signature=' + '0'.repeat(64);

/** `payload` framed as aws-chunked, in pieces of `size` bytes, with the closing empty chunk. */
function frame(payload: Buffer, size: number): Buffer {
  const out: Buffer[] = [];
  for (let at = 0; at < payload.length; at += size) {
    const piece = payload.subarray(at, at + size);
    out.push(Buffer.from(`${piece.length.toString(16)};${SIG}\r\n`), piece, Buffer.from('\r\n'));
  }
  out.push(Buffer.from(`0;${SIG}\r\n\r\n`));
  return Buffer.concat(out);
}

const pattern = (n: number): Buffer =>
  Buffer.from(Array.from({ length: n }, (_, i) => (i * 7) & 255));

describe('aws-chunked bodies', () => {
  it('decodes the payload out of its framing', () => {
    const payload = pattern(100_000);
    assert.deepEqual(decodeAwsChunked(frame(payload, 65_536)), payload);
    assert.deepEqual(decodeAwsChunked(frame(Buffer.alloc(0), 10)), Buffer.alloc(0));
  });

  it('refuses a body whose framing is broken', () => {
    const framed = frame(pattern(1000), 300);
    assert.equal(decodeAwsChunked(framed.subarray(0, 500)), undefined);
    assert.equal(decodeAwsChunked(Buffer.from('zz;x\r\nabc\r\n')), undefined);
    assert.equal(decodeAwsChunked(Buffer.from('no line end')), undefined);
  });
});

describe('the test S3 server and aws-chunked uploads', () => {
  let server: S3TestServer;
  before(async () => {
    server = await startS3Server();
  });
  after(() => server?.cleanup());

  /** A PutObject whose signed body is sent aws-chunked (as minio-go sends over http). */
  async function putChunked(key: string, payload: Buffer, body: Buffer): Promise<void> {
    const client = new S3Client({
      endpoint: server.endpoint,
      region: 'us-east-1',
      credentials: S3_TEST_CREDENTIALS,
      forcePathStyle: true,
      maxAttempts: 1,
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    client.middlewareStack.add(
      (next) => async (args) => {
        const req = args.request as { headers: Record<string, string>; body: unknown };
        // The signer takes this header as the payload's hash.
        req.headers['x-amz-content-sha256'] = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
        req.headers['content-encoding'] = 'aws-chunked';
        req.headers['x-amz-decoded-content-length'] = String(payload.length);
        req.headers['content-length'] = String(body.length);
        req.body = body;
        return next(args);
      },
      { step: 'build' },
    );
    try {
      await client.send(new PutObjectCommand({ Bucket: server.bucket, Key: key, Body: payload }));
    } finally {
      client.destroy();
    }
  }

  /** What `f` finds under the prefix `chunked/`, read through brankas's backend. */
  async function stored<T>(f: (b: S3Backend) => Promise<T>): Promise<T> {
    const b = new S3Backend(`s3:${server.endpoint}/${server.bucket}/chunked`, {
      credentials: S3_TEST_CREDENTIALS,
    });
    try {
      return await f(b);
    } finally {
      await b.close();
    }
  }

  it('stores the payload of a chunk-signed upload, not its framing', async () => {
    const payload = pattern(3 * 1024 * 1024 + 17);
    await putChunked('chunked/object', payload, frame(payload, 64 * 1024));
    assert.deepEqual(await stored((b) => b.get('object')), payload);
  });

  it('refuses a chunk-signed upload whose framing is broken, storing nothing', async () => {
    const payload = pattern(1000);
    await assert.rejects(
      putChunked('chunked/broken', payload, frame(payload, 300).subarray(0, 700)),
    );
    assert.equal(await stored((b) => b.stat('broken')), undefined);
  });
});
