import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { backendConformance } from './testing/conformance.js';
import { startS3FaultFront, type S3FaultFront } from './testing/s3-faults.js';
import { S3_TEST_CREDENTIALS, startS3Server, type S3TestServer } from './testing/s3-server.js';
import { S3Backend, type S3BackendOptions } from './s3.js';
import { SegmentPool } from './s3-upload.js';

const MiB = 1024 * 1024;

let server: S3TestServer;
let front: S3FaultFront;
before(async () => {
  server = await startS3Server();
  front = await startS3FaultFront(server.endpoint);
});
after(async () => {
  await front?.close();
  await server?.cleanup();
});

/** A backend behind the fault front, which counts requests by method. */
const make = (prefix: string, options: S3BackendOptions = {}): S3Backend =>
  new S3Backend(`s3:${front.endpoint}/${server.bucket}/${prefix}`, {
    credentials: S3_TEST_CREDENTIALS,
    ...options,
  });

/** Requests of each method the front saw while `f` ran. */
async function counting(f: () => Promise<void>): Promise<Record<string, number>> {
  const before = new Map(front.seen);
  await f();
  const out: Record<string, number> = {};
  for (const [m, n] of front.seen)
    if (n !== (before.get(m) ?? 0)) out[m] = n - (before.get(m) ?? 0);
  return out;
}

const pattern = (n: number, seed: number): Buffer =>
  Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255));

// The range reads that https takes (through the SDK's handler), held to the same suite.
backendConformance('S3 (s3rver), range reads through the SDK handler', async () => ({
  backend: new S3Backend(server.location(), {
    credentials: S3_TEST_CREDENTIALS,
    rawRangeReads: false,
  }),
  cleanup: async () => {},
}));

describe('S3 backend: lean requests and buffered uploads', () => {
  it('an upload up to the put limit is one PutObject, written in many small writes', async () => {
    const b = make('single');
    try {
      const data = pattern(9 * MiB + 123, 1);
      const up = await b.upload('data/aa/pack');
      const seen = await counting(async () => {
        for (let o = 0; o < data.length; o += 300_000)
          await up.write(data.subarray(o, o + 300_000));
        await up.commit();
      });
      assert.deepEqual(seen, { PUT: 1 });
      assert.deepEqual(await b.get('data/aa/pack'), data);
    } finally {
      await b.close();
    }
  });

  it('an upload past the put limit is a multipart upload of full parts, invisible until committed', async () => {
    const b = make('multi', { partSize: 5 * MiB, putLimit: 5 * MiB, uploadConcurrency: 2 });
    try {
      const data = pattern(13 * MiB + 7, 2);
      const up = await b.upload('data/bb/pack');
      const seen = await counting(async () => {
        for (let o = 0; o < data.length; o += MiB) await up.write(data.subarray(o, o + MiB));
        assert.equal(await b.stat('data/bb/pack'), undefined);
        await up.commit();
      });
      // Create and complete (POST), three parts (5, 5 and 3 MiB), and the HEAD above.
      assert.deepEqual(seen, { POST: 2, PUT: 3, HEAD: 1 });
      assert.deepEqual(await b.get('data/bb/pack'), data);
      assert.deepEqual(
        await b.getRange('data/bb/pack', 5 * MiB - 3, 6),
        data.subarray(5 * MiB - 3, 5 * MiB + 3),
      );
    } finally {
      await b.close();
    }
  });

  it('a part or a range read answered 503 is retried and the object is still whole', async () => {
    const b = make('retry', { partSize: 5 * MiB, putLimit: 5 * MiB });
    try {
      const data = pattern(11 * MiB, 3);
      const up = await b.upload('data/cc/pack');
      front.fail('PUT', { status: 503, code: 'SlowDown' });
      await up.write(data);
      await up.commit();
      front.fail('GET', { status: 500, code: 'InternalError' });
      const seen = await counting(async () => {
        assert.deepEqual(await b.getRange('data/cc/pack', MiB, 10), data.subarray(MiB, MiB + 10));
      });
      assert.deepEqual(seen, { GET: 2 });
      assert.deepEqual(await b.get('data/cc/pack'), data);
    } finally {
      front.clear('PUT');
      front.clear('GET');
      await b.close();
    }
  });

  it('a multipart upload whose part keeps failing fails typed and leaves no object', async () => {
    const b = make('fails', { partSize: 5 * MiB, putLimit: 5 * MiB, maxAttempts: 1 });
    try {
      const up = await b.upload('data/dd/pack');
      front.fail('PUT', { status: 400, code: 'InvalidPart' });
      let failure: unknown;
      try {
        await up.write(pattern(6 * MiB, 4));
        await up.write(pattern(6 * MiB, 5));
        await up.commit();
      } catch (err) {
        failure = err;
      }
      await up.abort();
      assert.equal((failure as { code?: string } | undefined)?.code, 'REPO_S3_REQUEST');
      assert.match((failure as Error).message, /InvalidPart/);
      assert.equal(await b.stat('data/dd/pack'), undefined);
    } finally {
      front.clear('PUT');
      await b.close();
    }
  });

  it('range reads through the SDK handler instead of raw connections read the same bytes', async () => {
    const raw = make('handler');
    const b = make('handler', { rawRangeReads: false });
    try {
      const data = pattern(9 * MiB, 7);
      const up = await raw.upload('data/ff/pack');
      await up.write(data);
      await up.commit();
      // Sequential reads: read-ahead windows, and a read across two of them.
      for (let o = 0; o < data.length; o += 3 * MiB) {
        assert.deepEqual(
          await b.getRange('data/ff/pack', o, 3 * MiB),
          data.subarray(o, o + 3 * MiB),
        );
      }
      assert.deepEqual(
        await b.getRange('data/ff/pack', 9 * MiB - 4, 10),
        data.subarray(9 * MiB - 4),
      );
      front.fail('GET', { status: 503, code: 'SlowDown' });
      assert.deepEqual(await b.getRange('data/ff/pack', 100, 10), data.subarray(100, 110));
      await assert.rejects(b.getRange('data/ff/none', 0, 10), { code: 'REPO_OBJECT_NOT_FOUND' });
    } finally {
      front.clear('GET');
      await raw.close();
      await b.close();
    }
  });

  it('bodies sent as UNSIGNED-PAYLOAD are stored as sent', async () => {
    const b = make('unsigned', { signPayload: false });
    try {
      const data = pattern(3 * MiB, 6);
      await b.put('config', data.subarray(0, 1000));
      const up = await b.upload('data/ee/pack');
      await up.write(data);
      await up.commit();
      assert.deepEqual(await b.get('config'), data.subarray(0, 1000));
      assert.deepEqual(await b.get('data/ee/pack'), data);
    } finally {
      await b.close();
    }
  });
});

describe('SegmentPool', () => {
  it('room() waits while the held bytes reach the budget and resumes when they are released', async () => {
    const pool = new SegmentPool(16, 100, 2);
    pool.hold(60);
    await pool.room();
    pool.hold(40);
    let resumed = false;
    const waiting = pool.room().then(() => (resumed = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(resumed, false);
    pool.release(40);
    await waiting;
    assert.equal(resumed, true);
  });

  it('keeps at most `keep` free segments of its size for reuse', () => {
    const pool = new SegmentPool(16, 100, 1);
    const a = pool.take();
    const b = pool.take();
    pool.give(a);
    pool.give(b);
    pool.give(Buffer.alloc(8));
    assert.equal(pool.take(), a);
    assert.notEqual(pool.take(), b);
  });
});
