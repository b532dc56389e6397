/**
 * Reading a disk of a backup: random access to any byte range, each chunk
 * verified on read (CRC32, GCM tag, id), a failure naming the chunk, disk and
 * backup. The fixed index is checked whole when the disk is opened.
 */
import { RepoError, RepoIntegrityError } from './errors.js';
import type { Manifest, ManifestDisk } from './manifest.js';
import { recordCapacity, ZERO_ID } from './record.js';
import type { Slot } from './workers/arena.js';
import type { CodecArena } from './workers/pool.js';
import type { Repository } from './repository.js';
import type { LockKind, ReadHold } from './lock.js';
import { SlotReader } from './slots.js';
import { copyBytes } from '../util/copy.js';
import type { SourceExtent } from './source.js';

/**
 * Decoded chunks a reader keeps: 24 MiB (96 slots at 256 KiB, at least 12), half of them a
 * cache, a sixth decoded ahead of a sequential reader, a third what one read pins at a time
 * (a longer read goes in groups). Before 2026-11-28 the counts were fixed, 192 MiB of cache
 * at 4 MiB chunks.
 */
const READER_BYTES = 24 * 1024 * 1024;
/**
 * Records being read and decoded at once: 8 MiB of them, 8 to 32. With 8 (until 2026-11-28)
 * a 1 GiB restore at 256 KiB chunks kept the two workers idle 45 % of the time, the reads and
 * decodes of too few records waiting on each other; 32 made it about 8 % faster.
 */
const RECORD_BYTES = 8 * 1024 * 1024;

function recordSlots(chunkSize: number): number {
  return Math.max(8, Math.min(32, Math.floor(RECORD_BYTES / chunkSize)));
}

function shape(chunkSize: number): { cache: number; prefetch: number; read: number } {
  const slots = Math.max(12, Math.floor(READER_BYTES / chunkSize));
  return { cache: slots / 2, prefetch: Math.floor(slots / 6), read: Math.floor(slots / 3) };
}

/**
 * A decoded slot: its plaintext in an arena slot (or, when every arena slot is taken, in a
 * buffer of its own), or all zero; pinned while being copied out.
 */
interface Entry {
  ready: Promise<Held | Buffer | 'zero'>;
  pins: number;
}

/** An arena slot and the generation it had when this entry took it. */
interface Held {
  slot: Slot;
  gen: number;
}

export class BackupDisk {
  private readonly cache = new Map<number, Entry>();
  private nextSlot = 0;
  private closed = false;
  /** Plaintexts (the cache, what reads pin, prefetches) and records on their way. */
  private plain: CodecArena | undefined;
  private records: CodecArena | undefined;
  private readonly shape: ReturnType<typeof shape>;

  private constructor(
    private readonly repo: Repository,
    readonly backup: Manifest,
    readonly disk: ManifestDisk,
    private readonly slots: SlotReader,
    private readonly lock: ReadHold | undefined,
  ) {
    this.shape = shape(slots.header.chunkSize);
  }

  /**
   * Opens a disk under a shared lock (so garbage collection waits for the reader), or none
   * when the repository cannot be written (the repository warns).
   */
  static async open(
    repo: Repository,
    backupId: string,
    diskName: string,
    o: { lock?: LockKind | false } = {},
  ): Promise<BackupDisk> {
    repo.requireKeys();
    const kind = o.lock ?? 'shared';
    const lock =
      kind === false
        ? undefined
        : kind === 'shared'
          ? await repo.readLock('read')
          : await repo.lock(kind, 'read');
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

  private arenas(): { plain: CodecArena; records: CodecArena } {
    const cs = this.chunkSize;
    const { cache, prefetch, read } = this.shape;
    this.plain ??= this.repo.codec.openArena(cs, Math.ceil(cache) + prefetch + read);
    this.records ??= this.repo.codec.openArena(recordCapacity(cs), recordSlots(cs));
    return { plain: this.plain, records: this.records };
  }

  /**
   * The cache entry of one slot, loading it if needed (shared with a prefetch of it); with
   * `pin`, pinned before anything is evicted. (Pinned after, as until 2026-11-28, a new entry
   * could be evicted at once when reads in flight pinned more than the cache keeps: its slot
   * went back to the arena when loaded, the next decode wrote over it, and the read that held
   * the entry copied out another chunk's bytes, 12 to 20 chunks of every 1 GiB restore.)
   */
  private entry(s: number, pin = false): Entry {
    let e = this.cache.get(s);
    if (e) {
      if (pin) e.pins++;
      return e;
    }
    const ready = this.load(s);
    ready.catch(() => undefined); // a prefetch nobody reads must not be an unhandled rejection
    e = { ready, pins: pin ? 1 : 0 };
    this.cache.set(s, e);
    this.evict();
    return e;
  }

  /** Drops the oldest unpinned entries beyond the cache's size; their slots go back when loaded. */
  private evict(): void {
    const keep = this.shape.cache;
    if (this.cache.size <= keep) return;
    for (const [s, e] of this.cache) {
      if (this.cache.size <= keep) break;
      if (e.pins > 0) continue;
      this.cache.delete(s);
      this.drop(e);
    }
  }

  private drop(e: Entry): void {
    e.ready.then(
      (slot) => {
        if (slot !== 'zero' && !Buffer.isBuffer(slot)) this.plain!.release(slot.slot);
      },
      () => undefined,
    );
  }

  private async load(s: number): Promise<Held | Buffer | 'zero'> {
    const cs = this.chunkSize;
    const len = Math.min(cs, this.virtualSize - s * cs);
    const id = await this.slots.get(s);
    if (id.equals(ZERO_ID)) return 'zero';
    const { plain, records } = this.arenas();
    const where = { backup: this.backup.id, disk: this.disk.name, offset: s * cs };
    const bad = (n: number): RepoIntegrityError =>
      new RepoIntegrityError('REPO_CHUNK_CORRUPT', `chunk has ${n} bytes, slot needs ${len}`, {
        ...where,
        chunk: id.toString('hex'),
      });
    // Never waits for a slot (callers may pin more than the arena holds): without one, the
    // chunk is decoded into a buffer of its own.
    const slot = plain.tryAcquire();
    if (!slot) {
      const data = await this.repo.loadChunk(Buffer.from(id), where);
      if (data.length !== len) throw bad(data.length);
      return data;
    }
    try {
      const n = await this.repo.loadChunkInto(Buffer.from(id), where, slot, plain, records);
      if (n !== len) throw bad(n);
      return { slot, gen: plain.generation(slot) };
    } catch (err) {
      plain.release(slot);
      throw err;
    }
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
    // Read in groups that fit the arena with the cache full; a group's slots are pinned (not
    // evicted) until copied out.
    const { read: group, prefetch } = this.shape;
    for (let from = first; from <= last; from += group) {
      const to = Math.min(last, from + group - 1);
      const wanted: Entry[] = [];
      for (let s = from; s <= to; s++) wanted.push(this.entry(s, true));
      // Several chunks at once so the workers decode in parallel; a sequential reader also gets
      // the next slots decoding while it consumes these.
      if (from === this.nextSlot || from === this.nextSlot - 1) {
        const end = Math.min(this.slots.slots, to + 1 + prefetch);
        for (let s = to + 1; s < end; s++) this.entry(s);
      }
      this.nextSlot = to + 1;
      try {
        const parts = await Promise.all(wanted.map((e) => e.ready));
        parts.forEach((slot, i) => {
          const base = (from + i) * cs;
          const a = Math.max(offset, base);
          const b = Math.min(offset + length, base + cs);
          const at = targetOffset + a - offset;
          if (slot === 'zero') target.fill(0, at, at + b - a);
          else if (Buffer.isBuffer(slot)) target.set(slot.subarray(a - base, b - base), at);
          else {
            // A slot handed out again since it was decoded holds another chunk by now: a bug,
            // never to become wrong bytes in a restore (see entry()).
            if (this.plain!.generation(slot.slot) !== slot.gen) {
              throw new RepoError(
                'REPO_INTERNAL',
                `an internal check failed (the reader's slot for chunk ${from + i} was reused), ` +
                  'so the read stopped before returning wrong bytes: a bug in brankas, please report it',
              );
            }
            copyBytes(target, at, slot.slot.buf.subarray(a - base, b - base));
          }
        });
      } finally {
        for (const e of wanted) e.pins--;
        this.evict();
      }
    }
  }

  /** Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const loads = [...this.cache.values()].map((e) => e.ready);
    this.cache.clear();
    await Promise.allSettled(loads);
    this.plain?.close();
    this.records?.close();
    await this.lock?.release();
  }
}
