import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isObjectNotFound } from '../errors.js';
import { RepoLock } from '../lock.js';
import { backendConformance } from './testing/conformance.js';
import { startS3FaultFront } from './testing/s3-faults.js';
import { S3_TEST_CREDENTIALS, startS3Server, type S3TestServer } from './testing/s3-server.js';
import { S3Backend } from './s3.js';

let server: S3TestServer;
before(async () => {
  server = await startS3Server();
});
after(() => server?.cleanup());

const make = (location: string, options = {}): S3Backend =>
  new S3Backend(location, { credentials: S3_TEST_CREDENTIALS, ...options });

backendConformance('S3 (s3rver)', async () => ({
  backend: make(server.location()),
  cleanup: async () => {},
}));

describe('S3 backend', () => {
  it('an upload larger than a part is sent in parts and reads back whole', async () => {
    const b = make(server.location(), { uploadConcurrency: 3 });
    try {
      const data = Buffer.from(Array.from({ length: 13 * 1024 * 1024 }, (_, i) => (i * 31) & 255));
      const up = await b.upload('data/ab/big');
      for (let o = 0; o < data.length; o += 1 << 20)
        await up.write(data.subarray(o, o + (1 << 20)));
      assert.equal(await b.stat('data/ab/big'), undefined);
      await up.commit();
      assert.deepEqual(await b.get('data/ab/big'), data);
      assert.deepEqual(
        await b.getRange('data/ab/big', 6_000_000, 10),
        data.subarray(6_000_000, 6_000_010),
      );
    } finally {
      await b.close();
    }
  });

  it('objects of two prefixes in one bucket do not see each other', async () => {
    const a = make(server.location('one'));
    const b = make(server.location('one-two'));
    try {
      await a.put('config', Buffer.from('a'));
      await b.put('config', Buffer.from('b'));
      const names = [];
      for await (const o of a.list('')) names.push(o.name);
      assert.deepEqual(names, ['config']);
      assert.equal((await a.get('config')).toString(), 'a');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('wrong credentials are REPO_S3_AUTH with a one-line message', async () => {
    const b = new S3Backend(server.location(), {
      credentials: { accessKeyId: 'NOT-A-KEY', secretAccessKey: 'wrong' },
      maxAttempts: 1,
    });
    try {
      await assert.rejects(b.get('config'), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'REPO_S3_AUTH');
        assert.doesNotMatch(e.message, /\n/);
        return true;
      });
    } finally {
      await b.close();
    }
  });

  it('a missing bucket is REPO_S3_NO_BUCKET naming it', async () => {
    const b = make(`s3:${server.endpoint}/no-such-bucket-here/x`);
    try {
      await assert.rejects(b.get('config'), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'REPO_S3_NO_BUCKET');
        assert.match(e.message, /no-such-bucket-here/);
        return true;
      });
      await assert.rejects(b.put('config', Buffer.from('x')), { code: 'REPO_S3_NO_BUCKET' });
    } finally {
      await b.close();
    }
  });

  it('a server that stops mid-upload fails it clearly, leaves nothing listed, and works once back', async () => {
    const b = make(server.location(), { maxAttempts: 2 });
    try {
      await b.put('config', Buffer.from('kept'));
      const up = await b.upload('data/00/pack');
      await up.write(Buffer.alloc(6 * 1024 * 1024, 1));
      await server.stop();
      let failure: unknown;
      try {
        await up.write(Buffer.alloc(6 * 1024 * 1024, 2));
        await up.commit();
      } catch (err) {
        failure = err;
      }
      await up.abort();
      assert.equal((failure as { code?: string } | undefined)?.code, 'REPO_S3_UNREACHABLE');
      assert.doesNotMatch((failure as Error).message, /\n/);
      await server.start();
      const names = [];
      for await (const o of b.list('')) names.push(o.name);
      assert.deepEqual(names, ['config']);
      await assert.rejects(b.get('data/00/pack'), (e) => isObjectNotFound(e));
      const again = await b.upload('data/00/pack');
      await again.write(Buffer.from('second try'));
      await again.commit();
      assert.equal((await b.get('data/00/pack')).toString(), 'second try');
    } finally {
      await server.start().catch(() => undefined);
      await b.close();
    }
  });

  it('throttling and 5xx answers are retried with backoff until the request goes through', async () => {
    const front = await startS3FaultFront(server.endpoint);
    const location = `s3:${front.endpoint}/${server.bucket}/retries`;
    const b = make(location);
    const once = make(location, { maxAttempts: 1 });
    try {
      await b.put('config', Buffer.from('first'));
      const before = front.seen.get('PUT') ?? 0;
      front.fail('PUT', { status: 503, code: 'SlowDown' }, { status: 500, code: 'InternalError' });
      await b.put('config', Buffer.from('second'));
      assert.equal(
        front.seen.get('PUT')! - before,
        3,
        'two failed attempts, then the one that worked',
      );
      front.fail('GET', { status: 503, code: 'ServiceUnavailable' });
      assert.equal((await b.get('config')).toString(), 'second');
      // Without retries the same answer is the request's failure, typed and on one line.
      front.fail('PUT', { status: 503, code: 'SlowDown' });
      await assert.rejects(
        once.put('config', Buffer.from('third')),
        (e: Error & { code?: string }) => {
          assert.equal(e.code, 'REPO_S3_REQUEST');
          assert.match(e.message, /SlowDown/);
          assert.doesNotMatch(e.message, /\n/);
          return true;
        },
      );
    } finally {
      await b.close();
      await once.close();
      await front.close();
    }
  });

  it('exclusive locks taken at once on a bucket exclude each other and losers leave nothing', async () => {
    const location = server.location();
    const backends = Array.from({ length: 6 }, () => make(location));
    try {
      const shared = await RepoLock.acquire(backends[0]!, 'shared', 'a reader');
      const tries = await Promise.allSettled(
        backends.map((b, i) => RepoLock.acquire(b, 'exclusive', `gc ${i}`)),
      );
      const won = tries.filter((t) => t.status === 'fulfilled');
      assert.ok(won.length <= 1, `${won.length} exclusive locks held at once`);
      for (const t of tries) {
        if (t.status === 'rejected')
          assert.equal((t.reason as { code?: string }).code, 'REPO_LOCKED');
      }
      for (const t of won) await t.value.release();
      await shared.release();
      const left = [];
      for await (const o of backends[0]!.list('locks/')) left.push(o.name);
      assert.deepEqual(left, []);
      // Nobody holds it now: the next exclusive lock is granted.
      await (await RepoLock.acquire(backends[1]!, 'exclusive', 'gc')).release();
    } finally {
      for (const b of backends) await b.close();
    }
  });
});
