/**
 * Where a writer's new chunks go: encoded on the worker threads (a bounded
 * number at once) into arena slots, appended to the open pack's upload
 * straight from those slots as they come, the pack committed (table, trailer,
 * fsync, rename) when full while the next one fills, and only then its
 * entries handed to the index. Until then `has()` answers for them, so a
 * chunk repeated within a disk is stored once.
 */
import type { ObjectUpload } from './backend/types.js';
import { RepoError } from './errors.js';
import { PENDING_LIMIT } from './chunk-index.js';
import { packEnd, packHeader, packObjectName, PACK_HEADER, type PackEntry } from './pack.js';
import { RECORD_HEADER } from './record.js';
import { randomBytes } from 'node:crypto';
import type { Repository } from './repository.js';
import type { Slot } from './workers/arena.js';
import type { CodecArena } from './workers/pool.js';

/** Full packs committing at once (they hold no memory: their records are already written). */
const MAX_COMMITS = 4;

interface QueuedRecord {
  id: Buffer;
  plainLength: number;
  length: number;
  flags: number;
  parts: Buffer[];
  done(): void;
  fail(err: unknown): void;
}

interface OpenPack {
  id: Buffer;
  upload: ObjectUpload;
  entries: PackEntry[];
  size: number;
}

export class PackSink {
  private pack: OpenPack | undefined;
  private readonly inFlight = new Set<string>();
  private readonly encodes = new Set<Promise<void>>();
  /** Record writes, one after another (a pack's records are written in order). */
  private appends: Promise<void> = Promise.resolve();
  /** Records encoded and waiting for the next write. */
  private queued: QueuedRecord[] = [];
  /** Full packs being committed (several at once: each waits for its fsync). */
  private readonly committing = new Set<Promise<void>>();
  private indexed: Promise<void> = Promise.resolve();
  private failure: unknown;
  newChunks = 0;
  newPlainBytes = 0;
  newStoredBytes = 0;

  constructor(
    private readonly repo: Repository,
    private readonly arena: CodecArena,
    /** Encodes at once; each holds two arena slots (the chunk and its record). */
    readonly maxEncodes = 16,
  ) {}

  has(id: Buffer): boolean {
    return this.inFlight.has(id.toString('hex'));
  }

  /**
   * Stores the chunk in `plain` (length bytes) under id. The slot is the sink's from here on,
   * also when this throws: it is released once its record is written.
   */
  async store(plain: Slot, length: number, id: Buffer): Promise<void> {
    const arena = this.arena;
    if (this.failure) {
      arena.release(plain);
      this.check();
    }
    this.inFlight.add(id.toString('hex'));
    const p = (async () => {
      const to = await arena.acquire();
      try {
        const r = await arena.encode(plain, length, id, to);
        // Written from the slots themselves: nothing is copied on this thread.
        const parts = r.payloadInPlain
          ? [to.buf.subarray(0, RECORD_HEADER), plain.buf.subarray(0, length)]
          : [to.buf.subarray(0, r.length)];
        await this.append(id, length, r.length, to.buf[5]!, parts);
      } finally {
        arena.release(to);
        arena.release(plain);
      }
    })().catch((err: unknown) => {
      this.failure ??= err;
    });
    this.encodes.add(p);
    void p.finally(() => this.encodes.delete(p));
    if (this.encodes.size >= this.maxEncodes) await Promise.race(this.encodes);
    // Packs commit while the next fills, MAX_COMMITS at once: a writer that waited for each
    // pack's fsync left every worker idle a third of the time, and one commit at a time instead
    // of four made a 1 GiB backup 5–10 % slower (alternating runs, compressed or not).
    while (this.committing.size >= MAX_COMMITS) await Promise.race(this.committing);
    this.check();
  }

  /**
   * Appends one record to the open pack (opened on first use); resolves once written. Records
   * that arrive while a write is running go together in the next one: one writev for many
   * instead of a round trip to the I/O threads per record (5–10 % off an uncompressed 1 GiB
   * backup, alternating runs).
   */
  private append(
    id: Buffer,
    plainLength: number,
    length: number,
    flags: number,
    parts: Buffer[],
  ): Promise<void> {
    return new Promise((done, fail) => {
      this.queued.push({ id, plainLength, length, flags, parts, done, fail });
      if (this.queued.length === 1) {
        this.appends = this.appends.then(() => this.writeQueued());
      }
    });
  }

  /** Writes what is queued, pack by pack; a failure fails every record not yet written. */
  private async writeQueued(): Promise<void> {
    const batch = this.queued.splice(0);
    let at = 0;
    try {
      while (at < batch.length) {
        if (this.failure) throw this.failure;
        const pack = (this.pack ??= await this.openPack());
        // The records that go into this pack: up to the one that fills it.
        const parts: Buffer[] = [];
        let end = at;
        while (end < batch.length && pack.size < this.repo.config.packSize) {
          const r = batch[end++]!;
          parts.push(...r.parts);
          pack.entries.push({
            id: Buffer.from(r.id),
            offset: pack.size,
            length: r.length,
            plainLength: r.plainLength,
            flags: r.flags,
          });
          pack.size += r.length;
        }
        await pack.upload.write(...parts);
        for (const r of batch.slice(at, end)) {
          this.newChunks++;
          this.newPlainBytes += r.plainLength;
          this.newStoredBytes += r.length;
          r.done();
        }
        at = end;
        if (pack.size >= this.repo.config.packSize) this.sealPack();
      }
    } catch (err) {
      this.failure ??= err;
      for (const r of batch.slice(at)) r.fail(err);
    }
  }

  private async openPack(): Promise<OpenPack> {
    const id = randomBytes(32);
    const upload = await this.repo.backend.upload(packObjectName(id.toString('hex')));
    try {
      await upload.write(packHeader());
    } catch (err) {
      await upload.abort();
      throw err;
    }
    return { id, upload, entries: [], size: PACK_HEADER };
  }

  /** Closes the open pack and queues its commit; the next record opens a new one. */
  private sealPack(): void {
    const pack = this.pack;
    if (!pack) return;
    this.pack = undefined;
    const done = (async () => {
      try {
        if (this.failure) throw this.failure;
        for (const part of packEnd(pack.entries)) await pack.upload.write(part);
        await pack.upload.commit();
        // The index takes committed packs one at a time (a flush is not to run twice at once).
        const indexed = this.indexed.then(async () => {
          for (const e of pack.entries) {
            this.repo.index.addPending({
              id: e.id,
              pack: pack.id,
              offset: e.offset,
              length: e.length,
              plainLength: e.plainLength,
            });
            this.inFlight.delete(e.id.toString('hex'));
          }
          if (this.repo.index.pendingCount >= PENDING_LIMIT) await this.repo.index.flush();
        });
        this.indexed = indexed.catch(() => undefined);
        await indexed;
      } catch (err) {
        this.failure ??= err;
        await pack.upload.abort().catch(() => undefined);
      }
    })();
    this.committing.add(done);
    // Registered before any waiter's await, so a waiter sees the set already smaller.
    void done.finally(() => this.committing.delete(done));
  }

  private check(): void {
    if (this.failure) {
      throw this.failure instanceof Error
        ? this.failure
        : new RepoError('REPO_IO', `storing a chunk failed: ${String(this.failure)}`);
    }
  }

  /** Waits for every encode and write; the last pack is committed. */
  async finish(): Promise<void> {
    await Promise.all(this.encodes);
    await this.appends;
    this.check();
    this.sealPack();
    await Promise.all(this.committing);
    this.check();
  }

  /** After a failure: waits for what is running, commits nothing more. */
  async abandon(): Promise<void> {
    this.failure ??= new RepoError('REPO_CLOSED', 'abandoned');
    await Promise.allSettled([...this.encodes]);
    await this.appends;
    this.sealPack(); // its commit sees the failure and aborts the upload
    await Promise.all(this.committing);
  }
}
