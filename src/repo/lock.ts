/**
 * Locks (docs/repository-format.md, "Locks"): an object per holder in
 * locks/, refreshed while held. Shared locks coexist with everything;
 * exclusive ones only exclude each other (garbage collection is safe beside
 * writers by its two phases). Stale locks, of dead processes on this host or
 * not refreshed for 30 minutes, are ignored and removed. A reader of a
 * repository that cannot be written (read-only mount, full file system) reads
 * without a lock instead of failing, and the repository says so.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Backend } from './backend/types.js';
import { isObjectNotFound, RepoError } from './errors.js';

export type LockKind = 'shared' | 'exclusive';

export interface LockInfo {
  format: 'brankas-lock';
  version: 1;
  kind: LockKind;
  purpose: string;
  host: string;
  pid: number;
  created: string;
  refreshed: string;
}

export interface ListedLock {
  id: string;
  info: LockInfo | undefined;
  stale: boolean;
}

/**
 * Why a write failed, when the cause is that the repository cannot be written at all (as
 * opposed to damage or a bug): the errno of a read-only or full file system, or of one the
 * process may not write to.
 */
export function unwritableCause(err: unknown): string | undefined {
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && UNWRITABLE.has(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

const UNWRITABLE = new Set([
  'EROFS',
  'ENOSPC',
  'EDQUOT',
  'EACCES',
  'EPERM',
  // A bucket whose credentials may read but not write.
  'REPO_S3_WRITE_DENIED',
]);

/** What a reader holds while it reads: a lock, or nothing when none could be written. */
export interface ReadHold {
  /** The lock's id, or undefined when the reader holds none. */
  readonly id: string | undefined;
  /** Idempotent. */
  release(): Promise<void>;
}

/** The hold of a reader that could not write its lock: nothing to release. */
export const NO_LOCK: ReadHold = { id: undefined, release: () => Promise.resolve() };

export const STALE_AFTER_MS = 30 * 60 * 1000;
export const REFRESH_EVERY_MS = 5 * 60 * 1000;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function isStale(info: LockInfo, now = Date.now()): boolean {
  if (info.host === hostname() && !pidAlive(info.pid)) return true;
  return now - Date.parse(info.refreshed) > STALE_AFTER_MS;
}

export async function listLocks(backend: Backend): Promise<ListedLock[]> {
  const out: ListedLock[] = [];
  for await (const o of backend.list('locks/')) {
    const id = o.name.slice('locks/'.length);
    if (!/^[0-9a-f]{32}$/.test(id)) continue;
    let info: LockInfo | undefined;
    try {
      info = JSON.parse((await backend.get(o.name)).toString('utf8')) as LockInfo;
    } catch (err) {
      if (isObjectNotFound(err)) continue; // released while we listed
      info = undefined; // unreadable: half a lock is no lock, but only age could tell
    }
    out.push({ id, info, stale: info ? isStale(info) : false });
  }
  return out;
}

export class RepoLock implements ReadHold {
  private timer: NodeJS.Timeout | undefined;
  private released = false;

  private constructor(
    private readonly backend: Backend,
    readonly id: string,
    readonly info: LockInfo,
  ) {}

  /** Takes a lock; an exclusive one fails with REPO_LOCKED if another exclusive lock is live. */
  static async acquire(backend: Backend, kind: LockKind, purpose: string): Promise<RepoLock> {
    const now = new Date().toISOString();
    const info: LockInfo = {
      format: 'brankas-lock',
      version: 1,
      kind,
      purpose,
      host: hostname(),
      pid: process.pid,
      created: now,
      refreshed: now,
    };
    const id = randomBytes(16).toString('hex');
    const lock = new RepoLock(backend, id, info);
    await backend.put(`locks/${id}`, lock.bytes());
    if (kind === 'exclusive') {
      const others = (await listLocks(backend)).filter((l) => l.id !== id);
      for (const l of others) if (l.stale) await backend.delete(`locks/${l.id}`);
      const blocking = others.find((l) => !l.stale && l.info?.kind === 'exclusive');
      if (blocking) {
        await backend.delete(`locks/${id}`);
        const b = blocking.info!;
        throw new RepoError(
          'REPO_LOCKED',
          `the repository is locked by ${b.purpose} (pid ${b.pid} on ${b.host} since ${b.created})`,
          { details: { lock: blocking.id, holder: b } },
        );
      }
    }
    lock.timer = setInterval(() => void lock.refresh().catch(() => undefined), REFRESH_EVERY_MS);
    lock.timer.unref();
    return lock;
  }

  /**
   * A shared lock for a reader, or, when the repository cannot be written (see
   * unwritableCause), none: `refused` then says why. Any other failure is thrown.
   */
  static async acquireForRead(
    backend: Backend,
    purpose: string,
  ): Promise<{ hold: ReadHold; refused?: string }> {
    try {
      return { hold: await RepoLock.acquire(backend, 'shared', purpose) };
    } catch (err) {
      const refused = unwritableCause(err);
      if (refused === undefined) throw err;
      return { hold: NO_LOCK, refused };
    }
  }

  private bytes(): Buffer {
    return Buffer.from(JSON.stringify(this.info) + '\n');
  }

  async refresh(): Promise<void> {
    if (this.released) return;
    this.info.refreshed = new Date().toISOString();
    await this.backend.put(`locks/${this.id}`, this.bytes());
  }

  /** Idempotent. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    await this.backend.delete(`locks/${this.id}`);
  }
}
