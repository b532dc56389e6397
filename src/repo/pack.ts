/**
 * Packs (docs/repository-format.md, "Packs"): records back to back after an
 * 8-byte header, then a table of them and a 16-byte trailer. The builder
 * collects records in memory up to the pack size; the parser reads the table
 * back for verify and for rebuilding the index.
 */
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { Backend } from './backend/types.js';

export const PACK_MAGIC = Buffer.from('BKPK');
export const PACK_END_MAGIC = Buffer.from('BKPE');
export const PACK_HEADER = 8;
export const PACK_TRAILER = 16;
export const PACK_ENTRY = 48;

export interface PackEntry {
  id: Buffer;
  offset: number;
  length: number;
  plainLength: number;
  flags: number;
}

export function packObjectName(packId: string): string {
  return `data/${packId.slice(0, 2)}/${packId}`;
}

/** A pack's first 8 bytes. */
export function packHeader(): Buffer {
  const header = Buffer.alloc(PACK_HEADER);
  PACK_MAGIC.copy(header, 0);
  header[4] = 1;
  return header;
}

/** What follows a pack's records: the table of them and the trailer. */
export function packEnd(entries: readonly PackEntry[]): [Buffer, Buffer] {
  const table = Buffer.alloc(entries.length * PACK_ENTRY);
  entries.forEach((e, i) => {
    const o = i * PACK_ENTRY;
    e.id.copy(table, o);
    table.writeUInt32LE(e.offset, o + 32);
    table.writeUInt32LE(e.length, o + 36);
    table.writeUInt32LE(e.plainLength, o + 40);
    table[o + 44] = e.flags;
  });
  const trailer = Buffer.alloc(PACK_TRAILER);
  trailer.writeUInt32LE(entries.length, 0);
  trailer.writeUInt32LE(crc32(table), 4);
  PACK_END_MAGIC.copy(trailer, 12);
  return [table, trailer];
}

/** A pack built in memory (garbage collection's repacking; backups stream theirs, see pack-sink.ts). */
export class PackBuilder {
  readonly id = randomBytes(32);
  private readonly parts: Buffer[] = [packHeader()];
  readonly entries: PackEntry[] = [];
  size = PACK_HEADER;

  /** Appends a record (kept, not copied); returns where it went. */
  add(record: Buffer, id: Buffer, plainLength: number): PackEntry {
    const e: PackEntry = {
      id,
      offset: this.size,
      length: record.length,
      plainLength,
      flags: record[5]!,
    };
    this.parts.push(record);
    this.entries.push(e);
    this.size += record.length;
    return e;
  }

  get count(): number {
    return this.entries.length;
  }

  /** The whole pack: header, records, table, trailer. */
  finish(): Buffer {
    return Buffer.concat(this.finishParts());
  }

  /** The pack as its parts, without copying the records into one buffer. */
  finishParts(): Buffer[] {
    return [...this.parts, ...packEnd(this.entries)];
  }
}

/**
 * Stores finished pack parts under the pack's name, written in parts (a
 * 16 MiB pack is never copied into one buffer) and committed whole.
 */
export async function putPack(backend: Backend, packId: Buffer, parts: Buffer[]): Promise<void> {
  const up = await backend.upload(packObjectName(packId.toString('hex')));
  try {
    for (const part of parts) await up.write(part);
    await up.commit();
  } finally {
    await up.abort();
  }
}

/**
 * The table of a pack read by ranges (its trailer, then its table), not whole: how the index
 * is rebuilt from the packs. An array of entries, or a reason it cannot be read.
 */
export async function readPackTable(
  backend: Backend,
  packId: string,
  size: number,
): Promise<PackEntry[] | string> {
  if (size < PACK_HEADER + PACK_TRAILER) return 'pack is too short';
  const name = packObjectName(packId);
  const t = await backend.getRange(name, size - PACK_TRAILER, PACK_TRAILER);
  if (t.length !== PACK_TRAILER || !t.subarray(12).equals(PACK_END_MAGIC)) {
    return 'bad pack trailer';
  }
  const count = t.readUInt32LE(0);
  const tableStart = size - PACK_TRAILER - count * PACK_ENTRY;
  if (tableStart < PACK_HEADER) return 'pack table does not fit';
  const head = await backend.getRange(name, 0, PACK_HEADER);
  const table = await backend.getRange(name, tableStart, count * PACK_ENTRY);
  return parseTable(head, table, t, size);
}

/** The table of a whole pack, or a reason it cannot be read. */
export function parsePack(pack: Buffer): PackEntry[] | string {
  if (pack.length < PACK_HEADER + PACK_TRAILER) return 'pack is too short';
  if (!pack.subarray(0, 4).equals(PACK_MAGIC) || pack[4] !== 1) return 'bad pack header';
  const t = pack.subarray(pack.length - PACK_TRAILER);
  if (!t.subarray(12).equals(PACK_END_MAGIC)) return 'bad pack trailer';
  const tableStart = pack.length - PACK_TRAILER - t.readUInt32LE(0) * PACK_ENTRY;
  if (tableStart < PACK_HEADER) return 'pack table does not fit';
  return parseTable(
    pack.subarray(0, PACK_HEADER),
    pack.subarray(tableStart, pack.length - PACK_TRAILER),
    t,
    pack.length,
  );
}

/** Header, table and trailer of a pack of `size` bytes: its entries, or why not. */
function parseTable(head: Buffer, table: Buffer, t: Buffer, size: number): PackEntry[] | string {
  if (!head.subarray(0, 4).equals(PACK_MAGIC) || head[4] !== 1) return 'bad pack header';
  if (!t.subarray(12).equals(PACK_END_MAGIC)) return 'bad pack trailer';
  const count = t.readUInt32LE(0);
  const tableStart = size - PACK_TRAILER - count * PACK_ENTRY;
  if (tableStart < PACK_HEADER || table.length !== count * PACK_ENTRY) {
    return 'pack table does not fit';
  }
  if (crc32(table) !== t.readUInt32LE(4)) return 'pack table CRC32 mismatch';
  const entries: PackEntry[] = [];
  let expect = PACK_HEADER;
  for (let i = 0; i < count; i++) {
    const o = i * PACK_ENTRY;
    const e: PackEntry = {
      id: Buffer.from(table.subarray(o, o + 32)),
      offset: table.readUInt32LE(o + 32),
      length: table.readUInt32LE(o + 36),
      plainLength: table.readUInt32LE(o + 40),
      flags: table[o + 44]!,
    };
    if (e.offset !== expect) return `pack table entry ${i} is at ${e.offset}, expected ${expect}`;
    expect += e.length;
    entries.push(e);
  }
  if (expect !== tableStart) return 'pack records and table do not meet';
  return entries;
}
