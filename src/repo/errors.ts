/**
 * The repository's errors: one subclass of BrankasError per kind of failure,
 * each with stable codes, and predicates for the callers that branch on them.
 * Integrity errors name what is damaged (chunk, pack, index run, manifest) and,
 * where the caller knows it, which backup and disk it belongs to.
 */
import { BrankasError, type BrankasErrorOptions, type ErrorOptionsFor } from '../util/errors.js';

export type RepoErrorCode =
  | 'REPO_NOT_FOUND'
  | 'REPO_EXISTS'
  | 'REPO_BAD_FORMAT'
  | 'REPO_UNSUPPORTED_VERSION'
  | 'REPO_INVALID_ARGUMENT'
  | 'REPO_OBJECT_NOT_FOUND'
  | 'REPO_IO'
  | 'REPO_LOCKED'
  | 'REPO_BACKUP_NOT_FOUND'
  | 'REPO_DISK_NOT_FOUND'
  | 'REPO_POLICY_EMPTY'
  | 'REPO_CLOSED'
  /** Known damage stands in the way (a damaged index run...): `repo repair` first. */
  | 'REPO_NEEDS_REPAIR'
  /** An invariant of brankas itself failed (a bug): the operation stops instead of going on. */
  | 'REPO_INTERNAL'
  | 'REPO_BAD_CHUNK_SIZE'
  | 'REPO_BAD_LEVEL'
  | 'REPO_BAD_SUBSET'
  /** The S3 backend: credentials refused, no such bucket, server unreachable, a request failed. */
  | 'REPO_S3_AUTH'
  | 'REPO_S3_NO_BUCKET'
  | 'REPO_S3_UNREACHABLE'
  | 'REPO_S3_REQUEST'
  /** The credentials may read the bucket but not write it (AccessDenied on a write). */
  | 'REPO_S3_WRITE_DENIED'
  /** repo copy: the target holds another backup under the id; read-back failed; no such name. */
  | 'REPO_COPY_CONFLICT'
  | 'REPO_COPY_VERIFY'
  | 'REPO_COPY_NOTHING'
  /** The repository's file system is full (ENOSPC, EDQUOT) while writing. */
  | 'REPO_FULL';

/** Misuse, a missing repository, a backend failure: anything that is not damage. */
export class RepoError<C extends AnyRepoErrorCode = AnyRepoErrorCode> extends BrankasError<C> {
  override readonly name: string = 'RepoError';

  constructor(code: C, message: string, ...options: ErrorOptionsFor<C>) {
    super(code, message, ...options);
  }
}

export type AnyRepoErrorCode = RepoErrorCode | RepoKeyErrorCode | RepoIntegrityErrorCode;

export type RepoKeyErrorCode =
  | 'REPO_WRONG_PASSWORD'
  | 'REPO_PASSWORD_REQUIRED'
  | 'REPO_KEY_NOT_FOUND'
  | 'REPO_LAST_KEY'
  | 'REPO_PASSWORD_FILE'
  | 'REPO_PASSWORD_COMMAND_FAILED'
  | 'REPO_PASSWORD_COMMAND_TIMEOUT'
  /** An unencrypted repository's auth key is needed and not at hand. */
  | 'REPO_AUTH_KEY_REQUIRED'
  /** The auth key given does not authenticate the repository (replaced, downgraded, another). */
  | 'REPO_AUTH_FAILED';

/** Passwords, key files and auth keys. */
export class RepoKeyError<C extends RepoKeyErrorCode = RepoKeyErrorCode> extends RepoError<C> {
  override readonly name: string = 'RepoKeyError';
  constructor(code: C, message: string, ...options: ErrorOptionsFor<C>) {
    super(code, message, ...options);
  }
}

export type RepoIntegrityErrorCode =
  | 'REPO_CHUNK_CORRUPT'
  | 'REPO_CHUNK_MISSING'
  | 'REPO_PACK_CORRUPT'
  | 'REPO_INDEX_CORRUPT'
  | 'REPO_FIXED_INDEX_CORRUPT'
  | 'REPO_MANIFEST_CORRUPT'
  | 'REPO_CONFIG_CORRUPT';

/** Where a damaged thing sits, as far as the thrower knows. */
export interface IntegrityWhere {
  chunk?: string;
  pack?: string;
  run?: string;
  backup?: string;
  disk?: string;
  offset?: number;
}

/** Damage: something stored is not what was written, or is gone. */
export class RepoIntegrityError extends RepoError<RepoIntegrityErrorCode> {
  override readonly name: string = 'RepoIntegrityError';
  readonly where: IntegrityWhere;

  constructor(
    code: RepoIntegrityErrorCode,
    message: string,
    where: IntegrityWhere = {},
    options: BrankasErrorOptions = {},
  ) {
    super(code, message + describeWhere(where), {
      ...options,
      details: { ...where, ...options.details },
    });
    this.where = where;
  }

  /** The same damage, now that the caller knows which backup and disk it hit. */
  within(where: IntegrityWhere): RepoIntegrityError {
    const merged = { ...this.where, ...where };
    const bare = this.message.slice(0, this.message.length - describeWhere(this.where).length);
    return new RepoIntegrityError(this.code as RepoIntegrityErrorCode, bare, merged, {
      cause: this.cause,
    });
  }
}

function describeWhere(w: IntegrityWhere): string {
  const parts: string[] = [];
  if (w.backup !== undefined) parts.push(`backup ${w.backup}`);
  if (w.disk !== undefined) parts.push(`disk ${w.disk}`);
  if (w.offset !== undefined) parts.push(`offset ${w.offset}`);
  if (w.chunk !== undefined) parts.push(`chunk ${w.chunk}`);
  if (w.pack !== undefined) parts.push(`pack ${w.pack}`);
  if (w.run !== undefined) parts.push(`index run ${w.run}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

export function isObjectNotFound(err: unknown): boolean {
  return err instanceof RepoError && err.code === 'REPO_OBJECT_NOT_FOUND';
}

export function isIntegrityError(err: unknown): err is RepoIntegrityError {
  return err instanceof RepoIntegrityError;
}

export function isWrongPassword(err: unknown): boolean {
  return err instanceof RepoKeyError && err.code === 'REPO_WRONG_PASSWORD';
}

export function isLocked(err: unknown): boolean {
  return err instanceof RepoError && err.code === 'REPO_LOCKED';
}
