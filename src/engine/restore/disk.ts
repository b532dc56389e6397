/**
 * `restore BACKUP --disk vda --to PATH`: one disk of a backup written to a
 * file, nothing defined (to attach it elsewhere, inspect it, or replace one
 * disk of a VM by hand). The file is staged like a full restore's: an
 * existing one is replaced only with --force, and only once the new image is
 * complete.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Repository } from '../../repo/repository.js';
import type { DamagedBackup } from '../catalog.js';
import { EngineError } from '../errors.js';
import { resolveBackup } from './restore.js';
import { Staging } from './staging.js';
import { checkSpace } from './space.js';
import { isBootFile, writeDisk, type RestoreProgressFn } from './write.js';

export interface RestoreDiskOptions {
  /** Image format of the file (default: as backed up). */
  format?: 'qcow2' | 'raw';
  /** Replace an existing file. */
  force?: boolean;
  /** Skip the free-space check made before writing (see RestoreOptions). */
  noSpaceCheck?: boolean;
  /** When the VM's newest backup is damaged, restore from the newest intact one (else refuse). */
  skipDamaged?: boolean;
  /** Told which damaged backups were passed over (with skipDamaged). */
  onSkippedDamaged?: (skipped: DamagedBackup[]) => void;
  /** Stops the restore; what it wrote is removed. */
  signal?: AbortSignal;
  onProgress?: RestoreProgressFn;
}

export interface RestoreDiskResult {
  backup: string;
  vm: string;
  disk: string;
  path: string;
  format: 'qcow2' | 'raw';
  dataBytes: number;
  seconds: number;
}

/**
 * Writes disk `diskName` of backup `ref` (an id, or a VM name for its latest
 * backup) to `to`: a file path, or an existing directory to put
 * `VM-DISK.FORMAT` in.
 */
export async function restoreDisk(
  repo: Repository,
  ref: string,
  diskName: string,
  to: string,
  o: RestoreDiskOptions = {},
): Promise<RestoreDiskResult> {
  const started = Date.now();
  const m = await resolveBackup(repo, ref, o);
  const disks = m.disks.filter((d) => !isBootFile(d));
  const disk = disks.find((d) => d.name === diskName);
  if (!disk) {
    const names = disks.map((d) => d.name);
    throw new EngineError(
      'RESTORE_DISK_NOT_FOUND',
      `backup ${m.id} of ${m.vm.name} has no disk named '${diskName}'; its disks: ${names.join(', ')}`,
      { details: { disk: diskName, backup: m.id, vm: m.vm.name, disks: names } },
    );
  }
  const format = o.format ?? (disk.format === 'raw' ? 'raw' : 'qcow2');
  const path = statSync(to, { throwIfNoEntry: false })?.isDirectory()
    ? join(to, `${m.vm.name}-${disk.name}.${format}`)
    : to;
  if (existsSync(path) && !o.force) {
    throw new EngineError(
      'RESTORE_FILE_EXISTS',
      `${path} exists; brankas does not overwrite files without --force (or restore --to another directory)`,
      { details: { path, backup: m.id } },
    );
  }
  if (o.noSpaceCheck !== true) await checkSpace([{ disk, path, format }], m.id);
  await mkdir(dirname(path), { recursive: true });
  const staging = new Staging(o.force === true);
  try {
    const dataBytes = await writeDisk(
      repo,
      m.id,
      disk,
      { ...staging.add(path), final: path },
      format,
      { signal: o.signal, onProgress: o.onProgress },
    );
    await staging.commit();
    await staging.finish();
    return {
      backup: m.id,
      vm: m.vm.name,
      disk: disk.name,
      path,
      format,
      dataBytes,
      seconds: (Date.now() - started) / 1000,
    };
  } catch (err) {
    await staging.rollback();
    throw err;
  }
}
