/**
 * Errors of the scheduler (docs/schedule-format.md). A mistake in the schedule file names the
 * file and the line in its details, so a face can say it in the user's language.
 */
import { BrankasError, type ErrorOptionsFor } from '../../util/errors.js';

export type ScheduleErrorCode =
  | 'SCHEDULE_SYNTAX'
  | 'SCHEDULE_OUTSIDE_POLICY'
  | 'SCHEDULE_BAD_ID'
  | 'SCHEDULE_DUPLICATE_POLICY'
  | 'SCHEDULE_DUPLICATE_KEY'
  | 'SCHEDULE_UNKNOWN_KEY'
  | 'SCHEDULE_MISSING_KEY'
  | 'SCHEDULE_BAD_VALUE'
  | 'SCHEDULE_BAD_CRON'
  | 'SCHEDULE_BAD_PATTERN'
  | 'SCHEDULE_NOT_FOUND'
  | 'SCHEDULE_EXISTS'
  | 'SCHEDULE_FILE_UNUSABLE';

export class ScheduleError<
  C extends ScheduleErrorCode = ScheduleErrorCode,
> extends BrankasError<C> {
  override readonly name = 'ScheduleError';
  constructor(code: C, message: string, ...options: ErrorOptionsFor<C>) {
    super(code, message, ...options);
  }
}

/** The codes that mean "this text is not a valid schedule" (a 400 for the API). */
export const INVALID_SCHEDULE_CODES: readonly ScheduleErrorCode[] = [
  'SCHEDULE_SYNTAX',
  'SCHEDULE_OUTSIDE_POLICY',
  'SCHEDULE_BAD_ID',
  'SCHEDULE_DUPLICATE_POLICY',
  'SCHEDULE_DUPLICATE_KEY',
  'SCHEDULE_UNKNOWN_KEY',
  'SCHEDULE_MISSING_KEY',
  'SCHEDULE_BAD_VALUE',
  'SCHEDULE_BAD_CRON',
  'SCHEDULE_BAD_PATTERN',
];
