/**
 * One disk or boot file of a backup written into a file: disks sparsely as a
 * fresh qcow2 (with the cluster size and compat recorded at backup) or raw
 * file, boot files as they were, both synced before they count as written.
 * A full file system becomes RESTORE_NO_SPACE, a message a user can act on.
 */
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { copyDisk, createWriter, type DiskReader, type DiskWriter } from '../../image/index.js';
import type { Repository } from '../../repo/repository.js';
import type { ManifestDisk } from '../../repo/manifest.js';
import { BackupDisk } from '../../repo/reader.js';
import { isBrankasError } from '../../util/errors.js';
import { EngineError } from '../errors.js';

/** BackupDisk as the image layer's reader. */
export function diskReader(d: BackupDisk, format: string): DiskReader {
  return {
    virtualSize: d.virtualSize,
    format,
    extents: () => d.extents(),
    read: (offset, length) => d.read(offset, length),
    readInto: (target, targetOffset, offset, length) =>
      d.readInto(target, targetOffset, offset, length),
    close: () => d.close(),
  };
}

/**
 * Copies a backed disk into `writer` (any image writer, local or remote),
 * reporting progress under the disk's name; returns the data bytes written.
 */
export async function copyBackedDisk(
  backed: BackupDisk,
  format: string,
  diskName: string,
  writer: DiskWriter,
  o: { signal?: AbortSignal | undefined; onProgress?: RestoreProgressFn | undefined },
): Promise<number> {
  const total = backed.virtualSize;
  const progress = o.onProgress;
  return (
    await copyDisk(diskReader(backed, format), writer, {
      ...(o.signal ? { signal: o.signal } : {}),
      ...(progress
        ? { onProgress: (at) => progress({ disk: diskName, doneBytes: at, totalBytes: total }) }
        : {}),
    })
  ).dataBytes;
}

/**
 * The mode a boot file is restored with: permission bits only, since a recorded
 * set-user-ID bit (a forged manifest) would make a root-owned file that runs as root.
 */
export function bootFileMode(disk: ManifestDisk): number {
  const recorded = (disk.formatOptions as { mode?: unknown } | null)?.mode;
  return typeof recorded === 'number' ? recorded & 0o777 : 0o644;
}

export function isBootFile(d: ManifestDisk): boolean {
  return d.format === 'file' && d.name.startsWith('boot-');
}

function isNoSpace(err: unknown): boolean {
  for (let e = err; e !== undefined && e !== null; e = (e as { cause?: unknown }).cause) {
    const code = isBrankasError(e) ? e.details['errno'] : (e as { code?: unknown }).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return true;
    if (typeof e !== 'object') break;
  }
  return false;
}

/** Progress of a restore: how far through each disk the writing is. */
export type RestoreProgressFn = (p: {
  disk: string;
  doneBytes: number;
  totalBytes: number;
}) => void;

export interface WriteTarget {
  /** Where the bytes go (often a temporary name). */
  path: string;
  /** Where the file will be (for messages). */
  final: string;
  /** Write into an existing block device instead of creating a file. */
  inPlace: boolean;
}

/** Writes a disk of backup `backupId` to target.path; resolves with the data bytes written. */
export async function writeDisk(
  repo: Repository,
  backupId: string,
  disk: ManifestDisk,
  target: WriteTarget,
  format: 'qcow2' | 'raw',
  o: { signal?: AbortSignal | undefined; onProgress?: RestoreProgressFn | undefined } = {},
): Promise<number> {
  const backed = await BackupDisk.open(repo, backupId, disk.name);
  try {
    const fo = (disk.formatOptions ?? {}) as { clusterSize?: number; compat?: string };
    const mode = target.inPlace ? 'replace' : 'create';
    const writer = await createWriter(
      target.path,
      format === 'qcow2'
        ? {
            format: 'qcow2',
            virtualSize: backed.virtualSize,
            mode,
            ...(fo.clusterSize ? { clusterSize: fo.clusterSize } : {}),
            ...(fo.compat === '0.10' || fo.compat === '1.1' ? { compat: fo.compat } : {}),
          }
        : { format: 'raw', virtualSize: backed.virtualSize, mode },
    );
    return await copyBackedDisk(backed, format, disk.name, writer, o);
  } catch (err) {
    throw noSpace(err, disk, backupId, target.final);
  } finally {
    await backed.close();
  }
}

/** Writes a boot file (kernel, initrd, NVRAM...) of backup `backupId` to path, synced. */
export async function writeBootFile(
  repo: Repository,
  backupId: string,
  disk: ManifestDisk,
  target: WriteTarget,
): Promise<void> {
  const backed = await BackupDisk.open(repo, backupId, disk.name);
  try {
    const data = await backed.read(0, backed.virtualSize);
    const mode = bootFileMode(disk);
    const handle = await open(target.path, 'wx', mode);
    try {
      await handle.writeFile(data);
      // The creation mode is filtered by the umask; the recorded one is wanted.
      await handle.chmod(mode);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw noSpace(err, disk, backupId, target.final);
  } finally {
    await backed.close();
  }
}

function noSpace(err: unknown, disk: ManifestDisk, backupId: string, final: string): unknown {
  if (!isNoSpace(err)) return err;
  const dir = dirname(final);
  const mib = Math.ceil(disk.dataBytes / (1 << 20));
  return new EngineError(
    'RESTORE_NO_SPACE',
    `not enough space in ${dir} to restore ${disk.name} of backup ${backupId} ` +
      `(${mib} MiB of data); nothing was left behind. Free some space or restore --to another directory.`,
    { cause: err, details: { dir, disk: disk.name, backup: backupId, dataMiB: mib } },
  );
}
