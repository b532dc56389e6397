/**
 * qcow2 images (versions 2 and 3), read straight from the file: the L1 table
 * is loaded once, L2 tables through a bounded LRU cache, and data clusters that
 * sit next to each other in the file are read with one system call of up to
 * 8 MiB, several in flight, into the caller's buffer. Unallocated clusters fall
 * through to the backing file (any format openImage can read, any depth).
 *
 * Anything the reader does not implement is refused at open (see
 * qcow2-header.ts); anything inconsistent (pointers past the end of the file,
 * misaligned clusters, short reads) is IMAGE_CORRUPT, never wrong data.
 */
import { ImageCorruptError } from './errors.js';
import { mergeExtents } from './extents.js';
import { LruCache } from './cache.js';
import type { ImageFile } from './file.js';
import { decompressCluster } from './qcow2-compress.js';
import { assertSupported, checkLayout, type Qcow2Header } from './qcow2-header.js';
import { readSnapshots, type InternalSnapshot } from './qcow2-snapshots.js';
import { BaseReader, type ImageLayer } from './reader.js';
import type { Extent } from './types.js';

export interface Qcow2Options {
  /** Bytes of L2 tables kept in memory (default 32 MiB, at least 4 tables). */
  l2CacheBytes?: number;
  /** Largest single read of adjacent data clusters (default 8 MiB). */
  maxReadBytes?: number;
  /** Host reads in flight per read() call (default 4, libuv's thread pool size). */
  readConcurrency?: number;
}

type RunKind = 'data' | 'compressed' | 'zero' | 'unallocated';

/** A stretch of the disk mapped one way. */
interface Run {
  kind: RunKind;
  offset: number;
  length: number;
  /** data: host offset of `offset`; compressed: host offset of the compressed bytes. */
  host: number;
  /** compressed: stored length in bytes (sector-rounded, clipped to the file). */
  stored: number;
  /** compressed: virtual offset where the cluster starts. */
  clusterStart: number;
}

const L2_ENTRY_OFFSET_HI = 0x00ffffff;
const L2_ENTRY_COMPRESSED = 0x40000000;
const TWO_32 = 2 ** 32;

export class Qcow2Reader extends BaseReader {
  readonly format = 'qcow2';
  readonly virtualSize: number;
  private readonly clusterSize: number;
  private readonly l2Entries: number;
  private readonly l2Cache: LruCache<number, Buffer>;
  private readonly clusterCache: LruCache<number, Buffer>;
  private readonly maxRead: number;
  private readonly concurrency: number;

  private constructor(
    file: ImageFile,
    readonly header: Qcow2Header,
    private readonly l1: Buffer,
    backing: ImageLayer | undefined,
    options: Qcow2Options,
  ) {
    super(file, backing);
    this.virtualSize = header.virtualSize;
    this.clusterSize = header.clusterSize;
    this.l2Entries = header.clusterSize / 8;
    this.l2Cache = new LruCache(Math.max(options.l2CacheBytes ?? 32 << 20, 4 * this.clusterSize));
    this.clusterCache = new LruCache(Math.max(1 << 20, 4 * this.clusterSize));
    this.maxRead = Math.max(options.maxReadBytes ?? 8 << 20, this.clusterSize);
    this.concurrency = Math.max(1, options.readConcurrency ?? 4);
  }

  /**
   * Opens the qcow2 image in `file` (taking ownership of it) over `backing`.
   * The header must have been read already (openImage needs it for the backing chain).
   */
  static async fromFile(
    file: ImageFile,
    header: Qcow2Header,
    backing: ImageLayer | undefined,
    options: Qcow2Options = {},
  ): Promise<Qcow2Reader> {
    assertSupported(file.path, header);
    checkLayout(file, header);
    const l1 = await file.readExact(header.l1TableOffset, header.l1Size * 8, 'L1 table');
    return new Qcow2Reader(file, header, l1, backing, options);
  }

  /** The internal snapshots in the image's snapshot table. */
  snapshots(): Promise<InternalSnapshot[]> {
    return readSnapshots(this.file, this.header);
  }

  protected async *extentsIn(start: number, end: number): AsyncGenerator<Extent> {
    yield* mergeExtents(this.layerExtents(start, end));
  }

  private async *layerExtents(start: number, end: number): AsyncGenerator<Extent> {
    for await (const run of this.runs(start, end, true)) {
      const runEnd = run.offset + run.length;
      if (run.kind !== 'unallocated') {
        yield {
          offset: run.offset,
          length: run.length,
          kind: run.kind === 'zero' ? 'zero' : 'data',
        };
        continue;
      }
      const backing = this.backing;
      const backed = backing === undefined ? run.offset : Math.min(runEnd, backing.virtualSize);
      if (backing !== undefined && run.offset < backed) {
        yield* backing.extents({ start: run.offset, end: backed });
      }
      const holeStart = Math.max(run.offset, backed);
      if (holeStart < runEnd) yield { offset: holeStart, length: runEnd - holeStart, kind: 'hole' };
    }
  }

  protected async readRange(
    target: Uint8Array,
    targetOffset: number,
    offset: number,
    length: number,
  ): Promise<void> {
    const inFlight: Promise<void>[] = [];
    const start = (p: Promise<void>): void => {
      p.catch(() => undefined); // Awaited below; this only keeps a rejection from being "unhandled".
      inFlight.push(p);
    };
    try {
      for await (const run of this.runs(offset, offset + length, false)) {
        const at = targetOffset + (run.offset - offset);
        switch (run.kind) {
          case 'data':
            start(
              this.file.readFullyInto(
                target,
                at,
                run.length,
                run.host,
                `data cluster for disk offset ${run.offset}`,
              ),
            );
            break;
          case 'compressed':
            start(this.readCompressed(run, target, at));
            break;
          case 'zero':
            target.fill(0, at, at + run.length);
            break;
          case 'unallocated':
            this.readUnallocated(run, target, at, start);
            break;
        }
        while (inFlight.length >= this.concurrency) await inFlight.shift();
      }
    } finally {
      const results = await Promise.allSettled(inFlight);
      const failed = results.find((r) => r.status === 'rejected');
      if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    }
  }

  private readUnallocated(
    run: Run,
    target: Uint8Array,
    at: number,
    start: (p: Promise<void>) => void,
  ): void {
    const backing = this.backing;
    const runEnd = run.offset + run.length;
    const backed = backing === undefined ? run.offset : Math.min(runEnd, backing.virtualSize);
    if (backing !== undefined && run.offset < backed) {
      start(backing.readInto(target, at, run.offset, backed - run.offset));
    }
    const zeroFrom = Math.max(run.offset, backed);
    if (zeroFrom < runEnd) target.fill(0, at + (zeroFrom - run.offset), at + run.length);
  }

  private async readCompressed(run: Run, target: Uint8Array, at: number): Promise<void> {
    const cluster = await this.clusterCache.get(run.host, async () => {
      const where = `compressed cluster for disk offset ${run.clusterStart}`;
      const stored = await this.file.readUpTo(run.host, run.stored);
      if (stored.length === 0) {
        throw new ImageCorruptError(
          this.path,
          `${where} at ${run.host} is past the end of the file`,
        );
      }
      const type = this.header.compressionType === 'zstd' ? 'zstd' : 'zlib';
      return decompressCluster(type, stored, this.clusterSize, this.path, where);
    });
    const from = run.offset - run.clusterStart;
    cluster.copy(target, at, from, from + run.length);
  }

  /**
   * Maps [start, end) cluster by cluster into runs. For extents (`mapOnly`)
   * compressed clusters count as data and data merges regardless of where it
   * lies in the file; for reads, data merges only while it is contiguous in
   * the file and below maxRead, and each compressed cluster is its own run.
   */
  private async *runs(start: number, end: number, mapOnly: boolean): AsyncGenerator<Run> {
    const cs = this.clusterSize;
    const ready: Run[] = [];
    let pending: Run | undefined;
    const add = (
      kind: RunKind,
      from: number,
      to: number,
      host = 0,
      stored = 0,
      clusterStart = 0,
    ): void => {
      const length = to - from;
      if (pending !== undefined && pending.kind === kind && kind !== 'compressed') {
        const contiguous =
          kind !== 'data' ||
          mapOnly ||
          (pending.host + pending.length === host && pending.length + length <= this.maxRead);
        if (contiguous) {
          pending.length += length;
          return;
        }
      }
      if (pending !== undefined) ready.push(pending);
      pending = { kind, offset: from, length, host, stored, clusterStart };
    };

    let cluster = Math.floor(start / cs);
    while (cluster * cs < end) {
      const l1Index = Math.floor(cluster / this.l2Entries);
      const l2Offset = this.l2Offset(l1Index);
      if (l2Offset === 0) {
        // No L2 table: the whole span it would cover is unallocated.
        const spanEnd = (l1Index + 1) * this.l2Entries * cs;
        add('unallocated', Math.max(start, cluster * cs), Math.min(end, spanEnd));
        cluster = (l1Index + 1) * this.l2Entries;
      } else {
        const table = await this.l2Table(l2Offset);
        for (
          let i = cluster - l1Index * this.l2Entries;
          i < this.l2Entries && cluster * cs < end;
          i++, cluster++
        ) {
          const from = Math.max(start, cluster * cs);
          const to = Math.min(end, (cluster + 1) * cs);
          const hi = table.readUInt32BE(i * 8);
          const lo = table.readUInt32BE(i * 8 + 4);
          if (hi & L2_ENTRY_COMPRESSED) {
            const { host, stored } = this.compressedDescriptor(hi, lo, cluster);
            add(mapOnly ? 'data' : 'compressed', from, to, host, stored, cluster * cs);
          } else if (lo & 1) {
            add('zero', from, to);
          } else {
            const host = (hi & L2_ENTRY_OFFSET_HI) * TWO_32 + ((lo & 0xfffffe00) >>> 0);
            if (host === 0) {
              add('unallocated', from, to);
            } else {
              this.checkDataCluster(host, cluster);
              add('data', from, to, host + (from - cluster * cs));
            }
          }
        }
      }
      if (ready.length > 0) {
        yield* ready;
        ready.length = 0;
      }
    }
    if (pending !== undefined) yield pending;
  }

  private l2Offset(l1Index: number): number {
    if (l1Index >= this.header.l1Size) return 0;
    const hi = this.l1.readUInt32BE(l1Index * 8);
    const lo = this.l1.readUInt32BE(l1Index * 8 + 4);
    const offset = (hi & L2_ENTRY_OFFSET_HI) * TWO_32 + ((lo & 0xfffffe00) >>> 0);
    if (offset === 0) return 0;
    if (offset % this.clusterSize !== 0) {
      throw new ImageCorruptError(
        this.path,
        `L1 entry ${l1Index}: L2 table offset ${offset} not cluster aligned`,
      );
    }
    if (offset + this.clusterSize > this.file.size) {
      throw new ImageCorruptError(
        this.path,
        `L1 entry ${l1Index}: L2 table at ${offset} is past the end of the file (${this.file.size} bytes)`,
      );
    }
    return offset;
  }

  private l2Table(offset: number): Promise<Buffer> {
    return this.l2Cache.get(offset, () =>
      this.file.readExact(offset, this.clusterSize, `L2 table at ${offset}`),
    );
  }

  private checkDataCluster(host: number, cluster: number): void {
    const where = `L2 entry for disk offset ${cluster * this.clusterSize}`;
    if (host % this.clusterSize !== 0) {
      throw new ImageCorruptError(this.path, `${where}: data offset ${host} not cluster aligned`);
    }
    if (host >= this.file.size) {
      throw new ImageCorruptError(
        this.path,
        `${where}: data at ${host} is past the end of the file (${this.file.size} bytes)`,
      );
    }
  }

  private compressedDescriptor(
    hi: number,
    lo: number,
    cluster: number,
  ): { host: number; stored: number } {
    // Bits 0..x-1 host offset, x..61 extra 512-byte sectors; x = 62 - (cluster_bits - 8).
    const x = BigInt(62 - (this.header.clusterBits - 8));
    const entry = ((BigInt(hi) << 32n) | BigInt(lo)) & ((1n << 62n) - 1n);
    const host = Number(entry & ((1n << x) - 1n));
    const sectors = Number(entry >> x) + 1;
    if (host >= this.file.size) {
      throw new ImageCorruptError(
        this.path,
        `L2 entry for disk offset ${cluster * this.clusterSize}: compressed data at ${host} is past the end of the file (${this.file.size} bytes)`,
      );
    }
    const stored = Math.min(sectors * 512 - (host % 512), this.file.size - host);
    return { host, stored };
  }
}
