/**
 * The engines as a library: what the CLI (and later the service) drives.
 * Nothing here prints; progress and steps come back as callbacks and events,
 * failures as EngineError (and DiskError) with stable codes.
 */
export * from './errors.js';
export { inventory, summarizeVm } from './inventory.js';
export type { HostInventory, VmSummary, DiskSummary } from './inventory.js';
export {
  hostStatus,
  vmStatus,
  type BackupCatalog,
  type BackupSummary,
  type StatusWarning,
  type VmStatus,
} from './status.js';
export * from './snapshot/index.js';
export * from './disk/index.js';
export { coldBackup, type ColdBackupOptions, type ColdBackupResult } from './backup/cold.js';
export type { PowerChange, PowerChangeFn, PowerEvent, PowerPlan } from './backup/power.js';
export {
  backupVm,
  type BackupMode,
  type BackupOptions,
  type BackupResult,
} from './backup/backup.js';
export {
  liveBackup,
  type LiveBackupOptions,
  type LiveBackupResult,
  type LiveDiskReport,
} from './backup/live/live.js';
export type { Consistency } from './backup/live/freeze.js';
export * from './doctor/index.js';
export type { ReadReason } from './backup/live/line.js';
export {
  resolveBackup,
  restoreBackup,
  type RestoreOptions,
  type RestoreResult,
} from './restore/restore.js';
export {
  chooseBackup,
  listBackupCatalogue,
  type BackupCatalogue,
  type BackupChoice,
  type ChooseOptions,
  type DamagedBackup,
} from './catalog.js';
export { restoreDisk, type RestoreDiskOptions, type RestoreDiskResult } from './restore/disk.js';
export { verifyBackup, type VerifyOptions, type VerifyResult } from './restore/verify.js';
export {
  snapshotLifecycle,
  type GuestShell,
  type LabStep,
  type SnapshotLifecycleResult,
} from './lab/snapshot-lifecycle.js';
export {
  ThinProvisioningLab,
  type ThinProvisioningOptions,
  type ThinProvisioningResult,
  type ThinStep,
} from './lab/thin-provisioning.js';
export { Demo, type DemoEvent, type DemoOptions, type DemoResult } from './lab/demo.js';
export { AgentShell } from './guest/agent-shell.js';
export { SerialConsole } from './guest/serial-console.js';
export * from './mount/index.js';
export { repoBackupCatalog, verificationOf, type BackupVerification } from './backup-catalog.js';
export {
  NEARLY_FULL,
  repoOverview,
  repoSpace,
  type GrowthPoint,
  type RepoOverview,
  type RepoSpace,
} from './repo-overview.js';
export { pruneRepository, type PruneResult } from './repo-prune.js';
export {
  backupBrief,
  backupInfo,
  repositoryInfo,
  type BackupBrief,
  type BackupInfo,
  type RepoInfo,
} from './repo-info.js';
export {
  copyRepository,
  type RepoCopyEvent,
  type RepoCopyOptions,
  type RepoCopyResult,
} from './copy/repo-copy.js';
export * from './files/index.js';
export * from './instant/index.js';
