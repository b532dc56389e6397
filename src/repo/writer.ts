/**
 * The backup writer: one backup, disk by disk, in the write order of
 * docs/repository-format.md: records into packs, then index runs, then each
 * fixed index, then the manifest. Slots are read, hashed and (when new)
 * encoded in a bounded pipeline over the worker threads; a slot is stored
 * only if the whole repository lacks its id.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { KnownDamage } from './damage.js';
import { isObjectNotFound, RepoError, RepoIntegrityError } from './errors.js';
import { FidxWriter } from './fidx.js';
import {
  checkDiskName,
  fidxObjectName,
  manifestObjectName,
  newBackupId,
  sealManifest,
  type Manifest,
  type ManifestDisk,
} from './manifest.js';
import { PackSink } from './pack-sink.js';
import { recordCapacity, ZERO_ID } from './record.js';
import type { Repository } from './repository.js';
import type { RepoLock } from './lock.js';
import { SlotReader } from './slots.js';
import { slotKinds, type ExtentSource } from './source.js';
import { advance, everySlot, nextTouched, normalize, touches } from './changed-ranges.js';
import type { IndexEntry } from './run.js';
import type { Slot } from './workers/arena.js';

export interface BackupMeta {
  vm: { name: string; uuid?: string | null };
  domainXml?: string | null;
  method?: string;
  /** The backup this one is relative to: its fixed indexes speed up deduplication. */
  parent?: string | null;
  labels?: Record<string, string>;
}

export interface DiskInput {
  name: string;
  source: ExtentSource;
  format?: string | null;
  formatOptions?: Record<string, unknown> | null;
  /**
   * Ranges changed since the parent (from a dirty bitmap). Slots outside them
   * take the parent's ids without being read. Ignored without a parent disk
   * of the same name, when the parent's index is damaged or gone, while a
   * garbage collection plan is pending, or while an index run is damaged. A
   * slot whose parent id names a chunk known lost or damaged is read after all.
   */
  changedRanges?: { offset: number; length: number }[];
  /**
   * An id the caller knows a slot's bytes have in this repository (a copy from another
   * repository: docs/repo-copy.md), or undefined. A slot whose known id the index holds (in a
   * pack no GC plan lists and no damage record names) is taken without being read; any other
   * is read as usual.
   */
  known?: (slot: number) => Promise<Buffer | undefined>;
}

export interface WriteProgress {
  disk: string;
  doneBytes: number;
  totalBytes: number;
  newChunks: number;
  newStoredBytes: number;
}

export interface WriterOptions {
  onProgress?: (p: WriteProgress) => void;
  /**
   * Slots read ahead of the one being decided (default: 8 MiB worth, 2 to 64 slots); slots
   * not read (zero, the parent's) do not count.
   */
  readAhead?: number;
  /** Backup id (default: from the start time). Tests only. */
  id?: string;
}

/**
 * A slot's fate: all zero, the parent's id, or read (its bytes in an arena slot) and hashed; or
 * a run of slots that all take the parent's ids (an incremental's unchanged stretches).
 */
type Decision = { zero: true } | { parent: true } | { run: number } | { known: Buffer } | ReadSlot;
type ReadSlot = { slot: Slot; id: Buffer | undefined };
const PARENT: Decision = { parent: true };
/** Bytes of a chunk id in a fixed index. */
const ID_BYTES = ZERO_ID.length;
const ZERO: Decision = { zero: true };

export class BackupWriter {
  readonly id: string;
  private readonly disks: ManifestDisk[] = [];
  private readonly startedAt = new Date();
  private parentManifest: Manifest | undefined;
  private finished = false;

  private constructor(
    private readonly repo: Repository,
    private readonly meta: BackupMeta,
    private readonly lock: RepoLock,
    private readonly doomed: Set<string>,
    private readonly damage: KnownDamage,
    /** Ids with a copy known lost or damaged; undefined: unknown, so trust no parent. */
    private readonly badIds: Set<string> | undefined,
    private readonly opts: WriterOptions,
  ) {
    this.id = opts.id ?? newBackupId(this.startedAt);
  }

  /**
   * Takes a shared lock, then reads the GC plans (in that order: see the spec), then what is
   * known damaged: packs the index names that are gone, and verify's damage records.
   */
  static async start(
    repo: Repository,
    meta: BackupMeta,
    opts: WriterOptions = {},
  ): Promise<BackupWriter> {
    repo.requireKeys();
    const lock = await repo.lock('shared', 'backup');
    try {
      // What killed writers left (their processes are gone); live writers' uploads stay.
      await repo.backend.removeTemporaries?.(Infinity);
      const doomed = await repo.doomedPacks();
      await repo.index.refresh();
      const damage = await KnownDamage.of(repo);
      const badIds = damage.any ? await damage.chunkIds(repo) : new Set<string>();
      const w = new BackupWriter(repo, meta, lock, doomed, damage, badIds, opts);
      if (meta.parent) w.parentManifest = (await repo.manifest(meta.parent)).manifest;
      return w;
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  async addDisk(input: DiskInput): Promise<ManifestDisk> {
    if (this.finished) throw new RepoError('REPO_CLOSED', 'backup already committed or aborted');
    checkDiskName(input.name);
    if (this.disks.some((d) => d.name === input.name)) {
      throw new RepoError('REPO_INVALID_ARGUMENT', `disk ${input.name} was already added`);
    }
    const repo = this.repo;
    const cs = repo.config.chunkSize;
    const src = input.source;
    const size = src.virtualSize;
    const slots = Math.ceil(size / cs);
    const codec = repo.codec;
    // About 8 MiB of chunks in flight (32 at 256 KiB), whatever the chunk size: memory stays
    // bounded. (2 MiB left the reader and the workers each idle half the time in a dedup
    // re-ingest; 8 MiB took it from 1.01 to 0.97 s per GiB, medians of 5 alternating runs.)
    const depth = this.opts.readAhead ?? inFlight(cs);
    // Encodes at once: enough to keep the workers busy, fewer for big chunks (memory).
    const encodes = Math.max(4, Math.min(16, Math.floor((16 * 1024 * 1024) / cs)));
    const parentDisk = this.parentManifest?.disks.find((d) => d.name === input.name);
    let parent: SlotReader | undefined;
    if (parentDisk && this.parentManifest!.chunkSize === cs) {
      // Checked whole first (it is small: 32 bytes per chunk of data). A parent whose index is
      // damaged or gone is no parent: every slot is read, and a damaged old backup never
      // stops a new one.
      try {
        parent = await SlotReader.open(repo.backend, this.parentManifest!.id, parentDisk);
        await parent.verify();
      } catch (err) {
        if (!(err instanceof RepoIntegrityError) && !isObjectNotFound(err)) throw err;
        parent = undefined;
      }
    }
    // While a GC plan is pending, every id must be looked up (marked packs are avoided); so
    // while damage is known but not which chunks it hit (a damaged index run).
    const badIds = this.badIds;
    const trustParent = parent !== undefined && this.doomed.size === 0 && badIds !== undefined;
    const doomed = this.doomed;
    const damage = this.damage;
    /** Whether a parent's id names a chunk whose only copies are lost or damaged. */
    const lost = async (id: Buffer): Promise<boolean> =>
      badIds !== undefined &&
      badIds.size > 0 &&
      badIds.has(id.toString('hex')) &&
      !sink.has(id) &&
      (await repo.index.lookup(id, avoid)) === undefined;
    const avoid = (e: IndexEntry): boolean =>
      (doomed.size > 0 && doomed.has(e.pack.toString('hex'))) || damage.has(e);
    const changed = trustParent && input.changedRanges ? normalize(input.changedRanges) : undefined;
    // Nothing changed and nothing known damaged: the parent's index is this disk's, as it is.
    if (
      changed?.length === 0 &&
      badIds?.size === 0 &&
      parent!.slots === slots &&
      parentDisk!.virtualSize === size
    ) {
      const same = await this.sameAsParent(input, parentDisk!);
      if (same) return same;
    }
    // Enough slots that nothing waits for one: the window's, and two per encode.
    const arena = codec.openArena(recordCapacity(cs), depth + 2 * encodes + 2);

    const fidx = new FidxWriter(await repo.backend.upload(fidxObjectName(this.id, input.name)), {
      chunkSize: cs,
      virtualSize: size,
      slots,
    });
    const sink = new PackSink(repo, arena, encodes);
    const stats = { dataBytes: 0, zeroBytes: 0 };
    const report = (done: number): void =>
      this.opts.onProgress?.({
        disk: input.name,
        doneBytes: done,
        totalBytes: size,
        newChunks: sink.newChunks,
        newStoredBytes: sink.newStoredBytes,
      });
    // The window: the slots ahead of the one decided, in order. A queue with a moving head
    // (Array#shift copies a long array each time); a slot not read is a plain decision.
    const window: (Promise<Decision> | Decision)[] = [];
    /** Whether each slot of the window reads (holds, or waits for, an arena slot). */
    const reading: boolean[] = [];
    let first = 0;
    let readsAhead = 0;
    const ahead = (d: Promise<Decision> | Decision, reads: boolean): void => {
      // A slot read ahead may fail before its turn: it is handled then, not reported as unhandled.
      if (d instanceof Promise) d.catch(() => undefined);
      window.push(d);
      reading.push(reads);
      if (reads) readsAhead++;
    };
    const head = (): Promise<Decision> | Decision => {
      const d = window[first]!;
      if (reading[first]) readsAhead--;
      if (++first >= 4096 && first * 2 >= window.length) {
        window.splice(0, first);
        reading.splice(0, first);
        first = 0;
      }
      return d;
    };
    const inWindow = (): number => window.length - first;
    let next = 0; // the slot the window's head belongs to
    let changedAt = 0;

    // Read into an arena slot (straight from the source when it can), hashed in place.
    const readSlot = async (offset: number, len: number): Promise<ReadSlot> => {
      const slot = await arena.acquire();
      try {
        if (src.readInto) {
          await src.readInto(slot.buf, 0, offset, len);
        } else {
          const b = await src.read(offset, len);
          if (b.length !== len) {
            throw new RepoError(
              'REPO_INVALID_ARGUMENT',
              `source returned ${b.length} bytes at ${offset}, not ${len}`,
            );
          }
          b.copy(slot.buf);
        }
        return { slot, id: await arena.hash(slot, len) };
      } catch (err) {
        arena.release(slot);
        throw err;
      }
    };

    // A known id the repository holds is the slot's; else the slot is read.
    const known = input.known;
    const tryKnown = async (slot: number, offset: number, len: number): Promise<Decision> => {
      const id = await known!(slot);
      if (
        id !== undefined &&
        !id.equals(ZERO_ID) &&
        (sink.has(id) || (await repo.index.lookup(id, avoid)) !== undefined)
      ) {
        return { known: id };
      }
      return readSlot(offset, len);
    };

    /** Records the slot's (or the run's) ids in the fixed index; returns how many slots. */
    const decide = async (slot: number, decision: Decision): Promise<number> => {
      if ('run' in decision) {
        // No id of the parent is known damaged (runs are made only then): copied as they are.
        for await (const ids of parent!.range(slot, decision.run)) {
          for (let o = 0; o < ids.length; o += ID_BYTES, slot++) {
            const len = Math.min(cs, size - slot * cs);
            if (ids.compare(ZERO_ID, 0, ID_BYTES, o, o + ID_BYTES) === 0) stats.zeroBytes += len;
            else stats.dataBytes += len;
          }
          await fidx.addMany(ids);
        }
        return decision.run;
      }
      const len = Math.min(cs, size - slot * cs);
      if ('known' in decision) {
        stats.dataBytes += len;
        await fidx.add(decision.known);
        return 1;
      }
      if ('zero' in decision) {
        stats.zeroBytes += len;
        await fidx.add(ZERO_ID);
        return 1;
      }
      let r: ReadSlot;
      if ('parent' in decision) {
        const id = Buffer.from(await parent!.get(slot));
        if (!(await lost(id))) {
          if (id.equals(ZERO_ID)) stats.zeroBytes += len;
          else stats.dataBytes += len;
          await fidx.add(id);
          return 1;
        }
        // The parent's copy of this chunk is lost: the slot is read after all (one slot more
        // than the window's, which the arena's spare slots cover).
        r = await readSlot(slot * cs, len);
      } else {
        r = decision;
      }
      const id = r.id;
      let owned = true; // until the sink takes the slot
      try {
        if (!id) {
          stats.zeroBytes += len;
          await fidx.add(ZERO_ID);
          return 1;
        }
        stats.dataBytes += len;
        const known =
          (trustParent &&
            slot < parent!.slots &&
            id.equals(await parent!.get(slot)) &&
            !badIds!.has(id.toString('hex'))) ||
          sink.has(id) ||
          (await repo.index.lookup(id, avoid)) !== undefined;
        if (!known) {
          owned = false;
          await sink.store(r.slot, len, id);
        }
        await fidx.add(id);
        return 1;
      } finally {
        if (owned) arena.release(r.slot);
      }
    };
    let reported = 0;
    const decideHead = async (): Promise<void> => {
      next += await decide(next, await head());
      if (next - reported >= 256) report((reported = next) * cs);
    };

    try {
      let slot = 0;
      // The window holds `depth` reads, however many slots that takes (up to MAX_WINDOW): the
      // scattered changes of an incremental are read `depth` at a time, not one by one between
      // the unread slots around them (docs/benchmarks.md, "Live backups: fixed costs and the
      // incremental").
      const full = (): boolean => readsAhead >= depth || inWindow() >= MAX_WINDOW;
      const drain = async (): Promise<void> => {
        while (full()) await decideHead();
      };
      if (changed && slots <= parent!.slots && badIds!.size === 0) {
        // Changed ranges need no allocation map: an unchanged slot is the parent's, a changed
        // one is read (a hole reads as zeros and is a zero slot all the same). Asked for, the
        // map's block-status requests would queue behind the reads in flight and stall the
        // window at each (docs/benchmarks.md, "Live backups: fixed costs and the incremental").
        // The unchanged stretches between changes go as runs, a page of ids at a time, not an
        // await per slot (40,960 slots in a 10 GiB disk).
        while (slot < slots) {
          const offset = slot * cs;
          const len = Math.min(cs, size - offset);
          if (touches(changed, offset, len, changedAt)) {
            ahead(known ? tryKnown(slot, offset, len) : readSlot(offset, len), true);
            slot++;
          } else {
            const end = Math.min(slots, nextTouched(changed, slot, cs, changedAt));
            ahead({ run: end - slot }, false);
            slot = end;
          }
          changedAt = advance(changed, (slot - 1) * cs, changedAt);
          if (full()) await drain();
        }
      } else {
        // A disk larger than its parent keeps the map: the slots past the parent's are read
        // otherwise.
        const kinds = changed && slots <= parent!.slots ? everySlot(slots) : slotKinds(src, cs);
        for await (const kind of kinds) {
          const offset = slot * cs;
          const len = Math.min(cs, size - offset);
          if (changed && slot < parent!.slots && !touches(changed, offset, len, changedAt)) {
            ahead(PARENT, false);
          } else if (kind === 'zero') {
            ahead(ZERO, false);
          } else if (known) {
            ahead(tryKnown(slot, offset, len), true);
          } else {
            ahead(readSlot(offset, len), true);
          }
          if (changed) changedAt = advance(changed, offset, changedAt);
          slot++;
          if (full()) await drain();
        }
      }
      while (inWindow() > 0) await decideHead();
      if (slot !== slots)
        throw new RepoError('REPO_INVALID_ARGUMENT', 'source extents ended early');
      // Write order: packs, then index runs, then the fixed index.
      await sink.finish();
      await repo.index.flush();
      const indexSha256 = await fidx.commit();
      report(size);
      const disk: ManifestDisk = {
        name: input.name,
        index: `${input.name}.fidx`,
        indexSha256,
        virtualSize: size,
        format: input.format ?? null,
        formatOptions: input.formatOptions ?? null,
        dataBytes: stats.dataBytes,
        zeroBytes: stats.zeroBytes,
        newChunks: sink.newChunks,
        newPlainBytes: sink.newPlainBytes,
        newStoredBytes: sink.newStoredBytes,
      };
      this.disks.push(disk);
      return disk;
    } catch (err) {
      for (const r of await Promise.allSettled(window.slice(first))) {
        if (r.status === 'fulfilled' && 'slot' in r.value) arena.release(r.value.slot);
      }
      await sink.abandon();
      await fidx.abort();
      throw err;
    } finally {
      arena.close();
    }
  }

  /**
   * A disk with nothing changed since the parent (files the engine found unmodified): the
   * parent's fixed index, checked whole when opened, is this disk's, copied as it is. Rebuilt
   * slot by slot it cost about 0.1 s of CPU per 4 GiB of virtual size (an await per slot).
   * Undefined when the bytes read now are not the ones checked (then slot by slot it is).
   */
  private async sameAsParent(
    input: DiskInput,
    parentDisk: ManifestDisk,
  ): Promise<ManifestDisk | undefined> {
    const backend = this.repo.backend;
    const bytes = await backend.get(fidxObjectName(this.parentManifest!.id, parentDisk.name));
    // As SlotReader.verify: SHA-256 of all but the trailer, which is that SHA-256.
    const digest = createHash('sha256')
      .update(bytes.subarray(0, bytes.length - 32))
      .digest();
    if (bytes.length < 32 || !digest.equals(bytes.subarray(bytes.length - 32))) return;
    if (digest.toString('hex') !== parentDisk.indexSha256) return;
    await backend.put(fidxObjectName(this.id, input.name), bytes);
    this.opts.onProgress?.({
      disk: input.name,
      doneBytes: parentDisk.virtualSize,
      totalBytes: parentDisk.virtualSize,
      newChunks: 0,
      newStoredBytes: 0,
    });
    const disk: ManifestDisk = {
      name: input.name,
      index: `${input.name}.fidx`,
      indexSha256: parentDisk.indexSha256,
      virtualSize: parentDisk.virtualSize,
      format: input.format ?? null,
      formatOptions: input.formatOptions ?? null,
      dataBytes: parentDisk.dataBytes,
      zeroBytes: parentDisk.zeroBytes,
      newChunks: 0,
      newPlainBytes: 0,
      newStoredBytes: 0,
    };
    this.disks.push(disk);
    return disk;
  }

  /**
   * Writes the manifest, which makes the backup exist, and releases the lock.
   * `fields` are optional manifest fields of the backup engine (e.g. `mode`,
   * `consistency`, `live`); they never replace the fields the writer sets.
   */
  async commit(
    extra: {
      verify?: unknown;
      fields?: Record<string, unknown>;
      /**
       * The source manifest of a copied backup (docs/repo-copy.md): every field of it is kept
       * but those that describe this repository (its id, chunk size and the disks written).
       */
      copyOf?: Manifest;
    } = {},
  ): Promise<Manifest> {
    if (this.finished) throw new RepoError('REPO_CLOSED', 'backup already committed or aborted');
    this.finished = true;
    try {
      const m: Manifest = {
        ...extra.fields,
        id: this.id,
        repository: this.repo.config.id,
        vm: { name: this.meta.vm.name, uuid: this.meta.vm.uuid ?? null },
        domainXml: this.meta.domainXml ?? null,
        method: this.meta.method ?? 'full',
        parent: this.meta.parent ?? null,
        host: hostname(),
        startedAt: this.startedAt.toISOString(),
        finishedAt: new Date().toISOString(),
        chunkSize: this.repo.config.chunkSize,
        disks: this.disks,
        verify: extra.verify ?? null,
        labels: this.meta.labels ?? {},
      };
      if (extra.copyOf) {
        // eslint-disable-next-line @typescript-eslint/no-unused-vars
        const { id, repository, chunkSize, disks, ...kept } = extra.copyOf;
        Object.assign(m, kept);
      }
      await this.repo.backend.put(manifestObjectName(this.id), sealManifest(m, this.repo.macKey));
      return m;
    } finally {
      await this.lock.release();
    }
  }

  /** Gives up: what was written stays as garbage for the next gc. Idempotent. */
  async abort(): Promise<void> {
    this.finished = true;
    await this.lock.release();
  }
}

/**
 * Slots the window may hold ahead of the one decided, reads or not: those not read (zero, the
 * parent's) cost a few dozen bytes each, and 16 Ki of them (4 GiB at 256 KiB) let the reads of
 * changes scattered over a large disk overlap.
 */
const MAX_WINDOW = 16 * 1024;

function inFlight(chunkSize: number): number {
  return Math.max(2, Math.min(64, Math.floor((8 * 1024 * 1024) / chunkSize)));
}
