/**
 * The scheduler of `brankas serve` (docs/schedule-format.md): the schedule file, its parser, the
 * scheduler that decides when a policy runs, and what a run does (jobs on the job queue).
 */
export * from './errors.js';
export {
  cronOf,
  KEYS as SCHEDULE_KEYS,
  matches,
  parseSchedule,
  policyJson,
  renderPolicy,
  type Policy,
  type PolicyFields,
  type ScheduleConsistency,
  type ScheduleMode,
} from './format.js';
export { notFound as scheduleNotFound, SCHEDULE_FILE, ScheduleFile } from './file.js';
export { ScheduleRuns } from './runs.js';
export {
  Scheduler,
  systemClock,
  type Clock,
  type SchedulerEvent,
  type SchedulerOptions,
} from './scheduler.js';
export { matchingVms, runPolicy, type PolicyRun, type PolicyRunDeps } from './run-policy.js';
