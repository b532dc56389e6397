/**
 * Errors of the disk engines (disk info, volumes, the thin-provisioning lab).
 * Codes are stable; `details` carry what a face needs to word the error in
 * the user's language (the CLI looks up `err.<CODE>`).
 */
import { BrankasError, type ErrorOptionsFor } from '../../util/errors.js';

export type DiskErrorCode =
  | 'POOL_NOT_FOUND'
  | 'POOL_INACTIVE'
  | 'VOLUME_NOT_FOUND'
  | 'VOLUME_EXISTS'
  | 'VOLUME_BAD_SIZE'
  | 'VOLUME_BAD_FORMAT'
  | 'VOLUME_BAD_NAME'
  | 'VOLUME_CONFIRMATION_REQUIRED'
  | 'DISK_NO_DISKS'
  | 'LAB_TOOL_FAILED'
  | 'LAB_INTERRUPTED';

export class DiskError<C extends DiskErrorCode = DiskErrorCode> extends BrankasError<C> {
  override readonly name = 'DiskError';
  constructor(code: C, message: string, ...options: ErrorOptionsFor<C>) {
    super(code, message, ...options);
  }
}
