/**
 * Reading a disk of a backup: random access to any byte range, each chunk
 * verified on read (CRC32, GCM tag, id), a failure naming the chunk, disk and
 * backup. The fixed index is checked whole when the disk is opened.
 */
import { RepoError, RepoIntegrityError } from './errors.js';
import type { Manifest, ManifestDisk } from './manifest.js';
import { ZERO_ID } from './record.js';
import type { Repository } from './repository.js';
import type { LockKind, RepoLock } from './lock.js';
import { SlotReader } from './slots.js';
import type { SourceExtent } from './source.js';

/** Slots decoded ahead of a sequential reader (4 MiB at 256 KiB), and slots kept. */
const PREFETCH = 16;
const CACHE_SLOTS = 48;

export class BackupDisk {
  private cache = new Map<number, Promise<Buffer>>();
  private nextSlot = 0;
  private closed = false;

  private constructor(
    private readonly repo: Repository,
    readonly backup: Manifest,
    readonly disk: ManifestDisk,
    private readonly slots: SlotReader,
    private readonly lock: RepoLock | undefined,
  ) {}

  /** Opens a disk under a shared lock (so garbage collection waits for the reader). */
  static async open(
    repo: Repository,
    backupId: string,
    diskName: string,
    o: { lock?: LockKind | false } = {},
  ): Promise<BackupDisk> {
    repo.requireKeys();
    const lock = o.lock === false ? undefined : await repo.lock(o.lock ?? 'shared', 'read');
    try {
      const { manifest } = await repo.manifest(backupId);
      const disk = manifest.disks.find((d) => d.name === diskName);
      if (!disk) {
        throw new RepoError('REPO_DISK_NOT_FOUND', `backup ${backupId} has no disk ${diskName}`, {
          details: { backup: backupId, disk: diskName },
        });
      }
      const slots = await SlotReader.open(repo.backend, backupId, disk);
      await slots.verify();
      return new BackupDisk(repo, manifest, disk, slots, lock);
    } catch (err) {
      await lock?.release();
      throw err;
    }
  }

  get virtualSize(): number {
    return this.disk.virtualSize;
  }

  get chunkSize(): number {
    return this.slots.header.chunkSize;
  }

  /** Data and zero extents at chunk granularity (adjacent slots of a kind merged). */
  async *extents(): AsyncIterable<SourceExtent> {
    const cs = this.chunkSize;
    let cur: SourceExtent | undefined;
    for (let s = 0; s < this.slots.slots; s++) {
      const kind = (await this.slots.get(s)).equals(ZERO_ID) ? 'zero' : 'data';
      const offset = s * cs;
      const length = Math.min(cs, this.virtualSize - offset);
      if (cur && cur.kind === kind) cur.length += length;
      else {
        if (cur) yield cur;
        cur = { offset, length, kind };
      }
    }
    if (cur) yield cur;
  }

  /** The plaintext of one slot, verified (shared with a prefetch of it, if any). */
  slot(s: number): Promise<Buffer> {
    let p = this.cache.get(s);
    if (!p) {
      p = this.load(s);
      p.catch(() => undefined); // a prefetch nobody reads must not be an unhandled rejection
      if (this.cache.size >= CACHE_SLOTS) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(s, p);
    }
    return p;
  }

  private async load(s: number): Promise<Buffer> {
    const cs = this.chunkSize;
    const len = Math.min(cs, this.virtualSize - s * cs);
    const id = await this.slots.get(s);
    if (id.equals(ZERO_ID)) return Buffer.alloc(len);
    const data = await this.repo.loadChunk(Buffer.from(id), {
      backup: this.backup.id,
      disk: this.disk.name,
      offset: s * cs,
    });
    if (data.length !== len) {
      throw new RepoIntegrityError(
        'REPO_CHUNK_CORRUPT',
        `chunk has ${data.length} bytes, slot needs ${len}`,
        {
          backup: this.backup.id,
          disk: this.disk.name,
          chunk: id.toString('hex'),
          offset: s * cs,
        },
      );
    }
    return data;
  }

  /** Bytes [offset, offset+length); reading past the end is an error. */
  async read(offset: number, length: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(length);
    await this.readInto(out, 0, offset, length);
    return out;
  }

  /** Like read, into target[targetOffset...] (a caller's reused buffer). */
  async readInto(
    target: Uint8Array,
    targetOffset: number,
    offset: number,
    length: number,
  ): Promise<void> {
    if (this.closed) throw new RepoError('REPO_CLOSED', 'disk is closed');
    if (targetOffset < 0 || targetOffset + length > target.length) {
      throw new RepoError('REPO_INVALID_ARGUMENT', 'target buffer is too small for the read');
    }
    if (offset < 0 || length < 0 || offset + length > this.virtualSize) {
      throw new RepoError(
        'REPO_INVALID_ARGUMENT',
        `read of ${length} bytes at ${offset} is outside the disk`,
      );
    }
    const cs = this.chunkSize;
    const first = Math.floor(offset / cs);
    const last = length ? Math.floor((offset + length - 1) / cs) : first - 1;
    // Several chunks at once so the workers decode in parallel; a sequential reader also gets
    // the next slots decoding while it consumes these.
    const wanted = Array.from({ length: last - first + 1 }, (_, i) => this.slot(first + i));
    if (first === this.nextSlot || first === this.nextSlot - 1) {
      const end = Math.min(this.slots.slots, last + 1 + PREFETCH);
      for (let s = last + 1; s < end; s++) void this.slot(s);
    }
    this.nextSlot = last + 1;
    const parts = await Promise.all(wanted);
    parts.forEach((data, i) => {
      const base = (first + i) * cs;
      const from = Math.max(offset, base);
      const to = Math.min(offset + length, base + data.length);
      data.copy(target, targetOffset + from - offset, from - base, to - base);
    });
  }

  /** Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cache.clear();
    await this.lock?.release();
  }
}
