/**
 * What is on a backed-up disk, read on the host before any helper VM boots
 * (docs/file-restore.md): the partition table (GPT, MBR primaries, or none)
 * and, in each volume, the filesystem by its magic. It decides how paths name
 * volumes (`/` for a whole-disk filesystem, `/p1`... for partitions) and
 * refuses early what the helper cannot read: LUKS, unknown filesystems.
 */

/** Reads `length` bytes of the disk at `offset` (never past its end). */
export type ReadAt = (offset: number, length: number) => Promise<Buffer>;

/** The filesystems the helper mounts (the kernel's type names). */
export const READABLE_FS = ['ext4', 'vfat', 'xfs', 'btrfs'] as const;
export type ReadableFs = (typeof READABLE_FS)[number];

export type FsKind = ReadableFs | 'luks' | 'swap' | 'lvm' | 'ntfs' | 'exfat' | 'unknown';

export interface Volume {
  /** '' for a whole-disk filesystem, else `p<N>` (the kernel's partition number). */
  name: string;
  /** The helper's device: `vda` or `vda<N>`. */
  device: string;
  offset: number;
  size: number;
  fs: FsKind;
}

export interface DiskLayout {
  table: 'none' | 'gpt' | 'mbr';
  volumes: Volume[];
}

const SECTOR = 512;
/** Enough of a volume to see every magic below (btrfs' is at 64 KiB + 64). */
const PROBE_BYTES = 0x10000 + 0x1000;

export function fsOf(head: Buffer): FsKind {
  const at = (off: number, s: string): boolean =>
    head.length >= off + s.length && head.subarray(off, off + s.length).toString('latin1') === s;
  if (at(0, 'LUKS\xba\xbe') || at(0, 'SKUL\xba\xbe')) return 'luks';
  if (at(0, 'XFSB')) return 'xfs';
  if (at(0x10040, '_BHRfS_M')) return 'btrfs';
  if (head.length >= 1082 && head.readUInt16LE(1080) === 0xef53) return 'ext4';
  if (at(3, 'NTFS    ')) return 'ntfs';
  if (at(3, 'EXFAT   ')) return 'exfat';
  if (at(0x36, 'FAT') || at(0x52, 'FAT32')) {
    if (head.length >= 512 && head.readUInt16LE(510) === 0xaa55) return 'vfat';
  }
  if (at(512, 'LABELONE')) return 'lvm';
  if (at(4086, 'SWAPSPACE2') || at(4086, 'SWAP-SPACE')) return 'swap';
  return 'unknown';
}

async function probe(read: ReadAt, offset: number, size: number): Promise<FsKind> {
  return fsOf(await read(offset, Math.min(PROBE_BYTES, size)));
}

export async function readLayout(read: ReadAt, diskSize: number): Promise<DiskLayout> {
  const whole = await probe(read, 0, diskSize);
  if (whole !== 'unknown') {
    return {
      table: 'none',
      volumes: [{ name: '', device: 'vda', offset: 0, size: diskSize, fs: whole }],
    };
  }
  const head = await read(0, Math.min(2 * SECTOR, diskSize));
  if (
    head.length >= 2 * SECTOR &&
    head.subarray(SECTOR, SECTOR + 8).toString('latin1') === 'EFI PART'
  ) {
    return { table: 'gpt', volumes: await gptVolumes(read, head.subarray(SECTOR), diskSize) };
  }
  if (head.length >= SECTOR && head.readUInt16LE(510) === 0xaa55) {
    const volumes: Volume[] = [];
    for (let i = 0; i < 4; i++) {
      const e = 0x1be + 16 * i;
      const type = head[e + 4]!;
      const start = head.readUInt32LE(e + 8) * SECTOR;
      const size = head.readUInt32LE(e + 12) * SECTOR;
      // Empty slots and extended containers (logical partitions are not read: a v1 limit).
      if (type === 0 || type === 0x05 || type === 0x0f || type === 0x85 || size === 0) continue;
      if (start + size > diskSize) continue;
      volumes.push(await volume(read, i + 1, start, size));
    }
    if (volumes.length > 0) return { table: 'mbr', volumes };
  }
  return { table: 'none', volumes: [] };
}

async function volume(read: ReadAt, n: number, offset: number, size: number): Promise<Volume> {
  return { name: `p${n}`, device: `vda${n}`, offset, size, fs: await probe(read, offset, size) };
}

async function gptVolumes(read: ReadAt, header: Buffer, diskSize: number): Promise<Volume[]> {
  const entriesAt = Number(header.readBigUInt64LE(72)) * SECTOR;
  const count = Math.min(header.readUInt32LE(80), 256);
  const entrySize = header.readUInt32LE(84);
  if (entrySize < 128 || entrySize > 4096) return [];
  const table = await read(entriesAt, Math.min(count * entrySize, diskSize - entriesAt));
  const volumes: Volume[] = [];
  for (let i = 0; i < count && (i + 1) * entrySize <= table.length; i++) {
    const e = table.subarray(i * entrySize, (i + 1) * entrySize);
    if (e.subarray(0, 16).every((b) => b === 0)) continue;
    const first = Number(e.readBigUInt64LE(32)) * SECTOR;
    const last = Number(e.readBigUInt64LE(40)) * SECTOR;
    if (last < first || last + SECTOR > diskSize) continue;
    volumes.push(await volume(read, i + 1, first, last + SECTOR - first));
  }
  return volumes;
}
