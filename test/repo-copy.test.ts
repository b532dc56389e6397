/**
 * `brankas repo copy` end to end through the CLI against a real S3-protocol server (s3rver on
 * 127.0.0.1, behind a loopback front that can answer with errors): an encrypted local
 * repository copied into an encrypted bucket under another password (with 503s on the way),
 * again (nothing sent), and back into an unencrypted directory; the copies restore identical
 * and verify with --read-data. A bucket that refuses writes and an unreachable endpoint are
 * one clear line each, with nothing listed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalBackend } from '../src/repo/backend/local.js';
import { S3Backend } from '../src/repo/backend/s3.js';
import { startS3FaultFront, type S3FaultFront } from '../src/repo/backend/testing/s3-faults.js';
import {
  S3_TEST_CREDENTIALS,
  startS3Server,
  type S3TestServer,
} from '../src/repo/backend/testing/s3-server.js';
import type { Backend } from '../src/repo/backend/types.js';
import { TEST_KDF } from '../src/repo/keys.js';
import { Repository } from '../src/repo/repository.js';
import { backupBytes, readBack, realisticBytes } from '../src/repo/testing/support.js';
import type { RepoCopyResult } from '../src/engine/copy/repo-copy.js';
import { cli } from './support/cli.js';

const KiB = 1024;
const KEYS = {
  AWS_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
};

let server: S3TestServer;
let front: S3FaultFront;
let dir: string;
before(async () => {
  server = await startS3Server();
  front = await startS3FaultFront(server.endpoint);
  dir = await mkdtemp(join(tmpdir(), 'brankas-test-copy-'));
});
after(async () => {
  await front?.close();
  await server?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A location in the bucket reached through the fault front. */
function viaFront(prefix: string): string {
  return `s3:${front.endpoint}/${server.bucket}/${prefix}`;
}

function s3(location: string): Backend {
  return new S3Backend(location, { credentials: S3_TEST_CREDENTIALS });
}

/** A new repository (cheap KDF) at the backend; password undefined: unencrypted. */
async function init(backend: Backend, password: string | undefined): Promise<void> {
  await Repository.init(backend, { password, kdf: TEST_KDF, chunkSize: 64 * KiB });
  await backend.close();
}

async function open(backend: Backend, password?: string): Promise<Repository> {
  return Repository.open(backend, { password, workers: 0 });
}

function parse(stdout: string): RepoCopyResult {
  return JSON.parse(stdout) as RepoCopyResult;
}

describe('repo copy through the CLI, local and S3', () => {
  it('local → S3 (through 503s) → local: only what is missing is sent, the copies restore identical and verify', async () => {
    const local = join(dir, 'source');
    const bucket = viaFront('copy');
    const back = join(dir, 'back');
    const pwA = join(dir, 'a.pw');
    const pwB = join(dir, 'b.pw');
    await writeFile(pwA, 'source password\n');
    await writeFile(pwB, 'bucket password\n');
    await init(new LocalBackend(local), 'source password');
    await init(s3(bucket), 'bucket password');
    await init(new LocalBackend(back), undefined);

    const full = realisticBytes(2048 * KiB, 11);
    const inc = Buffer.from(full);
    realisticBytes(128 * KiB, 12).copy(inc, 512 * KiB);
    const src = await open(new LocalBackend(local), 'source password');
    const ids: string[] = [];
    try {
      ids.push(await backupBytes(src, full, 'web'));
      ids.push(await backupBytes(src, inc, 'web', ids[0]));
    } finally {
      await src.close();
    }

    // Into the bucket, with the server busy for a moment: the copy goes on after retries.
    const env = { ...KEYS, BRANKAS_PASSWORD_FILE: pwB };
    const puts = front.seen.get('PUT') ?? 0;
    front.fail('PUT', { status: 503, code: 'SlowDown' }, { status: 503, code: 'SlowDown' });
    const up = await cli(
      ['repo', 'copy', '--from', local, '--to', bucket, '--from-password-file', pwA, '--json'],
      env,
    );
    assert.equal(up.code, 0, up.stderr);
    assert.ok(front.seen.get('PUT')! - puts > 2, 'the refused requests were sent again');
    const r = parse(up.stdout);
    assert.deepEqual(
      r.copied.map((c) => c.id),
      ids,
    );
    assert.equal(r.copied[1]!.readBytes, 128 * KiB, 'the incremental read only its change');
    assert.equal(r.copied[1]!.newChunks, 2);

    const again = await cli(
      ['repo', 'copy', '--from', local, '--to', bucket, '--from-password-file', pwA, '--json'],
      env,
    );
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(parse(again.stdout).copied, []);
    assert.deepEqual(parse(again.stdout).skipped, ids);
    const dry = await cli(
      ['repo', 'copy', '--from', local, '--to', bucket, '--from-password-file', pwA, '--dry-run'],
      env,
    );
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /0 backup\(s\) would be copied.*2 already there/);

    // Back out of the bucket into an unencrypted directory; its password as BRANKAS_FROM_*.
    const down = await cli(['repo', 'copy', '--from', bucket, '--to', back, 'web'], {
      ...KEYS,
      BRANKAS_FROM_PASSWORD_FILE: pwB,
    });
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /Copied 2 backup\(s\)/);

    const copy = await open(new LocalBackend(back));
    try {
      assert.ok((await readBack(copy, ids[0]!)).equals(full));
      assert.ok((await readBack(copy, ids[1]!)).equals(inc));
    } finally {
      await copy.close();
    }
    const vBack = await cli(['repo', 'verify', '--read-data', '--repo', back]);
    assert.equal(vBack.code, 0, vBack.stdout + vBack.stderr);
    const vBucket = await cli(['repo', 'verify', '--read-data', '--repo', bucket], env);
    assert.equal(vBucket.code, 0, vBucket.stdout + vBucket.stderr);
  });

  it('a bucket that refuses writes and an unreachable endpoint are one clear line; nothing is listed', async () => {
    const local = join(dir, 'small');
    await init(new LocalBackend(local), undefined);
    const src = await open(new LocalBackend(local));
    try {
      await backupBytes(src, realisticBytes(256 * KiB, 21), 'db');
    } finally {
      await src.close();
    }
    const bucket = viaFront('read-only');
    await init(s3(bucket), undefined);
    const refusals = Array.from({ length: 50 }, () => ({ status: 403, code: 'AccessDenied' }));
    front.fail('PUT', ...refusals);
    try {
      const r = await cli(['repo', 'copy', '--from', local, '--to', bucket], KEYS);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /refuses writes to bucket/);
      // Read-only credentials still read: verify goes on without a lock, and says so.
      const v = await cli(['repo', 'verify', '--repo', bucket], KEYS);
      assert.equal(v.code, 0, v.stdout + v.stderr);
      assert.match(v.stderr, /cannot be written \(REPO_S3_WRITE_DENIED\)/);
    } finally {
      front.clear('PUT');
    }
    const target = await open(s3(bucket));
    try {
      assert.deepEqual(await target.backupIds(), []);
    } finally {
      await target.close();
    }

    const nowhere = await cli(
      ['repo', 'copy', '--from', local, '--to', `s3:http://127.0.0.1:9/${server.bucket}/x`],
      KEYS,
    );
    assert.equal(nowhere.code, 1);
    assert.equal(nowhere.stderr.trim().split('\n').length, 1, nowhere.stderr);
    assert.match(nowhere.stderr, /cannot reach the S3 server/);
  });
});
