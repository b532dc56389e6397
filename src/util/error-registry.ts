/**
 * The one registry of error codes. Every code a brankas error can carry is declared here once,
 * with its English text: a template whose `{name}` parameters the thrower must supply in the
 * error's `details` (the compiler checks it at every `new ...Error(code, ...)`). `{message}` is the
 * thrower's own English message, for codes whose text varies (I/O failures, protocol violations,
 * bugs): a translation words what kind of failure it is and keeps that detail.
 *
 * The faces render errors from here: the CLI in English or, with the catalogue checked against
 * this registry at compile time (`src/cli/i18n/errors-id.ts`), Indonesian; the HTTP API returns
 * the code and details. A code is stable: renaming one breaks scripts that match on it.
 *
 * Families are codes made from another system's names (libvirt's VIR_ERR_*, NBD's errno values
 * and option replies): declared once as a prefix, their text is the daemon's or server's own.
 */

export const ERRORS = {
  // util
  XML_INVALID: '{message}',
  BLAKE3_BAD_KEY: '{message}',
  BLAKE3_NOT_READY: '{message}',
  INTERNAL: '{message}',

  // libvirt client (the daemon's own errors are the LIBVIRT_ family)
  LIBVIRT_CONNECTION_CLOSED: '{message}',
  LIBVIRT_CONNECT_FAILED: '{message}',
  LIBVIRT_TIMEOUT: '{message}',
  LIBVIRT_KEEPALIVE_TIMEOUT: '{message}',
  LIBVIRT_BAD_URI: '{message}',
  LIBVIRT_AUTH_UNSUPPORTED: '{message}',
  LIBVIRT_INVALID_ARGUMENT: '{message}',
  LIBVIRT_PROTOCOL: '{message}',
  XDR_MALFORMED: '{message}',
  RPC_MALFORMED_FRAME: '{message}',

  // NBD client and qemu-nbd (the server's errors are the NBD_E... and NBD_REP_ERR_ families)
  NBD_CONNECT_FAILED: '{message}',
  NBD_CONNECTION_CLOSED: '{message}',
  NBD_TIMEOUT: '{message}',
  NBD_PROTOCOL: '{message}',
  NBD_UNSUPPORTED: '{message}',
  NBD_READ_ONLY: '{message}',
  NBD_META_CONTEXT_UNAVAILABLE: '{message}',
  NBD_INVALID_ARGUMENT: '{message}',
  NBD_SERVER_LISTEN_FAILED: 'cannot serve NBD on {address}: {message}',
  NBD_CLIENT_MISBEHAVED: '{message}',
  QEMU_NBD_NOT_INSTALLED: '{message}',
  QEMU_NBD_IMAGE_NOT_FOUND: '{message}',
  QEMU_NBD_IMAGE_LOCKED: '{message}',
  QEMU_NBD_START_FAILED: '{message}',
  QEMU_NBD_START_TIMEOUT: '{message}',

  // image readers and writers
  IMAGE_UNSUPPORTED: '{path}: unsupported image feature: {feature}',
  IMAGE_CORRUPT: '{path}: corrupt image: {problem}',
  IMAGE_NOT_FOUND: '{message}',
  IMAGE_IO: '{message}',
  IMAGE_RANGE: '{message}',
  IMAGE_CLOSED: '{message}',
  IMAGE_WRITER_OPTIONS: '{message}',
  IMAGE_WRITER_BUSY: '{message}',
  EXTENTS_NOT_CONTIGUOUS: '{message}',
  ZSTD_FRAME_INVALID: '{message}',

  // repository
  REPO_NOT_FOUND: 'no repository at {location}',
  REPO_EXISTS: 'a repository already exists at {location}',
  REPO_BAD_FORMAT: '{message}',
  REPO_UNSUPPORTED_VERSION: '{message}',
  REPO_INVALID_ARGUMENT: '{message}',
  REPO_OBJECT_NOT_FOUND: '{message}',
  REPO_IO: '{message}',
  REPO_LOCKED: '{message}',
  REPO_BACKUP_NOT_FOUND: "no backup '{backup}' in the repository",
  REPO_DISK_NOT_FOUND: "backup {backup} has no disk '{disk}'",
  REPO_POLICY_EMPTY: 'a policy with no keep rule would remove every backup',
  REPO_CLOSED: '{message}',
  REPO_INTERNAL: '{message}',
  REPO_WRONG_PASSWORD: '{message}',
  REPO_PASSWORD_REQUIRED: '{message}',
  REPO_KEY_NOT_FOUND: '{message}',
  REPO_LAST_KEY: 'refusing to remove the last key: the data would be lost',
  REPO_AUTH_KEY_REQUIRED:
    'this needs the auth key of the repository at {location}: set BRANKAS_AUTH_KEY_FILE to its key file',
  REPO_AUTH_FAILED:
    'the auth key in {file} does not authenticate the repository at {location}: the key belongs to another repository, or the repository was replaced or changed by someone without the key',
  REPO_CHUNK_CORRUPT: '{message}',
  REPO_CHUNK_MISSING: '{message}',
  REPO_PACK_CORRUPT: '{message}',
  REPO_INDEX_CORRUPT: '{message}',
  REPO_FIXED_INDEX_CORRUPT: '{message}',
  REPO_MANIFEST_CORRUPT: '{message}',
  REPO_CONFIG_CORRUPT: '{message}',
  REPO_BAD_CHUNK_SIZE: 'chunk size must be a power of two from {min} to {max}, not {value} bytes',
  REPO_BAD_SUBSET:
    "--subset '{subset}' is not n/t (1 <= n <= t: the n-th of t groups of packs) or x% (0 < x <= 100)",
  REPO_BAD_LEVEL: 'compression level must be an integer from {min} to {max}, not {value}',
  REPO_PASSWORD_FILE: '{variable} names {path}, which cannot be read ({errno})',
  REPO_PASSWORD_COMMAND_FAILED: 'the password command ({variable}) failed: {reason}',
  REPO_PASSWORD_COMMAND_TIMEOUT:
    'the password command ({variable}) did not finish within {seconds} s; it was stopped (BRANKAS_PASSWORD_TIMEOUT sets the limit)',
  // S3 backend (src/repo/backend/s3*.ts)
  REPO_S3_AUTH:
    'the S3 server at {endpoint} refused the credentials ({reason}); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE',
  REPO_S3_NO_BUCKET: 'there is no bucket {bucket} at {endpoint}; create it first',
  REPO_S3_UNREACHABLE: 'cannot reach the S3 server at {endpoint}: {reason}',
  REPO_S3_REQUEST: 'the S3 server at {endpoint} failed to {operation} {object}: {reason}',
  REPO_S3_WRITE_DENIED:
    'the S3 server at {endpoint} refuses writes to bucket {bucket} ({reason}): the credentials may read it but not write it',
  // repo copy (src/repo/copy/, docs/repo-copy.md)
  REPO_COPY_CONFLICT:
    'the target {location} already has a backup {backup} that is not a copy of the source backup of that id ({reason}); nothing was copied',
  REPO_COPY_VERIFY:
    'reading back what was copied of backup {backup} into {location} failed: {reason}; the backup was not listed there (repo gc removes what was written)',
  REPO_COPY_NOTHING: "the source {location} has no backup and no VM named '{name}'",

  // live backups, robustness (faults, doctor)
  REPO_FULL: 'the repository is full (no space left on its file system): {message}',
  BACKUP_LIVE_NO_AGENT:
    "VM '{vm}' cannot be backed up application-consistent ({reason}: no guest agent answers to freeze its filesystems); nothing was done. Without --consistency application the backup is crash-consistent.",
  BACKUP_LIVE_FREEZE_FAILED:
    "the guest agent of VM '{vm}' could not freeze its filesystems ({reason}): --consistency application cannot be met; nothing was recorded",

  // live backups, a guest agent that hangs or will not thaw
  BACKUP_LIVE_THAW_FAILED:
    "the guest agent of VM '{vm}' did not thaw its filesystems after {attempts} attempts ({agentError}): the guest may still be frozen; nothing was recorded. Thaw it with 'brankas doctor {vm} --fix' (or 'virsh domfsthaw {vm}') once its agent answers",

  // engine
  VM_NOT_FOUND: "no VM named '{vm}'",
  SNAPSHOT_NOT_FOUND: "VM '{vm}' has no snapshot named '{snapshot}'",
  SNAPSHOT_EXISTS: "VM '{vm}' already has a snapshot named '{snapshot}'",
  SNAPSHOT_INVALID_NAME: "'{snapshot}' cannot be a snapshot name: {reason}",
  SNAPSHOT_RAW_DISK:
    "VM '{vm}' cannot take an internal snapshot: disk {disk} ({source}) is in {format} format, and only qcow2 can hold snapshots inside the image. Ways out: convert the disk to qcow2 (shut the VM down, 'qemu-img convert -O qcow2 {source} NEW.qcow2', point the VM at NEW.qcow2), or take an external snapshot with --disk-only.",
  SNAPSHOT_HAS_CHILDREN:
    "snapshot '{snapshot}' of VM '{vm}' has child snapshots ({children}); delete them with it using --children, or delete them first",
  SNAPSHOT_EXTERNAL_UNSUPPORTED: '{message}',
  // snapshots beside live backups' checkpoints (docs/live-backups.md)
  SNAPSHOT_FOREIGN_CHECKPOINTS:
    "VM '{vm}' has checkpoints that brankas did not make ({checkpoints}): libvirt refuses a snapshot {operation} while they exist, and another tool's incremental backups depend on them. Delete them with that tool (or 'virsh checkpoint-delete'), then try again.",
  SNAPSHOT_CHECKPOINTS_MANAGED_SAVE:
    "VM '{vm}' is shut off with a saved memory state (managed save) and has brankas checkpoints ({checkpoints}): libvirt refuses a snapshot {operation} while they exist, and deleting them needs the VM started, which would consume the saved state. Start the VM (it resumes from the saved state), then try again.",
  CONFIRMATION_REQUIRED:
    '{warning} This is not a terminal: add --yes to revert without being asked.',
  GUEST_UNAVAILABLE: '{message}',
  GUEST_COMMAND_FAILED: '{message}',
  GUEST_IMAGES_MISSING: '{message}',
  LAB_CHECK_FAILED: '{message}',
  BACKUP_SHUTDOWN_TIMEOUT:
    "VM '{vm}' did not shut down within {timeoutSeconds} s; it is left running and nothing was backed up. Check that the guest reacts to ACPI shutdown (or runs the QEMU guest agent), give it longer with --shutdown-timeout, or use --force-off-after-timeout.",
  BACKUP_UNSUPPORTED_DISK:
    "VM '{vm}' has a disk brankas cannot read offline (network or volume disks)",
  BACKUP_INTERRUPTED: '{message}',
  BACKUP_NOT_FOUND: "no backup with id '{backup}' and no backup of a VM named '{backup}'",
  RESTORE_NO_XML: 'backup {backup} has no domain XML to define',
  RESTORE_VM_EXISTS:
    "a VM named '{vm}' is already defined; restore with --as NEWNAME beside it, or with --force to replace its definition and files (the disaster case: its disk is gone)",
  RESTORE_VM_RUNNING: "VM '{vm}' is running: shut it down before restoring over it",
  RESTORE_FILE_EXISTS:
    '{path} exists; brankas does not overwrite files without --force (or restore --to another directory)',
  RESTORE_SOCKET_PATH_TOO_LONG:
    "the restored VM's socket {path} is longer than the {max} bytes a unix socket path may have; restore into a shorter --to directory",
  RESTORE_NO_SPACE:
    'not enough space in {dir} to restore {disk} of backup {backup}; nothing was left behind. Free some space or restore --to another directory.',
  RESTORE_DISK_NOT_FOUND: "backup {backup} of {vm} has no disk named '{disk}'; its disks: {disks}",

  GUEST_WORKDIR_UNSAFE:
    '{path} cannot hold throwaway guests: {problem}. It must be a directory of this user, not a symbolic link, that no one else may write to; remove it (after checking who made it) and try again.',
  BACKUP_DAMAGED: 'backup {backup} is damaged and cannot be restored: {reason}',
  BACKUP_LATEST_DAMAGED:
    "the newest backup of VM '{vm}' is damaged ({damaged}); the newest intact one is {previous}: name it, or pass --skip-damaged to take it",
  REPO_NEEDS_REPAIR:
    "the repository has damage this command cannot work around ({count} damaged index run(s)); run 'brankas repo repair' first",
  RESTORE_INVALID_NAME: "'{name}' cannot be the name of a restored VM: {reason}",
  RESTORE_HOST_ACCESS:
    "restoring backup {backup} as VM '{vm}' would give it host access that the VM it was backed up from does not have: {parts}. Nothing was written. Check the XML it would define (--dry-run shows it); restore --to a directory of its own, or with --allow-host-access to grant it",
  RESTORE_PATH_UNUSABLE: 'cannot use {path}: {reason} ({errno})',
  MOUNT_DISK_NOT_FOUND: "backup {backup} of {vm} has no disk named '{disk}'; its disks: {disks}",
  MOUNT_NOT_LOOPBACK:
    "brankas mount serves on loopback only (127.0.0.1 or ::1), not on '{host}': a backup's disk is not for the network",
  VM_BUSY:
    "VM '{vm}' is busy: a {job} (process {pid}) has worked on it since {since}; try again when it has finished, or add --wait",
  STATE_DIR_UNUSABLE:
    'cannot use the state directory {dir} ({reason}); set BRANKAS_STATE_DIR to a directory brankas may write',
  BACKUP_LIVE_NOT_RUNNING:
    "VM '{vm}' is {state}: a live backup needs it running. Use --mode cold (or auto, the default) to back up a VM that is off.",
  BACKUP_LIVE_VM_STOPPED:
    "VM '{vm}' stopped during its live backup ({event}); nothing was recorded.",
  BACKUP_LIVE_JOB_FAILED:
    "the backup job of VM '{vm}' ended before brankas had read it all ({reason}); nothing was recorded.",
  JOB_NOT_FOUND: "no job with id '{job}'",
  // instant recovery (brankas run)
  RUN_NOT_FOUND:
    "no VM named '{vm}' runs from a backup here (brankas run --list shows those that do)",
  RUN_VM_DEPENDS:
    "VM '{vm}' still reads its disks from backup {backup}, served by process {pid}: without it the VM pauses at its next read. Persist it first (brankas run --persist {vm}) or remove the VM, or stop with --force",
  RUN_SERVER_FAILED: "the process to serve backup {backup} for VM '{vm}' did not start: {message}",
  RUN_SERVER_ALIVE:
    "backup {backup} is still served for VM '{vm}' (process {pid}): nothing to resume",
  RUN_PERSIST_FAILED:
    "VM '{vm}' could not be moved onto local disks (disk {disk}: {message}); it goes on running over backup {backup}",
  RUN_ALREADY_PERSISTED: "VM '{vm}' already runs from local disks: {disks}",
  JOB_HISTORY_UNUSABLE: 'cannot use the job history {path}: {message}',
  // disk engines and the thin-provisioning lab
  POOL_NOT_FOUND: "no storage pool named '{pool}'",
  POOL_INACTIVE: "storage pool '{pool}' is not active: start it first (virsh pool-start {pool})",
  VOLUME_NOT_FOUND: "storage pool '{pool}' has no volume named '{volume}'",
  VOLUME_EXISTS: "storage pool '{pool}' already has a volume named '{volume}'",
  VOLUME_BAD_SIZE:
    "'{size}' is not a size: use bytes, or a number with K, M, G, T (binary, as virsh reads them: 10G = 10 GiB) or KB, MB, GB, TB (decimal)",
  VOLUME_BAD_FORMAT: "volume format '{format}' is not one of {formats}",
  VOLUME_BAD_NAME: "'{volume}' cannot be a volume name",
  VOLUME_CONFIRMATION_REQUIRED:
    "deleting volume '{volume}' of pool {pool} removes everything in it. This is not a terminal: add --yes to delete without being asked.",
  DISK_NO_DISKS: "VM '{vm}' has no disks",
  LAB_TOOL_FAILED: '{tool} failed: {message}',
  LAB_INTERRUPTED: 'the experiment was interrupted and everything it made was removed',

  // the scheduler (src/service/schedule/, docs/schedule-format.md)
  SCHEDULE_SYNTAX: '{file}:{line}: not a comment, a "[policy ID]" header or a "key = value" line',
  SCHEDULE_OUTSIDE_POLICY: '{file}:{line}: \'{key}\' comes before any "[policy ID]" line',
  SCHEDULE_BAD_ID:
    "{file}:{line}: '{id}' is not a policy id: 1 to 64 of a-z 0-9 - _, starting with a letter or digit",
  SCHEDULE_DUPLICATE_POLICY: "{file}:{line}: policy '{id}' is defined already at line {first}",
  SCHEDULE_DUPLICATE_KEY:
    "{file}:{line}: '{key}' is set twice in policy '{id}' (first at line {first})",
  SCHEDULE_UNKNOWN_KEY: "{file}:{line}: unknown key '{key}'; the keys are: {known}",
  SCHEDULE_MISSING_KEY: "{file}:{line}: policy '{id}' has no '{key}'",
  SCHEDULE_BAD_VALUE: "{file}:{line}: '{key}' cannot be '{value}'; allowed: {allowed}",
  SCHEDULE_BAD_CRON: "{file}:{line}: '{value}' is not a cron expression of five fields: {reason}",
  SCHEDULE_BAD_PATTERN:
    "{file}:{line}: '{pattern}' is not a VM name or pattern (letters, digits, _.+:- and the wildcards * and ?)",
  SCHEDULE_NOT_FOUND: "no schedule policy '{id}'",
  SCHEDULE_EXISTS: "a schedule policy '{id}' exists already; remove it first",
  SCHEDULE_FILE_UNUSABLE: 'cannot use the schedule file {path}: {message}',

  // faces
  USAGE: '{message}',
  API_UNAUTHORIZED:
    'a valid token is required: send the header "Authorization: Bearer TOKEN" (brankas serve --print-token prints it)',
  API_HOST_REFUSED: "this server does not answer to the Host '{host}'",
  API_BAD_REQUEST: '{message}',
  API_NOT_FOUND: 'no such endpoint: {method} {path}',
  API_BODY_TOO_LARGE: 'the request body is larger than {limit} bytes',

  // files named by the user (src/util/file-errors.ts)
  FILE_NOT_FOUND: '{path} does not exist',
  FILE_NOT_DIRECTORY: '{path}: a part of this path is not a directory',
  FILE_IS_DIRECTORY: '{path} is a directory, not a file',
  FILE_PERMISSION: 'permission denied: {path}',
  FILE_READ_ONLY: '{path} is on a read-only file system',
  FILE_NO_SPACE: 'no space left on the file system of {path}',
  FILE_ACCESS: 'cannot use {path}: {message}',

  // the API's destructive calls (dashboard)
  API_CONFIRM_REQUIRED:
    '{action} changes or removes what cannot be brought back: send "confirm": true (or "dryRun": true to see the plan first)',
  // file-level restore (brankas files; docs/file-restore.md)
  FILES_PATH_NOT_FOUND: "no '{path}' in {volume} of disk {disk} of backup {backup}",
  FILES_PATH_OUTSIDE:
    "'{path}' leads outside the filesystem ({reason}); name a path within it, without '..' or a link out",
  FILES_VOLUME_NOT_FOUND:
    "disk {disk} of backup {backup} has no volume '{volume}'; its volumes: {volumes}",
  FILES_ONE_VOLUME:
    "'{path}' is not within one partition: on a partitioned disk name a path under one of {volumes}, and one partition per command",
  FILES_NO_FILESYSTEM:
    'disk {disk} of backup {backup} holds no partition table and no filesystem brankas recognises',
  FILES_FS_UNSUPPORTED:
    'the filesystem of {volume} of disk {disk} is {fs}, which the file-restore helper cannot read (it reads {readable}); restore the disk whole instead',
  FILES_ENCRYPTED:
    '{volume} of disk {disk} is an encrypted (LUKS) volume: brankas files cannot open it; restore the disk whole and unlock it in the VM',
  FILES_MOUNT_FAILED: 'the helper VM could not mount {volume} ({fs}) of disk {disk}: {message}',
  FILES_DEST_EXISTS: '{path} already exists: choose another destination, or add --force',
  FILES_UNSAFE_ENTRY: "the archive's entry '{name}' was refused: {reason}",
  FILES_HELPER_FAILED: 'the file-restore helper VM failed: {reason}. Its console said: {console}',
  // filesystems read on the host (brankas files' ext4 reader; src/image/fs/, docs/file-restore.md)
  FS_CORRUPT:
    'the {fs} filesystem is damaged: {problem}; nothing of it is trusted (brankas files --helper lets a guest kernel try)',
  FS_UNSUPPORTED: 'the {fs} filesystem uses {feature}, which the host reader does not read',
  // remote hosts: the data path over ssh (src/util/ssh.ts, src/nbd/remote-qemu-nbd.ts, src/engine/remote/)
  SSH_FAILED: '{message}',
  REMOTE_NO_DATA_PATH:
    'the disks of VMs reached through {uri} cannot be read from here: only qemu+ssh:// carries disk data from another host (or run brankas on that host)',
  REMOTE_COMMAND_FAILED: '{message}',
  REMOTE_UNSUPPORTED: '{what} is not supported for a VM on a remote host yet',
  HOST_NOT_FOUND:
    "no host named '{host}' is registered (brankas host list shows them; -c also takes a URI)",
  HOST_EXISTS: "a host named '{host}' is already registered",
  HOST_INVALID_NAME:
    "'{host}' cannot name a host: letters, digits, '.', '_' and '-' only (up to 63), starting with a letter or digit",
  // remote restore and doctor's bitmaps (src/engine/restore/remote*.ts, src/engine/doctor/)
  REMOTE_RESTORE_NO_SPACE:
    'not enough space in {dir} on {host} to restore {disk} of backup {backup} ({neededBytes} bytes needed, {freeBytes} bytes free); nothing was written. Free some space there or restore --to another directory.',
  DOCTOR_BITMAP_REMOVE_FAILED: 'cannot remove bitmap {bitmap} from {image}: {message}',
} as const;

/** Codes whose text comes from another system: libvirt's daemon and an NBD server. */
export const ERROR_FAMILIES = {
  /** libvirt's VIR_ERR_* names (LIBVIRT_NO_DOMAIN...): the daemon's own message. */
  LIBVIRT_: 'libvirt: {message}',
  /** An NBD server's error value (NBD_EIO, NBD_ENOSPC...). */
  NBD_E: '{message}',
  /** An NBD server's reply to a handshake option (NBD_REP_ERR_UNKNOWN...). */
  NBD_REP_ERR_: '{message}',
} as const;

export type RegisteredCode = keyof typeof ERRORS;
export type FamilyCode = `${keyof typeof ERROR_FAMILIES}${string}`;
export type ErrorCode = RegisteredCode | FamilyCode;

/** The `{name}` parameters of a template, as a union of names. */
export type TemplateParams<S extends string> = S extends `${string}{${infer P}}${infer Rest}`
  ? P | TemplateParams<Rest>
  : never;

/** The parameters a thrower must put in `details` for `code` (`message` is the error's own). */
export type ErrorParams<C extends string> = C extends RegisteredCode
  ? Exclude<TemplateParams<(typeof ERRORS)[C]>, 'message'>
  : never;

/** The English template of any code, families included; undefined for a code not declared. */
export function errorTemplate(code: string): string | undefined {
  if (Object.hasOwn(ERRORS, code)) return ERRORS[code as RegisteredCode];
  for (const [prefix, template] of Object.entries(ERROR_FAMILIES)) {
    if (code.startsWith(prefix)) return template;
  }
  return undefined;
}

/**
 * Fills a template from an error's details (`message` = its own message). Arrays are joined with
 * commas. Undefined when a parameter is missing: the caller then falls back to the message.
 */
export function fillTemplate(
  template: string,
  details: Record<string, unknown>,
  message: string,
): string | undefined {
  let missing = false;
  const text = template.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const v = name === 'message' ? message : details[name];
    if (v === undefined || v === null) {
      missing = true;
      return '';
    }
    return Array.isArray(v) ? v.join(', ') : String(v);
  });
  return missing ? undefined : text;
}
