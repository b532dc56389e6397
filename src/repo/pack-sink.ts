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
  /** Record appends, one after another (a pack's records are written in order). */
  private appends: Promise<void> = Promise.resolve();
  /** Pack commits, oldest first: the index learns of packs in order. */
  private commits: Promise<void> = Promise.resolve();
  /** Packs full and not yet committed. */
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
    // The pack being written and one full pack committing behind it, at most: a writer that
    // waited for each pack's fsync left every worker idle a third of the time.
    while (this.sealed.length >= 2) await this.sealed[0];
    this.check();
  }

  /** Appends one record to the open pack (opened on first use); resolves once written. */
  private append(
    id: Buffer,
    plainLength: number,
    length: number,
    flags: number,
    parts: Buffer[],
  ): Promise<void> {
    const run = this.appends.then(async () => {
      if (this.failure) throw this.failure;
      const pack = (this.pack ??= await this.openPack());
      for (const part of parts) await pack.upload.write(part);
      pack.entries.push({ id: Buffer.from(id), offset: pack.size, length, plainLength, flags });
      pack.size += length;
      this.newChunks++;
      this.newPlainBytes += plainLength;
      this.newStoredBytes += length;
      if (pack.size >= this.repo.config.packSize) this.sealPack();
    });
    this.appends = run.catch((err: unknown) => {
      this.failure ??= err;
    });
    return run;
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
    const done = this.commits.then(async () => {
      try {
        if (this.failure) throw this.failure;
        for (const part of packEnd(pack.entries)) await pack.upload.write(part);
        await pack.upload.commit();
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
        await pack.upload.abort().catch(() => undefined);
      }
    });
    this.commits = done;
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

  /** Waits for every encode and write; the last pack is committed. */
  async finish(): Promise<void> {
    await Promise.all(this.encodes);
    await this.appends;
    this.check();
    this.sealPack();
    await this.commits;
    this.check();
  }

  /** After a failure: waits for what is running, commits nothing more. */
  async abandon(): Promise<void> {
    this.failure ??= new RepoError('REPO_CLOSED', 'abandoned');
    await Promise.allSettled([...this.encodes]);
    await this.appends;
    this.sealPack(); // its commit sees the failure and aborts the upload
    await this.commits;
  }
}
