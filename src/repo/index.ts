/**
 * The backup repository's public API (docs/repository-format.md): what the
 * engine and the faces import. Internals (codecs, runs, packs) stay private.
 */
export type { Backend, ObjectInfo, ObjectUpload } from './backend/types.js';
export { LocalBackend, type LocalBackendOptions } from './backend/local.js';
export { MemoryBackend } from './backend/memory.js';
export { DEFAULT_CHUNK_SIZE, DEFAULT_PACK_SIZE, type RepoConfig } from './config.js';
export {
  RepoError,
  RepoIntegrityError,
  RepoKeyError,
  isIntegrityError,
  isLocked,
  isObjectNotFound,
  isWrongPassword,
  type IntegrityWhere,
} from './errors.js';
export { forget, type ForgetResult } from './forget.js';
export { collectGarbage, type GcOptions, type GcProgress, type GcResult } from './gc.js';
export { DEFAULT_KDF, TEST_KDF, type KdfParams } from './keys.js';
export type { KeySummary } from './keyring.js';
export type { Manifest, ManifestDisk } from './manifest.js';
export { planForget, type ForgetDecision, type KeepPolicy } from './policy.js';
export { BackupDisk } from './reader.js';
export {
  Repository,
  type BackupListing,
  type InitOptions,
  type OpenOptions,
} from './repository.js';
export type { RepoWarning, RepoWarningCode } from './warnings.js';
export { upgradeRepository, type UpgradeOptions, type UpgradeResult } from './upgrade.js';
export { bufferSource, type ExtentSource, type SourceExtent } from './source.js';
export { repoStats, type RepoStats } from './stats.js';
export {
  repairRepository,
  type BackupHealth,
  type RepairPlan,
  type RepairResult,
} from './repair.js';
export { KnownDamage, readDamage, type DamageFile, type DamagedRecord } from './damage.js';
export {
  verifyRepository,
  type Affected,
  type Problem,
  type VerifyOptions,
  type VerifyReport,
  type VerifyNote,
} from './verify.js';
export {
  BackupWriter,
  type BackupMeta,
  type DiskInput,
  type WriteProgress,
  type WriterOptions,
} from './writer.js';
export { adoptUnindexedPacks, type Adopted } from './copy/adopt.js';
export {
  copyBackup,
  type CopiedBackup,
  type CopyBackupOptions,
  type CopyProgress,
} from './copy/backup.js';
export {
  planCopy,
  sharesIds,
  targetHas,
  type CopyItem,
  type CopyPlan,
  type CopyState,
} from './copy/plan.js';
