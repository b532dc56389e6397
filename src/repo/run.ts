/**
 * Index runs (docs/repository-format.md, "Index runs"): immutable sorted
 * tables from chunk id to record, with a block table and a Bloom filter that a
 * process keeps in memory while the entries stay in the backend, read one
 * 3 KiB block per lookup. This file is the codec; index.ts searches runs.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { Bloom, BLOOM_K } from './bloom.js';
import { RepoError, RepoIntegrityError } from './errors.js';

export const RUN_MAGIC = Buffer.from('BKIX');
export const RUN_HEADER = 32;
export const RUN_ENTRY = 48;
export const RUN_BLOCK = 64;
export const RUN_BLOCK_ROW = 12;

export interface IndexEntry {
  id: Buffer;
  pack: Buffer;
  offset: number;
  length: number;
  plainLength: number;
}

export interface RunLayout {
  packCount: number;
  entryCount: number;
  filterBytes: number;
  k: number;
  blockCount: number;
  packTableAt: number;
  entriesAt: number;
  blockTableAt: number;
  filterAt: number;
  size: number;
  tailCrc: number;
}

export function runObjectName(runId: string): string {
  return `index/${runId}`;
}

/** Encodes entries (any order; ids must be unique) into a run; returns its id and bytes. */
export function encodeRun(entries: IndexEntry[]): { id: string; bytes: Buffer } {
  const b = new RunBuilder();
  for (const e of [...entries].sort((x, y) => Buffer.compare(x.id, y.id))) b.add(e);
  return b.finish();
}

/** Builds a run from entries given in ascending id order, without holding them as objects. */
export class RunBuilder {
  private readonly packs = new Map<string, number>();
  private readonly packList: Buffer[] = [];
  private readonly parts: Buffer[] = [];
  private part = Buffer.alloc(RUN_ENTRY * 4096);
  private used = 0;
  private last: Buffer | undefined;
  count = 0;

  add(e: IndexEntry): void {
    if (this.last && Buffer.compare(this.last, e.id) >= 0) {
      throw new RepoError(
        'REPO_INVALID_ARGUMENT',
        'index run entries must be added in ascending, unique id order',
      );
    }
    const h = e.pack.toString('hex');
    let p = this.packs.get(h);
    if (p === undefined) {
      p = this.packList.length;
      this.packs.set(h, p);
      this.packList.push(Buffer.from(e.pack));
    }
    if (this.used === this.part.length) {
      this.parts.push(this.part);
      this.part = Buffer.alloc(RUN_ENTRY * 4096);
      this.used = 0;
    }
    const o = this.used;
    e.id.copy(this.part, o);
    this.part.writeUInt32LE(p, o + 32);
    this.part.writeUInt32LE(e.offset, o + 36);
    this.part.writeUInt32LE(e.length, o + 40);
    this.part.writeUInt32LE(e.plainLength, o + 44);
    this.used += RUN_ENTRY;
    this.last = this.part.subarray(o, o + 32);
    this.count++;
  }

  finish(): { id: string; bytes: Buffer } {
    const entryBytes = Buffer.concat([...this.parts, this.part.subarray(0, this.used)]);
    const n = entryBytes.length / RUN_ENTRY;
    const bloom = Bloom.forEntries(n);
    for (let i = 0; i < n; i++) bloom.add(entryBytes.subarray(i * RUN_ENTRY, i * RUN_ENTRY + 32));
    const blockCount = Math.ceil(n / RUN_BLOCK);
    const blocks = Buffer.alloc(blockCount * RUN_BLOCK_ROW);
    for (let b = 0; b < blockCount; b++) {
      const start = b * RUN_BLOCK * RUN_ENTRY;
      const end = Math.min(entryBytes.length, start + RUN_BLOCK * RUN_ENTRY);
      entryBytes.copy(blocks, b * RUN_BLOCK_ROW, start, start + 8);
      blocks.writeUInt32LE(crc32(entryBytes.subarray(start, end)), b * RUN_BLOCK_ROW + 8);
    }
    const packTable = Buffer.concat(this.packList);
    const header = Buffer.alloc(RUN_HEADER);
    RUN_MAGIC.copy(header, 0);
    header[4] = 1;
    header[5] = BLOOM_K;
    header.writeUInt16LE(RUN_BLOCK, 6);
    header.writeUInt32LE(this.packList.length, 8);
    header.writeUInt32LE(n, 12);
    header.writeUInt32LE(bloom.bits.length, 16);
    header.writeUInt32LE(crc32(bloom.bits, crc32(blocks, crc32(packTable))), 20);
    header.writeUInt32LE(crc32(header.subarray(0, 24)), 24);
    const bytes = Buffer.concat([header, packTable, entryBytes, blocks, bloom.bits]);
    return { id: createHash('sha256').update(bytes).digest('hex'), bytes };
  }
}

export function parseRunHeader(header: Buffer, run: string): RunLayout {
  const bad = (why: string): RepoIntegrityError =>
    new RepoIntegrityError('REPO_INDEX_CORRUPT', `index run is damaged: ${why}`, { run });
  if (header.length < RUN_HEADER) throw bad('truncated header');
  if (!header.subarray(0, 4).equals(RUN_MAGIC)) throw bad('bad magic');
  if (header[4] !== 1) throw bad(`unknown version ${header[4]}`);
  if (header.readUInt32LE(24) !== crc32(header.subarray(0, 24))) throw bad('header CRC32 mismatch');
  if (header.readUInt16LE(6) !== RUN_BLOCK) throw bad('unsupported block size');
  const packCount = header.readUInt32LE(8);
  const entryCount = header.readUInt32LE(12);
  const filterBytes = header.readUInt32LE(16);
  const blockCount = Math.ceil(entryCount / RUN_BLOCK);
  const packTableAt = RUN_HEADER;
  const entriesAt = packTableAt + packCount * 32;
  const blockTableAt = entriesAt + entryCount * RUN_ENTRY;
  const filterAt = blockTableAt + blockCount * RUN_BLOCK_ROW;
  return {
    packCount,
    entryCount,
    filterBytes,
    k: header[5]!,
    blockCount,
    packTableAt,
    entriesAt,
    blockTableAt,
    filterAt,
    size: filterAt + filterBytes,
    tailCrc: header.readUInt32LE(20),
  };
}

/** Reads entry i of a block buffer. */
export function entryAt(block: Buffer, i: number, packTable: Buffer): IndexEntry {
  const o = i * RUN_ENTRY;
  const p = block.readUInt32LE(o + 32);
  return {
    id: Buffer.from(block.subarray(o, o + 32)),
    pack: Buffer.from(packTable.subarray(p * 32, p * 32 + 32)),
    offset: block.readUInt32LE(o + 36),
    length: block.readUInt32LE(o + 40),
    plainLength: block.readUInt32LE(o + 44),
  };
}
