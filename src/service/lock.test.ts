import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { writeJournal } from './journal.js';
import { VmLock, lockHolder, type LockHolder } from './lock.js';
import { identityOf, isAlive, selfIdentity } from './process-identity.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'brankas-test-lock-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const LOCK = new URL('./lock.js', import.meta.url).href;

/**
 * A process that tries to take VM `vm`'s lock, prints `taken` or `busy PID`, and holds what
 * it took until its stdin closes (or it is killed).
 */
function taker(stateDir: string, vm: string): { child: ChildProcess; answer: Promise<string> } {
  const script =
    `const { VmLock } = await import(${JSON.stringify(LOCK)});` +
    `const r = await VmLock.tryTake(${JSON.stringify(stateDir)}, ${JSON.stringify(vm)}, 'backup');` +
    `console.log(r instanceof VmLock ? 'taken' : 'busy ' + r.pid);` +
    `process.stdin.resume(); process.stdin.on('end', async () => {` +
    `  if (r instanceof VmLock) await r.release(); process.exit(0); });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const answer = once(lines, 'line').then(([l]) => l as string);
  return { child, answer };
}

/** A lock file as a process that is gone left it (a pid that ran and exited). */
async function staleLock(stateDir: string, vm: string): Promise<string> {
  const gone = spawn(process.execPath, ['-e', '']);
  await once(gone, 'exit');
  const holder: LockHolder = {
    version: 1,
    vm,
    job: 'backup',
    ...selfIdentity(),
    pid: gone.pid!,
    start: '1',
    since: new Date().toISOString(),
    nonce: '0123456789abcdef',
  };
  await mkdir(join(stateDir, 'locks'), { recursive: true });
  const body = JSON.stringify(holder) + '\n';
  await writeFile(join(stateDir, 'locks', `vm-${vm}.lock`), body);
  return createHash('sha256').update(body).digest('hex').slice(0, 16);
}

describe('process identity', () => {
  test('this process is alive; a pid reused by another process (other start time) is not', () => {
    assert.equal(isAlive(selfIdentity()), true);
    assert.equal(isAlive({ ...selfIdentity(), start: '1' }), false);
    assert.equal(isAlive({ ...selfIdentity(), boot: 'another-boot' }), false);
  });

  test('a process that exited is not alive', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    await once(child, 'spawn');
    const id = identityOf(child.pid!);
    assert.equal(isAlive(id), true);
    child.kill('SIGKILL');
    await once(child, 'exit');
    assert.equal(isAlive(id), false);
  });
});

describe('the per-VM lock', () => {
  test('a held lock is refused to the next taker, which learns who holds it', async () => {
    const first = await VmLock.tryTake(dir, 'vm-a', 'backup');
    assert.ok(first instanceof VmLock);
    const second = await VmLock.tryTake(dir, 'vm-a', 'restore');
    assert.ok(!(second instanceof VmLock));
    assert.equal(second.pid, process.pid);
    assert.equal(second.job, 'backup');
    assert.equal((await lockHolder(dir, 'vm-a'))?.nonce, first.holder.nonce);
    await first.release();
    const third = await VmLock.tryTake(dir, 'vm-a', 'restore');
    assert.ok(third instanceof VmLock);
    await third.release();
    assert.equal(await lockHolder(dir, 'vm-a'), undefined);
  });

  test('another VM has its own lock', async () => {
    const a = await VmLock.tryTake(dir, 'vm-b', 'backup');
    const b = await VmLock.tryTake(dir, 'vm-b2', 'backup');
    assert.ok(a instanceof VmLock && b instanceof VmLock);
    await a.release();
    await b.release();
  });

  test('a lock held by a process that is killed is taken by the next one', async () => {
    const holder = taker(dir, 'vm-c');
    assert.equal(await holder.answer, 'taken');
    const busy = await VmLock.tryTake(dir, 'vm-c', 'backup');
    assert.ok(!(busy instanceof VmLock));
    assert.equal(busy.pid, holder.child.pid);
    holder.child.kill('SIGKILL');
    await once(holder.child, 'exit');
    const mine = await VmLock.tryTake(dir, 'vm-c', 'backup');
    assert.ok(mine instanceof VmLock);
    await mine.release();
  });

  test('many processes breaking one stale lock at once: exactly one takes it', async () => {
    await staleLock(dir, 'vm-d');
    const takers = Array.from({ length: 6 }, () => taker(dir, 'vm-d'));
    try {
      const answers = await Promise.all(takers.map((t) => t.answer));
      assert.equal(answers.filter((a) => a === 'taken').length, 1, answers.join(', '));
      const winner = takers[answers.indexOf('taken')]!.child.pid;
      for (const a of answers.filter((x) => x !== 'taken')) assert.equal(a, `busy ${winner}`);
    } finally {
      for (const t of takers) t.child.stdin!.end();
      await Promise.all(takers.map((t) => (t.child.exitCode === null ? once(t.child, 'exit') : 0)));
    }
    assert.deepEqual(
      await readdir(join(dir, 'locks')).then((n) => n.filter((x) => /vm-d/.test(x))),
      [],
    );
  });

  test('a breaker killed while breaking a stale lock does not keep it stuck', async () => {
    const id = await staleLock(dir, 'vm-e');
    // The breaker's own lock, left by a process that died in the moment it broke the first.
    const breakerBody = JSON.stringify({
      version: 1,
      vm: 'vm-e',
      job: 'backup',
      ...selfIdentity(),
      start: '1',
      since: new Date().toISOString(),
      nonce: 'fedcba9876543210',
    });
    await writeFile(join(dir, 'locks', `vm-vm-e.lock.break-${id}`), breakerBody);
    const mine = await VmLock.tryTake(dir, 'vm-e', 'backup');
    assert.ok(mine instanceof VmLock);
    assert.deepEqual(
      (await readdir(join(dir, 'locks'))).filter((x) => /vm-e/.test(x)),
      ['vm-vm-e.lock'],
    );
    await mine.release();
  });

  test('bytes that are not a lock file (a crash while writing) do not keep it stuck', async () => {
    await mkdir(join(dir, 'locks'), { recursive: true });
    await writeFile(join(dir, 'locks', 'vm-vm-f.lock'), '{"version":1,"pi');
    const mine = await VmLock.tryTake(dir, 'vm-f', 'backup');
    assert.ok(mine instanceof VmLock);
    await mine.release();
  });

  test('a state directory that cannot be used is a typed error naming it', async () => {
    const file = join(dir, 'not-a-directory');
    await writeFile(file, '');
    await assert.rejects(
      VmLock.tryTake(file, 'vm-h', 'backup'),
      (err: Error & { code?: string; details?: Record<string, unknown> }) => {
        assert.equal(err.code, 'STATE_DIR_UNUSABLE');
        assert.equal(err.details?.['dir'], file);
        assert.match(String(err.details?.['reason']), /ENOTDIR/);
        return true;
      },
    );
    const journal = writeJournal(file, {
      version: 1,
      vm: 'vm-h',
      owner: { ...selfIdentity(), job: 'backup' },
      changes: [
        {
          kind: 'powered-off',
          vm: 'vm-h',
          uuid: 'u',
          initial: 'running',
          at: 'T',
          job: 'backup',
          pid: 1,
        },
      ],
    });
    await assert.rejects(journal, { code: 'STATE_DIR_UNUSABLE' });
  });

  test('release leaves a lock it no longer holds alone', async () => {
    const mine = await VmLock.tryTake(dir, 'vm-g', 'backup');
    assert.ok(mine instanceof VmLock);
    await rm(join(dir, 'locks', 'vm-vm-g.lock'));
    const other = await VmLock.tryTake(dir, 'vm-g', 'restore');
    assert.ok(other instanceof VmLock);
    await mine.release();
    assert.equal((await lockHolder(dir, 'vm-g'))?.nonce, other.holder.nonce);
    await other.release();
  });
});
