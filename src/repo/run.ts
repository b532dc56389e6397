/**
 * Index runs (docs/repository-format.md, "Index runs"): immutable sorted
 * tables from chunk id to record, with a block table and a Bloom filter that a
 * process keeps in memory while the entries stay in the backend, read one
 * 3 KiB block per lookup. This file is the codec; index.ts searches runs.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { Bloom, BLOOM_K } from './bloom.js';
import { RepoIntegrityError } from './errors.js';

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
  const sorted = [...entries].sort((a, b) => Buffer.compare(a.id, b.id));
  const packs = new Map<string, number>();
  const packList: Buffer[] = [];
  for (const e of sorted) {
    const h = e.pack.toString('hex');
    if (!packs.has(h)) {
      packs.set(h, packList.length);
      packList.push(e.pack);
    }
  }
  const bloom = Bloom.forEntries(sorted.length);
  const entryBytes = Buffer.alloc(sorted.length * RUN_ENTRY);
  sorted.forEach((e, i) => {
    if (i > 0 && sorted[i - 1]!.id.equals(e.id)) throw new Error('duplicate id in index run');
    const o = i * RUN_ENTRY;
    e.id.copy(entryBytes, o);
    entryBytes.writeUInt32LE(packs.get(e.pack.toString('hex'))!, o + 32);
    entryBytes.writeUInt32LE(e.offset, o + 36);
    entryBytes.writeUInt32LE(e.length, o + 40);
    entryBytes.writeUInt32LE(e.plainLength, o + 44);
    bloom.add(e.id);
  });
  const blockCount = Math.ceil(sorted.length / RUN_BLOCK);
  const blocks = Buffer.alloc(blockCount * RUN_BLOCK_ROW);
  for (let b = 0; b < blockCount; b++) {
    const start = b * RUN_BLOCK * RUN_ENTRY;
    const end = Math.min(entryBytes.length, start + RUN_BLOCK * RUN_ENTRY);
    entryBytes.copy(blocks, b * RUN_BLOCK_ROW, start, start + 8);
    blocks.writeUInt32LE(crc32(entryBytes.subarray(start, end)), b * RUN_BLOCK_ROW + 8);
  }
  const packTable = Buffer.concat(packList);
  const header = Buffer.alloc(RUN_HEADER);
  RUN_MAGIC.copy(header, 0);
  header[4] = 1;
  header[5] = BLOOM_K;
  header.writeUInt16LE(RUN_BLOCK, 6);
  header.writeUInt32LE(packList.length, 8);
  header.writeUInt32LE(sorted.length, 12);
  header.writeUInt32LE(bloom.bits.length, 16);
  header.writeUInt32LE(crc32(bloom.bits, crc32(blocks, crc32(packTable))), 20);
  header.writeUInt32LE(crc32(header.subarray(0, 24)), 24);
  const bytes = Buffer.concat([header, packTable, entryBytes, blocks, bloom.bits]);
  return { id: createHash('sha256').update(bytes).digest('hex'), bytes };
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
