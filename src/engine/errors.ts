/**
 * Errors of the engines. Each code is stable and documented; `details` carry
 * the facts a face needs to say it in the user's language (the CLI looks the
 * code up in its catalogue and falls back to the English message).
 */
import { BrankasError, type ErrorOptionsFor } from '../util/errors.js';

export type EngineErrorCode =
  | 'VM_NOT_FOUND'
  | 'SNAPSHOT_NOT_FOUND'
  | 'SNAPSHOT_EXISTS'
  | 'SNAPSHOT_INVALID_NAME'
  | 'SNAPSHOT_RAW_DISK'
  | 'SNAPSHOT_HAS_CHILDREN'
  | 'SNAPSHOT_EXTERNAL_UNSUPPORTED'
  | 'SNAPSHOT_FOREIGN_CHECKPOINTS'
  | 'SNAPSHOT_CHECKPOINTS_MANAGED_SAVE'
  | 'CONFIRMATION_REQUIRED'
  | 'GUEST_UNAVAILABLE'
  | 'GUEST_COMMAND_FAILED'
  | 'GUEST_IMAGES_MISSING'
  | 'GUEST_WORKDIR_UNSAFE'
  | 'LAB_CHECK_FAILED'
  | 'BACKUP_SHUTDOWN_TIMEOUT'
  | 'BACKUP_UNSUPPORTED_DISK'
  | 'BACKUP_INTERRUPTED'
  | 'BACKUP_NOT_FOUND'
  | 'BACKUP_DAMAGED'
  | 'BACKUP_LATEST_DAMAGED'
  | 'BACKUP_LIVE_NOT_RUNNING'
  | 'BACKUP_LIVE_VM_STOPPED'
  | 'BACKUP_LIVE_JOB_FAILED'
  | 'BACKUP_LIVE_NO_AGENT'
  | 'BACKUP_LIVE_FREEZE_FAILED'
  | 'BACKUP_LIVE_THAW_FAILED'
  | 'RESTORE_NO_XML'
  | 'RESTORE_VM_EXISTS'
  | 'RESTORE_VM_RUNNING'
  | 'RESTORE_FILE_EXISTS'
  | 'RESTORE_SOCKET_PATH_TOO_LONG'
  | 'RESTORE_NO_SPACE'
  | 'RESTORE_DISK_NOT_FOUND'
  | 'RESTORE_INVALID_NAME'
  | 'RESTORE_HOST_ACCESS'
  | 'RESTORE_PATH_UNUSABLE'
  | 'REMOTE_NO_DATA_PATH'
  | 'REMOTE_COMMAND_FAILED'
  | 'REMOTE_UNSUPPORTED'
  // remote restore and doctor's bitmaps
  | 'REMOTE_RESTORE_NO_SPACE'
  | 'DOCTOR_BITMAP_REMOVE_FAILED'
  | 'MOUNT_DISK_NOT_FOUND'
  | 'MOUNT_NOT_LOOPBACK'
  // file-level restore (src/engine/files/)
  | 'FILES_PATH_NOT_FOUND'
  | 'FILES_PATH_OUTSIDE'
  | 'FILES_VOLUME_NOT_FOUND'
  | 'FILES_ONE_VOLUME'
  | 'FILES_NO_FILESYSTEM'
  | 'FILES_FS_UNSUPPORTED'
  | 'FILES_ENCRYPTED'
  | 'FILES_MOUNT_FAILED'
  | 'FILES_DEST_EXISTS'
  | 'FILES_UNSAFE_ENTRY'
  | 'FILES_HELPER_FAILED'
  | 'RUN_VM_DEPENDS'
  | 'RUN_SERVER_FAILED'
  | 'RUN_SERVER_ALIVE'
  | 'RUN_PERSIST_FAILED'
  | 'RUN_ALREADY_PERSISTED';

export class EngineError<C extends EngineErrorCode = EngineErrorCode> extends BrankasError<C> {
  override readonly name = 'EngineError';
  constructor(code: C, message: string, ...options: ErrorOptionsFor<C>) {
    super(code, message, ...options);
  }
}
