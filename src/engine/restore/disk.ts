/**
 * `restore BACKUP --disk vda --to PATH`: one disk of a backup written to a
 * file, nothing defined (to attach it elsewhere, inspect it, or replace one
 * disk of a VM by hand). The file is staged like a full restore's: an
 * existing one is replaced only with --force, and only once the new image is
 * complete. A file system error at the path is RESTORE_PATH_UNUSABLE. With
 * a `qemu+ssh://` connection's host, PATH is on that host (remote-disk.ts).
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Repository } from '../../repo/repository.js';
import type { DamagedBackup } from '../catalog.js';
import { EngineError } from '../errors.js';
import type { DataHost } from '../remote/host.js';
import { resolveBackup } from './restore.js';
import { restoreDiskRemote } from './remote-disk.js';
import { pathError } from './fs-errors.js';
import { checkManifestDiskName, checkRestoreName } from './names.js';
import { cleanLeftovers, removeCreatedDirs, Staging } from './staging.js';
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
  /**
   * Where PATH is: this machine (default), or the host of a `qemu+ssh://` connection
   * (remote/host.ts's `dataHostOf`), where the file is then written (remote-disk.ts).
   */
  host?: DataHost;
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
  /** Partial files of restores into the same directory whose process had died, removed. */
  cleanedLeftovers: string[];
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
  try {
    return await restoreDiskChecked(repo, ref, diskName, to, o);
  } catch (err) {
    throw pathError(err, to);
  }
}

async function restoreDiskChecked(
  repo: Repository,
  ref: string,
  diskName: string,
  to: string,
  o: RestoreDiskOptions,
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
  if (o.host?.kind === 'ssh') {
    return restoreDiskRemote(o.host.ssh, repo, m, disk, to, format, o, started);
  }
  const intoDir = statSync(to, { throwIfNoEntry: false })?.isDirectory() === true;
  if (intoDir) {
    // The file name comes from the manifest: it must stay a name in that directory.
    checkRestoreName(m.vm.name);
    checkManifestDiskName(disk.name, m.id);
  }
  const path = intoDir ? join(to, `${m.vm.name}-${disk.name}.${format}`) : to;
  if (existsSync(path) && !o.force) {
    throw new EngineError(
      'RESTORE_FILE_EXISTS',
      `${path} exists; brankas does not overwrite files without --force (or restore --to another directory)`,
      { details: { path, backup: m.id } },
    );
  }
  if (o.noSpaceCheck !== true) await checkSpace([{ disk, path, format }], m.id);
  const createdDir = await mkdir(dirname(path), { recursive: true });
  const staging = new Staging(o.force === true);
  try {
    const cleanedLeftovers = await cleanLeftovers(dirname(path));
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
      cleanedLeftovers,
    };
  } catch (err) {
    await staging.rollback();
    await removeCreatedDirs(createdDir, dirname(path));
    throw err;
  }
}
