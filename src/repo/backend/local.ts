/**
 * The local directory backend, the default. Every write is atomic and
 * durable: a temporary file `.tmp-*` in the target directory (its name says
 * which host and process write it, so that what a killed process left is
 * removed at the next run), fsync, rename
 * over the name, fsync of the directory (and of a parent that gained a new
 * directory). An object's bytes go to disk past the page cache where the
 * file system allows (direct-append.ts). Object names map to relative paths.
 * Ranges are read through a small cache of open handles (handle-cache.ts),
 * closed by close().
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { mkdir, open, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { RepoError } from '../errors.js';
import { DirectAppender } from './direct-append.js';
import { HandleCache } from './handle-cache.js';
import {
  checkObjectName,
  objectNotFound,
  type Backend,
  type ObjectInfo,
  type ObjectUpload,
} from './types.js';

export interface LocalBackendOptions {
  /** Read handles kept open for getRange (default 32; 0 opens and closes one per call). */
  openFiles?: number;
  /** How long an unused read handle stays open, in milliseconds (default 5,000). */
  idleMs?: number;
}

export class LocalBackend implements Backend {
  private readonly knownDirs = new Set<string>();
  private readonly readers: HandleCache<FileHandle>;

  constructor(
    readonly location: string,
    options: LocalBackendOptions = {},
  ) {
    this.readers = new HandleCache((name) => this.openForRead(name), {
      max: options.openFiles ?? 32,
      idleMs: options.idleMs ?? 5_000,
    });
  }

  /** How many read handles are open in the cache now (for tests and diagnostics). */
  get openReadHandles(): number {
    return this.readers.size;
  }

  private path(name: string): string {
    checkObjectName(name);
    return join(this.location, name);
  }

  async put(name: string, data: Buffer): Promise<void> {
    const upload = await this.upload(name);
    try {
      await upload.write(data);
      await upload.commit();
    } finally {
      await upload.abort();
    }
  }

  async upload(name: string): Promise<ObjectUpload> {
    const target = this.path(name);
    const dir = dirname(target);
    await this.ensureDir(dir);
    const temp = join(dir, `.tmp-${HOST_TAG}-${process.pid}-${randomBytes(8).toString('hex')}`);
    const fh = await open(temp, 'wx', 0o600).catch((err: unknown) => {
      throw io(`cannot create ${temp}`, err);
    });
    // A cached handle would go on reading the object this one replaces.
    return new LocalUpload(fh, temp, target, dir, () => this.readers.invalidate(name));
  }

  /** Opens an object for reading; a missing one is ObjectNotFound, anything else an I/O error. */
  private async openForRead(name: string): Promise<FileHandle> {
    try {
      return await open(this.path(name), 'r');
    } catch (err) {
      throw this.readError(name, err);
    }
  }

  async get(name: string): Promise<Buffer> {
    const fh = await this.openForRead(name);
    try {
      return await fh.readFile();
    } finally {
      await fh.close();
    }
  }

  async getRange(name: string, offset: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    const got = await this.getRangeInto(name, offset, buf);
    return got === length ? buf : buf.subarray(0, got);
  }

  async getRangeInto(name: string, offset: number, target: Buffer): Promise<number> {
    // Positional reads: any number may share one handle.
    return this.readers.use(name, async (fh) => {
      let got = 0;
      while (got < target.length) {
        const { bytesRead } = await fh.read(target, got, target.length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return got;
    });
  }

  async stat(name: string): Promise<ObjectInfo | undefined> {
    try {
      const s = await stat(this.path(name));
      return s.isFile() ? { name, size: s.size } : undefined;
    } catch (err) {
      if (isEnoent(err)) return undefined;
      throw io(`cannot stat ${name}`, err);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    // Walk the directories the prefix can reach; the prefix may end inside a name.
    const slash = prefix.lastIndexOf('/');
    const dirPart = slash < 0 ? '' : prefix.slice(0, slash);
    yield* this.walk(dirPart, prefix);
  }

  private async *walk(rel: string, prefix: string): AsyncIterable<ObjectInfo> {
    let entries;
    try {
      entries = await readdir(join(this.location, rel), { withFileTypes: true });
    } catch (err) {
      if (isEnoent(err) || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw io(`cannot list ${rel || '.'}`, err);
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue; // temporary files of unfinished writes
      const name = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (name.startsWith(prefix) || prefix.startsWith(name + '/')) {
          yield* this.walk(name, prefix);
        }
      } else if (e.isFile() && name.startsWith(prefix)) {
        const s = await stat(join(this.location, name)).catch(() => undefined);
        if (s) yield { name, size: s.size };
      }
    }
  }

  async delete(name: string): Promise<void> {
    try {
      await unlink(this.path(name));
    } catch (err) {
      if (!isEnoent(err)) throw io(`cannot delete ${name}`, err);
    } finally {
      // After the unlink: a read that opened the file before it would otherwise stay cached.
      this.readers.invalidate(name);
    }
  }

  /**
   * Removes the temporary files of writes that never finished: those of processes of this host
   * that are gone (at once), and any older than maxAgeMs (another host's, or an older release's).
   */
  async removeTemporaries(maxAgeMs: number): Promise<number> {
    let removed = 0;
    const now = Date.now();
    const visit = async (dir: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        const p = join(dir, e.name);
        if (e.isDirectory()) await visit(p);
        else if (e.name.startsWith('.tmp-')) {
          const s = await stat(p).catch(() => undefined);
          if (s && (writerGone(e.name) || now - s.mtimeMs > maxAgeMs)) {
            await rm(p, { force: true });
            removed++;
          }
        }
      }
    };
    await visit(this.location);
    return removed;
  }

  /** Closes the cached read handles; the backend stays usable, without caching. */
  async close(): Promise<void> {
    await this.readers.close();
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.knownDirs.has(dir)) return;
    const parent = dirname(dir);
    let existed = true;
    try {
      await stat(dir);
    } catch {
      existed = false;
    }
    if (!existed) {
      if (parent !== dir) await this.ensureDir(parent);
      try {
        await mkdir(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw io(`cannot create ${dir}`, err);
      }
      // The new directory entry must survive a crash as much as the file in it.
      await fsyncDir(parent);
    }
    this.knownDirs.add(dir);
  }

  private readError(name: string, err: unknown): RepoError {
    return isEnoent(err)
      ? objectNotFound(name, this.location, err)
      : io(`cannot read ${name}`, err);
  }
}

class LocalUpload implements ObjectUpload {
  private done = false;
  /** Stages the bytes and writes them past the page cache where it can (direct-append.ts). */
  private readonly appender: DirectAppender;

  constructor(
    private readonly fh: FileHandle,
    private readonly temp: string,
    private readonly target: string,
    private readonly dir: string,
    private readonly replaced: () => void,
  ) {
    this.appender = new DirectAppender(temp, fh);
  }

  async write(...parts: Buffer[]): Promise<void> {
    if (this.done) throw new RepoError('REPO_CLOSED', 'upload already finished');
    try {
      await this.appender.write(parts);
    } catch (err) {
      throw io(`cannot write ${this.temp}`, err);
    }
  }

  async commit(): Promise<void> {
    if (this.done) throw new RepoError('REPO_CLOSED', 'upload already finished');
    try {
      await this.appender.finish();
      await this.fh.sync();
      await this.fh.close();
      this.done = true;
      await rename(this.temp, this.target);
      this.replaced();
      await fsyncDir(this.dir);
    } catch (err) {
      await this.abort();
      throw io(`cannot write ${this.target}`, err);
    }
  }

  async abort(): Promise<void> {
    if (this.done && !(await exists(this.temp))) return;
    this.done = true;
    await this.appender.close();
    await this.fh.close().catch(() => undefined);
    await rm(this.temp, { force: true }).catch(() => undefined);
  }
}

/** This host, in temporary file names: the start of its name's SHA-256 (any host name fits). */
const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

/** Whether a temporary file was written by a process of this host that no longer exists. */
function writerGone(name: string): boolean {
  const m = /^\.tmp-([0-9a-f]{8})-(\d+)-/.exec(name);
  if (!m || m[1] !== HOST_TAG) return false;
  try {
    process.kill(Number(m[2]), 0); // signal 0: only asks whether the process exists
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function isEnoent(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

function io(message: string, cause: unknown): RepoError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new RepoError('REPO_FULL', `${message}: ${(cause as Error).message}`, { cause });
  }
  return new RepoError('REPO_IO', `${message}: ${(cause as Error)?.message ?? cause}`, { cause });
}
