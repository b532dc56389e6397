import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LocalBackend } from './backend/local.js';
import { MemoryBackend } from './backend/memory.js';
import { isStale, listLocks, RepoLock, unwritableCause, type LockInfo } from './lock.js';
import { withTempDir } from './testing/support.js';

function info(over: Partial<LockInfo>): LockInfo {
  const now = new Date().toISOString();
  return {
    format: 'brankas-lock',
    version: 1,
    kind: 'exclusive',
    purpose: 'gc',
    host: 'elsewhere',
    pid: 1,
    created: now,
    refreshed: now,
    ...over,
  };
}

describe('locks', () => {
  it('shared locks coexist with each other and with one exclusive lock; two exclusive do not', async () => {
    const b = new MemoryBackend();
    const s1 = await RepoLock.acquire(b, 'shared', 'backup');
    const s2 = await RepoLock.acquire(b, 'shared', 'backup');
    const x = await RepoLock.acquire(b, 'exclusive', 'gc');
    await assert.rejects(
      RepoLock.acquire(b, 'exclusive', 'prune'),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'REPO_LOCKED');
        assert.match(e.message, /locked by gc \(pid \d+/);
        return true;
      },
    );
    assert.equal((await listLocks(b)).length, 3, 'the refused lock left nothing behind');
    for (const l of [s1, s2, x]) await l.release();
    await x.release();
    assert.equal((await listLocks(b)).length, 0);
  });

  it('a lock of a dead process on this host, or one not refreshed for 30 minutes, is stale and removed', async () => {
    const b = new MemoryBackend();
    const old = new Date(Date.now() - 31 * 60 * 1000).toISOString();
    assert.ok(isStale(info({ refreshed: old })));
    assert.ok(!isStale(info({})));
    assert.ok(isStale(info({ host: hostname(), pid: 2 ** 22 + 12345 })));
    assert.ok(!isStale(info({ host: hostname(), pid: process.pid })));
    await b.put('locks/' + 'a'.repeat(32), Buffer.from(JSON.stringify(info({ refreshed: old }))));
    const x = await RepoLock.acquire(b, 'exclusive', 'gc');
    assert.deepEqual(
      (await listLocks(b)).map((l) => l.id),
      [x.id],
    );
    await x.release();
  });

  it('a reader gets a lock where one can be written, and any failure other than an unwritable repository is thrown', () =>
    withTempDir(async (dir) => {
      const ok = await RepoLock.acquireForRead(new LocalBackend(join(dir, 'a')), 'read');
      assert.equal(ok.refused, undefined);
      assert.ok(ok.hold.id);
      await ok.hold.release();
      // locks/ is a file: ENOTDIR is damage to report, not a reason to read without a lock.
      await writeFile(join(dir, 'locks'), 'not a directory');
      await assert.rejects(RepoLock.acquireForRead(new LocalBackend(dir), 'read'), {
        code: 'REPO_IO',
      });
    }));

  it('read-only, full and forbidden file systems count as unwritable, through error causes', () => {
    const errno = (code: string): Error => Object.assign(new Error(code), { code });
    for (const code of ['EROFS', 'ENOSPC', 'EDQUOT', 'EACCES', 'EPERM']) {
      assert.equal(unwritableCause(new Error('wrapped', { cause: errno(code) })), code);
    }
    assert.equal(unwritableCause(errno('EIO')), undefined);
    assert.equal(unwritableCause(undefined), undefined);
  });
});
