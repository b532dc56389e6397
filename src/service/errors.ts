/**
 * Errors of the service layer (jobs, the per-VM lock, the journal). Each code
 * is stable; `details` carry what a face needs to say it in the user's language.
 */
import { BrankasError, type BrankasErrorOptions } from '../util/errors.js';

export type ServiceErrorCode = 'VM_BUSY' | 'STATE_DIR_UNUSABLE';

export class ServiceError extends BrankasError {
  override readonly name = 'ServiceError';
  declare readonly code: ServiceErrorCode;
  constructor(code: ServiceErrorCode, message: string, options?: BrankasErrorOptions) {
    super(code, message, options);
  }
}
