/**
 * Writes a GPT with one partition onto a raw image, for tests of partitioned disks (the host
 * has no sgdisk): a protective MBR, the primary header and entries, and their backup copies.
 */
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';

const SECTOR = 512;
const ENTRIES = 128;
const ENTRY_SIZE = 128;
const ENTRY_SECTORS = (ENTRIES * ENTRY_SIZE) / SECTOR;

/** One partition from `firstLba` to the last usable sector; returns its byte offset and size. */
export async function writeGpt(
  path: string,
  firstLba = 2048,
): Promise<{ offset: number; size: number }> {
  const fh = await open(path, 'r+');
  try {
    const sectors = (await fh.stat()).size / SECTOR;
    const lastUsable = sectors - 1 - ENTRY_SECTORS - 1;
    const entries = Buffer.alloc(ENTRIES * ENTRY_SIZE);
    // Linux filesystem data: 0FC63DAF-8483-4772-8E79-3D69D8477DE4, in GPT's mixed-endian form.
    Buffer.from('af3dc60f838472478e793d69d8477de4', 'hex').copy(entries, 0);
    randomBytes(16).copy(entries, 16);
    entries.writeBigUInt64LE(BigInt(firstLba), 32);
    entries.writeBigUInt64LE(BigInt(lastUsable), 40);
    entries.write('brankas-test', 56, 'utf16le');
    const diskGuid = randomBytes(16);
    const header = (self: number, other: number, entriesLba: number): Buffer => {
      const h = Buffer.alloc(SECTOR);
      h.write('EFI PART', 0, 'latin1');
      h.writeUInt32LE(0x00010000, 8);
      h.writeUInt32LE(92, 12);
      h.writeBigUInt64LE(BigInt(self), 24);
      h.writeBigUInt64LE(BigInt(other), 32);
      h.writeBigUInt64LE(BigInt(2 + ENTRY_SECTORS), 40);
      h.writeBigUInt64LE(BigInt(lastUsable), 48);
      diskGuid.copy(h, 56);
      h.writeBigUInt64LE(BigInt(entriesLba), 72);
      h.writeUInt32LE(ENTRIES, 80);
      h.writeUInt32LE(ENTRY_SIZE, 84);
      h.writeUInt32LE(crc32(entries), 88);
      h.writeUInt32LE(crc32(h.subarray(0, 92)), 16);
      return h;
    };
    const mbr = Buffer.alloc(SECTOR);
    mbr[0x1be + 4] = 0xee;
    mbr.writeUInt32LE(1, 0x1be + 8);
    mbr.writeUInt32LE(Math.min(sectors - 1, 0xffffffff), 0x1be + 12);
    mbr.writeUInt16LE(0xaa55, 510);
    await fh.write(mbr, 0, SECTOR, 0);
    await fh.write(header(1, sectors - 1, 2), 0, SECTOR, SECTOR);
    await fh.write(entries, 0, entries.length, 2 * SECTOR);
    await fh.write(entries, 0, entries.length, (sectors - 1 - ENTRY_SECTORS) * SECTOR);
    await fh.write(
      header(sectors - 1, 1, sectors - 1 - ENTRY_SECTORS),
      0,
      SECTOR,
      (sectors - 1) * SECTOR,
    );
    return { offset: firstLba * SECTOR, size: (lastUsable + 1 - firstLba) * SECTOR };
  } finally {
    await fh.close();
  }
}
