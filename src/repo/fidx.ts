/**
 * The fixed index of one disk of one backup (docs/repository-format.md,
 * "Fixed index"): a 32-byte header, one chunk id per slot, a SHA-256 trailer.
 * Version 2 (written since 2026-11-27) stores the slots in pages of 32,768
 * (1 MiB), each zstd-compressed when that is smaller, followed by a page
 * table: runs of zero slots (holes, unwritten space) cost almost nothing, so
 * an index grows with the data, not with the virtual size. Version 1 (the
 * slots flat) is still read. Written as a stream, read by page.
 */
import { createHash, type Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { compress } from 'zstd-napi';
import { RepoError, RepoIntegrityError } from './errors.js';
import type { ObjectUpload } from './backend/types.js';

export const FIDX_MAGIC = Buffer.from('BKFX');
export const FIDX_HEADER = 32;
export const SLOT = 32;
export const FIDX_FLAT = 1;
export const FIDX_PAGED = 2;
/** Slots per page of a version 2 index (1 MiB of ids). */
export const PAGE_SLOTS = 32768;
/** A page table entry: offset u64, stored length u32, CRC32 u32, flags u8, 7 reserved. */
export const PAGE_ENTRY = 24;
export const PAGE_ZSTD = 1;

export interface FidxHeader {
  chunkSize: number;
  virtualSize: number;
  slots: number;
}

export interface PageEntry {
  offset: number;
  length: number;
  crc: number;
  zstd: boolean;
}

/** Size of a version 1 (flat) index. */
export function fidxSize(slots: number): number {
  return FIDX_HEADER + slots * SLOT + 32;
}

export function pageCount(slots: number): number {
  return Math.ceil(slots / PAGE_SLOTS);
}

export function encodeFidxHeader(h: FidxHeader, version = FIDX_PAGED): Buffer {
  const b = Buffer.alloc(FIDX_HEADER);
  FIDX_MAGIC.copy(b, 0);
  b[4] = version;
  b.writeUInt32LE(h.chunkSize, 8);
  b.writeBigUInt64LE(BigInt(h.virtualSize), 16);
  b.writeBigUInt64LE(BigInt(h.slots), 24);
  return b;
}

export function parseFidxHeader(
  b: Buffer,
  where: { backup: string; disk: string },
): FidxHeader & { version: number } {
  const bad = (why: string): RepoIntegrityError =>
    new RepoIntegrityError('REPO_FIXED_INDEX_CORRUPT', `fixed index is damaged: ${why}`, where);
  if (b.length < FIDX_HEADER) throw bad('truncated header');
  if (!b.subarray(0, 4).equals(FIDX_MAGIC)) throw bad('bad magic');
  const version = b[4]!;
  if (version !== FIDX_FLAT && version !== FIDX_PAGED) throw bad(`unknown version ${version}`);
  const chunkSize = b.readUInt32LE(8);
  const virtualSize = Number(b.readBigUInt64LE(16));
  const slots = Number(b.readBigUInt64LE(24));
  if (chunkSize === 0 || slots !== Math.ceil(virtualSize / chunkSize)) {
    throw bad('slot count does not match size');
  }
  return { chunkSize, virtualSize, slots, version };
}

export function encodePageEntry(e: PageEntry): Buffer {
  const b = Buffer.alloc(PAGE_ENTRY);
  b.writeBigUInt64LE(BigInt(e.offset), 0);
  b.writeUInt32LE(e.length, 8);
  b.writeUInt32LE(e.crc, 12);
  b[16] = e.zstd ? PAGE_ZSTD : 0;
  return b;
}

export function parsePageEntry(b: Buffer, at: number): PageEntry {
  return {
    offset: Number(b.readBigUInt64LE(at)),
    length: b.readUInt32LE(at + 8),
    crc: b.readUInt32LE(at + 12),
    zstd: (b[at + 16]! & PAGE_ZSTD) !== 0,
  };
}

/** Streams a version 2 fixed index into an upload, one compressed page at a time. */
export class FidxWriter {
  private readonly hash: Hash = createHash('sha256');
  private readonly page = Buffer.alloc(PAGE_SLOTS * SLOT);
  private used = 0;
  private position = 0;
  private readonly table: PageEntry[] = [];
  written = 0;

  constructor(
    private readonly upload: ObjectUpload,
    readonly header: FidxHeader,
  ) {}

  async add(id: Buffer): Promise<void> {
    if (this.written >= this.header.slots)
      throw new RepoError('REPO_INVALID_ARGUMENT', 'more slots than the disk has');
    if (this.position === 0) await this.put(encodeFidxHeader(this.header));
    id.copy(this.page, this.used);
    this.used += SLOT;
    this.written++;
    if (this.used === this.page.length) await this.flushPage();
  }

  /** Adds the ids of several slots at once: `ids` holds them back to back, 32 bytes each. */
  async addMany(ids: Buffer): Promise<void> {
    const n = ids.length / SLOT;
    if (!Number.isInteger(n) || this.written + n > this.header.slots)
      throw new RepoError('REPO_INVALID_ARGUMENT', 'more slots than the disk has');
    if (this.position === 0 && n > 0) await this.put(encodeFidxHeader(this.header));
    for (let at = 0; at < ids.length;) {
      const k = Math.min(ids.length - at, this.page.length - this.used);
      ids.copy(this.page, this.used, at, at + k);
      this.used += k;
      this.written += k / SLOT;
      at += k;
      if (this.used === this.page.length) await this.flushPage();
    }
  }

  private async put(b: Buffer): Promise<void> {
    this.hash.update(b);
    this.position += b.length;
    await this.upload.write(b);
  }

  private async flushPage(): Promise<void> {
    if (this.used === 0) return;
    const plain = this.page.subarray(0, this.used);
    const z = compress(plain, { compressionLevel: 1 });
    const stored = z.length < plain.length ? z : Buffer.from(plain);
    this.table.push({
      offset: this.position,
      length: stored.length,
      crc: crc32(stored),
      zstd: stored === z,
    });
    this.used = 0;
    await this.put(stored);
  }

  /** Writes the last page, the page table and the trailer, and commits; returns the SHA-256 in hex. */
  async commit(): Promise<string> {
    if (this.written !== this.header.slots)
      throw new RepoError('REPO_INVALID_ARGUMENT', 'fixed index is missing slots');
    if (this.position === 0) await this.put(encodeFidxHeader(this.header));
    await this.flushPage();
    await this.put(Buffer.concat(this.table.map(encodePageEntry)));
    const digest = this.hash.digest();
    await this.upload.write(digest);
    await this.upload.commit();
    return digest.toString('hex');
  }

  abort(): Promise<void> {
    return this.upload.abort();
  }
}
