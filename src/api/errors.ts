/**
 * Errors of the HTTP API, and the one place where any error becomes an HTTP status and a JSON
 * body `{error: {code, message, details}}`: the registry's code, its English text filled from
 * the details (src/util/error-registry.ts). An error that is not ours (a bug) is a 500 whose
 * message says only that; its text stays in the server's log.
 */
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { errorTemplate, fillTemplate } from '../util/error-registry.js';
import { INVALID_SCHEDULE_CODES, type ScheduleErrorCode } from '../service/index.js';
import { BrankasError, type ErrorOptionsFor } from '../util/errors.js';

export type ApiErrorCode =
  | 'API_UNAUTHORIZED'
  | 'API_HOST_REFUSED'
  | 'API_BAD_REQUEST'
  | 'API_NOT_FOUND'
  | 'API_BODY_TOO_LARGE'
  | 'API_CONFIRM_REQUIRED';

export class ApiError<C extends ApiErrorCode = ApiErrorCode> extends BrankasError<C> {
  override readonly name = 'ApiError';
  constructor(code: C, message: string, ...options: ErrorOptionsFor<C>) {
    super(code, message, ...options);
  }
}

export function badRequest(message: string): ApiError {
  return new ApiError('API_BAD_REQUEST', message);
}

const STATUS: Record<string, ContentfulStatusCode> = {
  API_UNAUTHORIZED: 401,
  API_HOST_REFUSED: 403,
  API_BAD_REQUEST: 400,
  API_NOT_FOUND: 404,
  API_BODY_TOO_LARGE: 413,
  API_CONFIRM_REQUIRED: 400,
  VM_BUSY: 409,
  LIBVIRT_NO_DOMAIN: 404,
  REPO_PASSWORD_REQUIRED: 503,
  SCHEDULE_EXISTS: 409,
  // Files and instant recovery: what the request asks cannot be, or conflicts with what is.
  FILES_PATH_OUTSIDE: 400,
  FILES_ENCRYPTED: 400,
  FILES_FS_UNSUPPORTED: 400,
  FILES_NO_FILESYSTEM: 400,
  FILES_ONE_VOLUME: 400,
  RUN_VM_DEPENDS: 409,
  RUN_ALREADY_PERSISTED: 409,
  RUN_SERVER_ALIVE: 409,
  RESTORE_VM_EXISTS: 409,
  RESTORE_FILE_EXISTS: 409,
};

/** The HTTP status of an error: by its code, then by the code's kind. */
export function statusOf(err: unknown): ContentfulStatusCode {
  if (!(err instanceof BrankasError)) return 500;
  const known = STATUS[err.code];
  if (known !== undefined) return known;
  // A schedule the request would make invalid (the scheduler's codes, docs/schedule-format.md).
  if (INVALID_SCHEDULE_CODES.includes(err.code as ScheduleErrorCode)) return 400;
  if (err.code.endsWith('_NOT_FOUND')) return 404;
  if (err.code.endsWith('_BUSY') || err.code.endsWith('_LOCKED')) return 409;
  return 500;
}

export interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown> };
}

export function errorBody(err: unknown): ErrorBody {
  if (!(err instanceof BrankasError)) {
    return {
      error: { code: 'INTERNAL', message: 'internal error (see the server log)', details: {} },
    };
  }
  const template = errorTemplate(err.code);
  const message = (template && fillTemplate(template, err.details, err.message)) ?? err.message;
  return { error: { code: err.code, message, details: err.details } };
}
