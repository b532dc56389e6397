/**
 * The per-VM lock (docs/state-format.md): one job per VM at a time, across
 * processes. A lock file names its holder by process identity; a holder that
 * is gone (killed, crashed, rebooted away) leaves a stale lock that the next
 * process breaks, under a lock of its own so that only one process breaks it.
 * No flock: nothing stays stuck, and nothing depends on a held descriptor.
 */
import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, readFile, readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isAlive, selfIdentity, type ProcessIdentity } from './process-identity.js';
import { ServiceError, unusable } from './errors.js';

export type JobKind = 'backup' | 'restore' | 'verify' | 'snapshot';

export interface LockHolder extends ProcessIdentity {
  version: 1;
  vm: string;
  job: JobKind;
  /** When it was taken (ISO 8601). */
  since: string;
  nonce: string;
}

/** Levels of breaker locks: each needs a process killed in the moment it breaks the one below. */
const MAX_DEPTH = 4;

export function vmFileName(vm: string): string {
  return `vm-${encodeURIComponent(vm)}`;
}

export function locksDir(stateDir: string): string {
  return join(stateDir, 'locks');
}

function lockPath(stateDir: string, vm: string): string {
  return join(locksDir(stateDir), `${vmFileName(vm)}.lock`);
}

const nonce = (): string => randomBytes(8).toString('hex');

/** What a lock file records of its holder: at least who it is and a nonce of its own. */
interface LockRecord extends ProcessIdentity {
  nonce: string;
}

/** The lock file's holder and the hash of its bytes; undefined when there is no file. */
async function readLock<H extends LockRecord = LockHolder>(
  path: string,
): Promise<{ holder: H | undefined; id: string } | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const id = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
  try {
    const holder = JSON.parse(bytes.toString('utf8')) as H;
    if (typeof holder.pid !== 'number' || typeof holder.nonce !== 'string') throw new Error();
    return { holder, id };
  } catch {
    // Not a lock file (a crash of the whole machine while one was written): nobody holds it.
    return { holder: undefined, id };
  }
}

async function unlinkQuiet(path: string): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/**
 * Takes the lock file at `path` for `holder`, breaking a stale one; the live
 * holder when it is held.
 */
async function take<H extends LockRecord>(
  path: string,
  holder: H,
  depth: number,
): Promise<{ taken: true } | { taken: false; holder: H }> {
  const tmp = `${path}.${holder.nonce}.tmp`;
  await writeFile(tmp, JSON.stringify(holder) + '\n', { flag: 'wx', mode: 0o644 });
  try {
    for (;;) {
      try {
        await link(tmp, path);
        return { taken: true };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const found = await readLock<H>(path);
      if (found === undefined) continue; // released in between
      if (found.holder && isAlive(found.holder)) return { taken: false, holder: found.holder };
      if (depth >= MAX_DEPTH) {
        throw new ServiceError(
          'STATE_DIR_UNUSABLE',
          `cannot break the stale lock ${path}: remove it by hand`,
          { details: { dir: path, reason: 'too many stale breaker locks' } },
        );
      }
      // Stale. Only the process holding `break-ID` may remove the file whose bytes hash to ID,
      // so two processes never remove a lock that one of them has just taken.
      const breaker = `${path}.break-${found.id}`;
      const b = await take(breaker, { ...holder, nonce: nonce() }, depth + 1);
      if (!b.taken) {
        // Another live process is breaking it right now: a moment.
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      try {
        const again = await readLock<H>(path);
        if (again?.id === found.id) await unlinkQuiet(path);
      } finally {
        await unlinkQuiet(breaker);
      }
    }
  } finally {
    await unlinkQuiet(tmp);
  }
}

/** A held VM lock; `release()` gives it up (idempotent). */
export class VmLock {
  private released = false;

  private constructor(
    private readonly path: string,
    readonly holder: LockHolder,
  ) {}

  /** The lock, or the live holder that has it. */
  static async tryTake(stateDir: string, vm: string, job: JobKind): Promise<VmLock | LockHolder> {
    const holder: LockHolder = {
      version: 1,
      vm,
      job,
      ...selfIdentity(),
      since: new Date().toISOString(),
      nonce: nonce(),
    };
    const path = lockPath(stateDir, vm);
    try {
      await mkdir(locksDir(stateDir), { recursive: true, mode: 0o755 });
      const r = await take(path, holder, 0);
      return r.taken ? new VmLock(path, holder) : r.holder;
    } catch (err) {
      throw unusable(stateDir, err);
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const found = await readLock(this.path);
    if (found?.holder?.nonce === this.holder.nonce) await unlinkQuiet(this.path);
  }
}

/** The live holder of a VM's lock, if any. */
export async function lockHolder(stateDir: string, vm: string): Promise<LockHolder | undefined> {
  const found = await readLock(lockPath(stateDir, vm));
  return found?.holder && isAlive(found.holder) ? found.holder : undefined;
}

/** Every live holder of a VM lock (for status). */
export async function liveHolders(stateDir: string): Promise<LockHolder[]> {
  const names = await readdir(locksDir(stateDir)).catch(() => [] as string[]);
  const holders: LockHolder[] = [];
  for (const name of names) {
    if (!/^vm-.*\.lock$/.test(name)) continue;
    const found = await readLock(join(locksDir(stateDir), name)).catch(() => undefined);
    if (found?.holder && isAlive(found.holder)) holders.push(found.holder);
  }
  return holders;
}

/** The holder of a file lock (`withFileLock`): who, since when, and what for. */
export interface FileLockHolder extends LockRecord {
  version: 1;
  /** What the lock guards (for a person reading the file). */
  what: string;
  since: string;
}

/**
 * Runs `fn` holding the lock file `path` (the VM lock's procedure: `link(2)`, a dead holder's
 * lock broken), waiting while a live process holds it, at most `deadlineMs`. For short
 * read-modify-write steps on a shared file (the schedule file), so two processes never lose
 * each other's edit and a killed one never blocks the next.
 */
export async function withFileLock<T>(
  path: string,
  what: string,
  fn: () => Promise<T>,
  deadlineMs = 60_000,
): Promise<T> {
  const holder: FileLockHolder = {
    version: 1,
    what,
    ...selfIdentity(),
    since: new Date().toISOString(),
    nonce: nonce(),
  };
  const end = Date.now() + deadlineMs;
  // Short edits: try again soon, a little later each time (with jitter, so waiters spread out).
  for (let wait = 5; ; wait = Math.min(wait * 2, 200)) {
    const r = await take(path, holder, 0);
    if (r.taken) break;
    if (Date.now() > end) {
      throw new Error(
        `${path} is held by pid ${r.holder.pid} since ${r.holder.since} (waited ${deadlineMs} ms)`,
      );
    }
    await new Promise((res) => setTimeout(res, wait + Math.random() * wait));
  }
  try {
    return await fn();
  } finally {
    const found = await readLock<FileLockHolder>(path).catch(() => undefined);
    if (found?.holder?.nonce === holder.nonce) await unlinkQuiet(path);
  }
}
