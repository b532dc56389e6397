/**
 * Names a restore turns into file names: the new VM name of `--as` (which
 * becomes `NAME-vda.qcow2` beside the restored disks) and the disk names a
 * manifest carries. Both are checked before anything is written, so a name
 * such as `../x` can never place a file outside the directory it was meant
 * for, and a name libvirt would refuse fails before the disks are copied.
 */
import { DISK_NAME } from '../../repo/manifest.js';
import { EngineError } from '../errors.js';

/**
 * The longest --as name: it must fit a file name (255 bytes) with a disk
 * name, the format, and the hidden staging name around it
 * (`.NAME-DISK.qcow2.brankas-new-PID-XXXXXXXX`).
 */
export const MAX_RESTORE_NAME = 150;

/** Why `name` cannot name a restored VM, or undefined when it can. */
export function restoreNameProblem(name: string): string | undefined {
  if (name.trim() === '') return 'it is empty';
  if (name.includes('/')) return "it contains '/'";
  if (name.startsWith('.')) return "it starts with '.'";
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'it contains control characters';
  if (Buffer.byteLength(name) > MAX_RESTORE_NAME) {
    return `it is longer than ${MAX_RESTORE_NAME} bytes`;
  }
  return undefined;
}

/** Throws RESTORE_INVALID_NAME unless `name` is safe as a VM name and in a file name. */
export function checkRestoreName(name: string): void {
  const reason = restoreNameProblem(name);
  if (reason === undefined) return;
  throw new EngineError(
    'RESTORE_INVALID_NAME',
    `'${name}' cannot be the name of a restored VM: ${reason}`,
    { details: { name, reason } },
  );
}

/** A manifest's disk name must be a plain file name component before it goes into a path. */
export function checkManifestDiskName(name: string, backup: string): void {
  if (DISK_NAME.test(name)) return;
  throw new EngineError(
    'RESTORE_INVALID_NAME',
    `backup ${backup} names a disk ${JSON.stringify(name)}, which cannot be part of a file name`,
    { details: { name, backup, reason: 'not a plain file name' } },
  );
}
