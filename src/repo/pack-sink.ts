/**
 * Where a writer's new chunks go: encoded on the worker threads (a bounded
 * number at once), gathered into a pack, the pack put whole when full, and
 * only then its entries handed to the index. Until then `has()` answers for
 * them, so a chunk repeated within a disk is stored once.
 */
import { RepoError } from './errors.js';
import { PackBuilder, putPack } from './pack.js';
import { PENDING_LIMIT } from './chunk-index.js';
import type { Repository } from './repository.js';
import type { Slot } from './workers/arena.js';
import type { CodecArena } from './workers/pool.js';

export class PackSink {
  private pack = new PackBuilder();
  private readonly inFlight = new Set<string>();
  private readonly encodes = new Set<Promise<void>>();
  private uploads: Promise<void> = Promise.resolve();
  /** Sealed packs not yet written, oldest first (they are written in order). */
  private readonly sealed: Promise<void>[] = [];
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
   * also when this throws: it is released once its record is in a pack.
   */
  async store(plain: Slot, length: number, id: Buffer): Promise<void> {
    const arena = this.arena;
    if (this.failure) {
      arena.release(plain);
      this.check();
    }
    const hex = id.toString('hex');
    this.inFlight.add(hex);
    const p = (async () => {
      const to = await arena.acquire();
      try {
        const n = await arena.encode(plain, length, id, to);
        this.pack.add(to.buf.subarray(0, n), id, length);
        this.newChunks++;
        this.newPlainBytes += length;
        this.newStoredBytes += n;
        if (this.pack.size >= this.repo.config.packSize) this.sealPack();
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
    // Memory bound: the pack being filled, one being written and one waiting behind it.
    // (Waiting while the only sealed pack is written, fsync included, stalled every worker:
    // 3.6 s of 10.6 s idle per worker in a 1 GiB ingest.)
    while (this.sealed.length >= 2) await this.sealed[0];
    this.check();
  }

  /** Queues the current pack for upload; at most one upload waits behind the running one. */
  private sealPack(): void {
    const pack = this.pack;
    if (pack.count === 0) return;
    this.pack = new PackBuilder();
    const parts = pack.finishParts();
    const done = this.uploads.then(async () => {
      if (this.failure) return;
      try {
        await putPack(this.repo.backend, pack.id, parts);
        pack.release();
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
      } catch (err) {
        this.failure ??= err;
      }
    });
    this.uploads = done;
    this.sealed.push(done);
    // Registered before any waiter's await, so a waiter sees the list already shortened.
    void done.finally(() => this.sealed.shift());
  }

  private check(): void {
    if (this.failure) {
      throw this.failure instanceof Error
        ? this.failure
        : new RepoError('REPO_IO', `storing a chunk failed: ${String(this.failure)}`);
    }
  }

  /** Waits for every encode and upload; the last pack is put. */
  async finish(): Promise<void> {
    await Promise.all(this.encodes);
    this.check();
    this.sealPack();
    await this.uploads;
    this.check();
  }

  /** After a failure: waits for what is running, writes nothing more. */
  async abandon(): Promise<void> {
    this.failure ??= new RepoError('REPO_CLOSED', 'abandoned');
    await Promise.allSettled([...this.encodes]);
    await this.uploads;
  }
}
