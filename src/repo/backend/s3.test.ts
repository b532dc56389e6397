import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isObjectNotFound } from '../errors.js';
import { backendConformance } from './testing/conformance.js';
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
});
