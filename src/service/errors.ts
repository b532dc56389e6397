/**
 * Errors of the service layer (jobs, the per-VM lock, the journal). Each code
 * is stable; `details` carry what a face needs to say it in the user's language.
 */
import { BrankasError, type ErrorOptionsFor } from '../util/errors.js';

export type ServiceErrorCode =
  | 'VM_BUSY'
  | 'STATE_DIR_UNUSABLE'
  | 'JOB_NOT_FOUND'
  | 'JOB_HISTORY_UNUSABLE'
  | 'HOST_NOT_FOUND'
  | 'HOST_EXISTS'
  | 'HOST_INVALID_NAME'
  | 'RUN_NOT_FOUND';

export class ServiceError<C extends ServiceErrorCode = ServiceErrorCode> extends BrankasError<C> {
  override readonly name = 'ServiceError';
  constructor(code: C, message: string, ...options: ErrorOptionsFor<C>) {
    super(code, message, ...options);
  }
}

/** A file system error in the state directory, as the typed error a face can word. */
export function unusable(stateDir: string, err: unknown): ServiceError {
  if (err instanceof ServiceError) return err;
  const reason = (err as Error).message;
  return new ServiceError(
    'STATE_DIR_UNUSABLE',
    `cannot use the state directory ${stateDir} (${reason}); set BRANKAS_STATE_DIR to a directory brankas may write`,
    { cause: err, details: { dir: stateDir, reason } },
  );
}
