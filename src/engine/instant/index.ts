/** Instant recovery (`brankas run`): a VM over its backup's NBD exports; docs/instant-recovery.md. */
export { planRun, type RunDiskPlan, type RunOptions, type RunPlan } from './plan.js';
export {
  serveBackupDisks,
  type ExportServers,
  type ServeOptions,
  type ServedDisk,
} from './serve.js';
export { defineRun, type StartedRun } from './start.js';
export {
  checkStoppable,
  inspectRun,
  type RunFacts,
  type RunInspection,
  type RunState,
} from './state.js';
export { nbdSockets, overlayXml, qemuOwner } from './xml.js';
export { PAUSED_IOERROR, resumeAfterIoError } from './resume.js';
export {
  localPath,
  persistRun,
  type PersistDisk,
  type PersistOptions,
  type PersistResult,
} from './persist.js';
