/**
 * The metadata a fresh qcow2 ends with, as pure functions of what was written
 * (see the layout in qcow2-writer.ts): the header, L1/L2 entries, and the
 * refcount structures sized by a fixed point, since the refcount blocks must
 * count the clusters they and the refcount table occupy. Field offsets follow
 * QEMU's docs/interop/qcow2.txt.
 */
import { QCOW2_MAGIC } from './qcow2-header.js';

/** 16-bit refcounts (refcount_order 4), the only width v2 knows and v3's default. */
export const REFCOUNT_ORDER = 4;
const REFCOUNT_BYTES = 2;
/** QEMU refuses larger L1 tables (QCOW_MAX_L1_SIZE). */
export const MAX_L1_BYTES = 32 * 1024 * 1024;
const V3_HEADER_LENGTH = 104;
const ONE = Buffer.from([0, 1]);
/** Bit 63 of L1/L2 entries: refcount is exactly 1, the cluster may be written in place. */
const OFLAG_COPIED_HIGH = 0x80000000;

export type Qcow2Compat = '0.10' | '1.1';

export interface Qcow2Geometry {
  clusterSize: number;
  clusterBits: number;
  /** Entries per L2 table (one cluster). */
  l2Entries: number;
  l1Size: number;
}

export function geometry(virtualSize: number, clusterSize: number): Qcow2Geometry {
  const clusterBits = Math.log2(clusterSize);
  const l2Entries = clusterSize / 8;
  const l1Size = Math.ceil(virtualSize / (clusterSize * l2Entries));
  return { clusterSize, clusterBits, l2Entries, l1Size };
}

/** Writes a standard (uncompressed, refcount 1) L1 or L2 entry pointing at host. */
export function putEntry(table: Buffer, index: number, host: number): void {
  table.writeUInt32BE((Math.floor(host / 2 ** 32) | OFLAG_COPIED_HIGH) >>> 0, index * 8);
  table.writeUInt32BE(host >>> 0, index * 8 + 4);
}

export interface Tail {
  l1Offset: number;
  l1Clusters: number;
  refBlocksOffset: number;
  refBlocks: number;
  refTableOffset: number;
  refTableClusters: number;
  /** Clusters in the finished file, header to refcount table. */
  totalClusters: number;
}

/**
 * Places the L1 table, then the refcount blocks, then the refcount table after
 * `usedClusters` (header, data, L2 tables). Every cluster of the file is used
 * once, so each refcount is 1 and the blocks just count up to the total.
 */
export function planTail(usedClusters: number, g: Qcow2Geometry): Tail {
  const cs = g.clusterSize;
  // A zero-sized disk has an empty L1 table, which occupies no cluster.
  const l1Clusters = Math.ceil((g.l1Size * 8) / cs);
  const perBlock = cs / REFCOUNT_BYTES;
  const base = usedClusters + l1Clusters;
  let total = base;
  for (;;) {
    const refBlocks = Math.ceil(total / perBlock);
    const refTableClusters = Math.ceil((refBlocks * 8) / cs);
    const next = base + refBlocks + refTableClusters;
    if (next === total) {
      return {
        l1Offset: usedClusters * cs,
        l1Clusters,
        refBlocksOffset: base * cs,
        refBlocks,
        refTableOffset: (base + refBlocks) * cs,
        refTableClusters,
        totalClusters: total,
      };
    }
    total = next;
  }
}

/** The refcount blocks, all clusters below totalClusters counted once. */
export function refcountBlocks(tail: Tail, clusterSize: number): Buffer {
  const buf = Buffer.alloc(tail.refBlocks * clusterSize);
  buf.fill(ONE, 0, tail.totalClusters * REFCOUNT_BYTES);
  return buf;
}

/** The refcount table: the host offsets of the refcount blocks (no flags). */
export function refcountTable(tail: Tail, clusterSize: number): Buffer {
  const buf = Buffer.alloc(tail.refTableClusters * clusterSize);
  for (let i = 0; i < tail.refBlocks; i++) {
    const host = tail.refBlocksOffset + i * clusterSize;
    buf.writeUInt32BE(Math.floor(host / 2 ** 32), i * 8);
    buf.writeUInt32BE(host >>> 0, i * 8 + 4);
  }
  return buf;
}

/** The L1 table from the host offsets of the L2 tables (0: none). */
export function l1Table(l1: Float64Array, tail: Tail, clusterSize: number): Buffer {
  const buf = Buffer.alloc(tail.l1Clusters * clusterSize);
  l1.forEach((host, i) => {
    if (host !== 0) putEntry(buf, i, host);
  });
  return buf;
}

/** Header cluster: no backing file, no encryption, no snapshots, no features set. */
export function header(
  virtualSize: number,
  compat: Qcow2Compat,
  g: Qcow2Geometry,
  tail: Tail,
): Buffer {
  const buf = Buffer.alloc(g.clusterSize);
  const u64 = (value: number, at: number) => {
    buf.writeUInt32BE(Math.floor(value / 2 ** 32), at);
    buf.writeUInt32BE(value >>> 0, at + 4);
  };
  buf.writeUInt32BE(QCOW2_MAGIC, 0);
  buf.writeUInt32BE(compat === '0.10' ? 2 : 3, 4);
  // 8: backing_file_offset, 16: backing_file_size stay 0.
  buf.writeUInt32BE(g.clusterBits, 20);
  u64(virtualSize, 24);
  // 32: crypt_method 0.
  buf.writeUInt32BE(g.l1Size, 36);
  u64(tail.l1Offset, 40);
  u64(tail.refTableOffset, 48);
  buf.writeUInt32BE(tail.refTableClusters, 56);
  // 60: nb_snapshots, 64: snapshots_offset stay 0.
  if (compat === '1.1') {
    // 72..95: incompatible, compatible (lazy_refcounts off), autoclear features: none.
    buf.writeUInt32BE(REFCOUNT_ORDER, 96);
    buf.writeUInt32BE(V3_HEADER_LENGTH, 100);
  }
  // The zeros after the header end its (empty) list of extensions.
  return buf;
}
