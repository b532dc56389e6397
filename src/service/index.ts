/**
 * The service layer: between the engine (single operations) and the faces
 * (CLI, later `brankas serve`, the API and dashboard). Jobs, the per-VM lock
 * and the job journal, kept in the state directory (docs/state-format.md).
 */
export * from './errors.js';
export { VmJob, type VmJobEvent, type VmJobOptions, type Recovery } from './job.js';
export { VmLock, lockHolder, type JobKind, type LockHolder } from './lock.js';
export { readJournal, type JournalChange, type JournalFile, type PoweredOff } from './journal.js';
export { DEFAULT_STATE_DIR, jobsState, stateDirFrom, type JobsState } from './state.js';
export { identityOf, isAlive, selfIdentity, type ProcessIdentity } from './process-identity.js';
export {
  listRunRecords,
  readRunRecord,
  removeRunRecord,
  runLogPath,
  runsDir,
  writeRunRecord,
  type RunDisk,
  type RunRecord,
} from './runs.js';
export {
  JobQueue,
  type JobEvent,
  type JobQueueOptions,
  type JobRequest,
  type JobWork,
  type RepoJobRequest,
  type RepoJobWork,
  type VmJobRequest,
} from './job-queue.js';
export {
  DEFAULT_HISTORY_KEEP,
  FINAL_STATES,
  JobHistory,
  jsonText,
  LOG_LIMIT,
  REPO_JOB_KINDS,
  type JobLogEntry,
  type RepoJobKind,
  type JobError,
  type JobRecord,
  type HistoryKeep,
  type JobState,
} from './job-history.js';
export { HistoryRetention, type HistoryRetentionOptions } from './history-retention.js';
export * from './schedule/index.js';
export {
  addHost,
  isHostName,
  readHosts,
  removeHost,
  resolveConnectTarget,
  type RegisteredHost,
} from './hosts.js';
