/**
 * Qcow2Writer: a fresh qcow2 (v2 "0.10" or v3 "1.1", no backing file, no
 * lazy refcounts) written in one sequential pass from extents that arrive in
 * ascending guest order. Layout of the file, in clusters:
 *
 *   0         header, written last, once everything below is written (and,
 *             with `sync`, on disk), so a cut-short file is never a valid qcow2
 *   1 ...     data clusters in guest order; each L2 table follows the last data
 *             cluster it maps (it is complete once writes pass its range, so
 *             only one L2 table is ever in memory, whatever the disk size)
 *   then      the L1 table, the refcount blocks, the refcount table
 *
 * Every cluster is used exactly once and none is skipped, so every refcount is
 * 1 (OFLAG_COPIED set on every L1/L2 entry) and `qemu-img check` finds no leak.
 * All-zero clusters are never allocated: with no backing file an unallocated
 * cluster reads as zeros, in v2 and v3 alike. Partial clusters are zero-filled.
 * Bytes leave through FileSink in coalesced writes of `bufferSize`.
 */
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { ImageIoError } from './errors.js';
import {
  geometry,
  header,
  l1Table,
  MAX_L1_BYTES,
  planTail,
  putEntry,
  refcountBlocks,
  refcountTable,
  type Qcow2Compat,
  type Qcow2Geometry,
} from './qcow2-writer-layout.js';
import { openWriterSink, type FileSink } from './writer-sink.js';
import {
  commonOptions,
  WriterBase,
  ImageWriterOptionsError,
  isZero,
  WriteCursor,
  type CommonWriterOptions,
  type DiskWriter,
} from './writer.js';

export type { Qcow2Compat } from './qcow2-writer-layout.js';

export interface Qcow2WriterOptions extends CommonWriterOptions {
  /** A power of two from 512 B to 2 MiB (default 64 KiB). */
  clusterSize?: number;
  /** '0.10' (qcow2 v2) or '1.1' (v3, the default). */
  compat?: Qcow2Compat;
}

export class Qcow2Writer extends WriterBase implements DiskWriter {
  readonly format = 'qcow2' as const;
  private readonly cursor: WriteCursor;
  private readonly g: Qcow2Geometry;
  /** Host offsets of the L2 tables written so far, by L1 index (0: none). */
  private readonly l1: Float64Array;
  /** The L2 table being filled, for L1 index l2Index. */
  private readonly l2: Buffer;
  private l2Index = -1;
  private l2Used = false;
  /** A guest cluster only partly written so far (zero-filled elsewhere). */
  private readonly partial: Buffer;
  private partialIndex = -1;
  /** Next free host offset: the file grows only at its end. */
  private nextHost: number;

  private constructor(
    readonly path: string,
    readonly virtualSize: number,
    readonly compat: Qcow2Compat,
    private readonly handle: FileHandle,
    private readonly sink: FileSink,
    private readonly sync: boolean,
    clusterSize: number,
  ) {
    super();
    this.cursor = new WriteCursor(path, virtualSize);
    this.g = geometry(virtualSize, clusterSize);
    this.l1 = new Float64Array(this.g.l1Size);
    this.l2 = Buffer.alloc(clusterSize);
    this.partial = Buffer.alloc(clusterSize);
    this.nextHost = clusterSize;
  }

  get clusterSize(): number {
    return this.g.clusterSize;
  }

  static async create(path: string, options: Qcow2WriterOptions): Promise<Qcow2Writer> {
    const common = commonOptions(path, options);
    const clusterSize = options.clusterSize ?? 65536;
    const compat = options.compat ?? '1.1';
    if (
      !Number.isSafeInteger(clusterSize) ||
      clusterSize < 512 ||
      clusterSize > 2 << 20 ||
      (clusterSize & (clusterSize - 1)) !== 0
    ) {
      throw new ImageWriterOptionsError(
        path,
        `qcow2 cluster size ${clusterSize} is not a power of two from 512 to 2097152`,
      );
    }
    if (compat !== '0.10' && compat !== '1.1') {
      throw new ImageWriterOptionsError(path, `unknown qcow2 compat level ${String(compat)}`);
    }
    if (common.mode === 'overwrite') {
      throw new ImageWriterOptionsError(
        path,
        'a qcow2 is always written fresh (create or replace)',
      );
    }
    const l1Bytes = geometry(common.virtualSize, clusterSize).l1Size * 8;
    if (l1Bytes > MAX_L1_BYTES) {
      throw new ImageWriterOptionsError(
        path,
        `virtual size ${common.virtualSize} needs an L1 table of ${l1Bytes} bytes with ${clusterSize}-byte clusters (QEMU allows ${MAX_L1_BYTES})`,
      );
    }
    let handle: FileHandle;
    try {
      handle = await open(path, common.mode === 'create' ? 'wx' : 'w', 0o600);
    } catch (err) {
      throw new ImageIoError(path, 'create the qcow2 image', err);
    }
    const sink = await openWriterSink(path, handle, common);
    return new Qcow2Writer(
      path,
      common.virtualSize,
      compat,
      handle,
      sink,
      common.sync,
      clusterSize,
    );
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.check();
    this.cursor.advance(offset, data.length, 'write');
    await this.guard(async () => {
      const cs = this.g.clusterSize;
      let at = 0;
      while (at < data.length) {
        const pos = offset + at;
        const cluster = Math.floor(pos / cs);
        const within = pos - cluster * cs;
        if (cluster !== this.partialIndex) await this.finishPartial();
        if (within === 0 && data.length - at >= cs) {
          at = await this.fullClusters(cluster, data, at);
          continue;
        }
        const n = Math.min(data.length - at, cs - within);
        if (this.partialIndex !== cluster) {
          this.partial.fill(0);
          this.partialIndex = cluster;
        }
        this.partial.set(data.subarray(at, at + n), within);
        at += n;
        if (within + n === cs) await this.finishPartial();
      }
    });
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    this.check();
    // Nothing to write: unwritten clusters read as zeros, the partial cluster is zero-filled.
    this.cursor.advance(offset, length, 'write zeroes');
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.check();
    await this.guard(async () => {
      await this.finishPartial();
      await this.finishL2();
      const cs = this.g.clusterSize;
      const tail = planTail(this.nextHost / cs, this.g);
      await this.sink.write(tail.l1Offset, l1Table(this.l1, tail, cs));
      await this.sink.write(tail.refBlocksOffset, refcountBlocks(tail, cs));
      await this.sink.write(tail.refTableOffset, refcountTable(tail, cs));
      await this.sink.drain();
      if (this.sync) await this.handle.datasync();
      await this.sink.write(0, header(this.virtualSize, this.compat, this.g, tail));
      await this.sink.drain();
      if (this.sync) await this.handle.datasync();
    });
    this.state = 'closed';
    await this.sink.release();
    await this.handle.close();
  }

  async abort(): Promise<void> {
    if (this.state === 'closed' || this.state === 'aborted') return;
    this.state = 'aborted';
    await this.sink.settle();
    await this.sink.release();
    await this.handle.close().catch(() => undefined);
    await unlink(this.path).catch(() => undefined);
  }

  /**
   * Writes the whole clusters of data from `at` on, starting at guest `cluster`:
   * runs of non-zero clusters within one L2 table leave as one sink write.
   * Returns where the whole clusters end in data.
   */
  private async fullClusters(cluster: number, data: Uint8Array, at: number): Promise<number> {
    const cs = this.g.clusterSize;
    const count = Math.floor((data.length - at) / cs);
    let run = 0; // non-zero clusters pending from `at`
    const flush = async (first: number) => {
      if (run > 0) await this.allocate(cluster + first, run, data, at + first * cs);
      run = 0;
    };
    for (let i = 0; i < count; i++) {
      const start = at + i * cs;
      if (run > 0 && (cluster + i) % this.g.l2Entries === 0) await flush(i - run);
      if (isZero(data, start, start + cs)) await flush(i - run);
      else run++;
    }
    await flush(count - run);
    return at + count * cs;
  }

  private async finishPartial(): Promise<void> {
    if (this.partialIndex < 0) return;
    const cluster = this.partialIndex;
    this.partialIndex = -1;
    if (!isZero(this.partial, 0, this.partial.length)) {
      await this.allocate(cluster, 1, this.partial, 0);
    }
  }

  /** Appends `count` guest clusters from data[from...] (all in one L2 table). */
  private async allocate(
    cluster: number,
    count: number,
    data: Uint8Array,
    from: number,
  ): Promise<void> {
    const cs = this.g.clusterSize;
    const index = Math.floor(cluster / this.g.l2Entries);
    if (index !== this.l2Index) {
      await this.finishL2();
      this.l2Index = index;
    }
    const host = this.nextHost;
    const first = cluster - index * this.g.l2Entries;
    for (let i = 0; i < count; i++) putEntry(this.l2, first + i, host + i * cs);
    this.l2Used = true;
    this.nextHost += count * cs;
    await this.sink.write(host, data.subarray(from, from + count * cs));
  }

  private async finishL2(): Promise<void> {
    if (this.l2Index < 0) return;
    if (this.l2Used) {
      const host = this.nextHost;
      this.nextHost += this.g.clusterSize;
      this.l1[this.l2Index] = host;
      await this.sink.write(host, this.l2);
      this.l2.fill(0);
      this.l2Used = false;
    }
    this.l2Index = -1;
  }
}
