/**
 * A file system error at a path the user named, as a typed error: the faces then say it in one
 * line in the user's language ("X is a directory, not a file") instead of a stack trace. Errors
 * that are not from the file system pass through unchanged.
 */
import { BrankasError } from './errors.js';

export type FileErrorCode =
  | 'FILE_NOT_FOUND'
  | 'FILE_NOT_DIRECTORY'
  | 'FILE_IS_DIRECTORY'
  | 'FILE_PERMISSION'
  | 'FILE_READ_ONLY'
  | 'FILE_NO_SPACE'
  | 'FILE_ACCESS';

const BY_ERRNO: Record<string, FileErrorCode> = {
  ENOENT: 'FILE_NOT_FOUND',
  ENOTDIR: 'FILE_NOT_DIRECTORY',
  EISDIR: 'FILE_IS_DIRECTORY',
  EACCES: 'FILE_PERMISSION',
  EPERM: 'FILE_PERMISSION',
  EROFS: 'FILE_READ_ONLY',
  ENOSPC: 'FILE_NO_SPACE',
  EDQUOT: 'FILE_NO_SPACE',
};

export class FileError extends BrankasError<FileErrorCode> {
  override readonly name = 'FileError';
  readonly path: string;
  readonly errno: string | undefined;

  constructor(path: string, cause: unknown) {
    const errno = systemCode(cause);
    const code = (errno !== undefined ? BY_ERRNO[errno] : undefined) ?? 'FILE_ACCESS';
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(code, `${path}: ${reason}`, { cause, details: { path, errno } });
    this.path = path;
    this.errno = errno;
  }
}

/** The errno name (ENOENT...) of a Node.js system error, if it is one. */
export function systemCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  const code = (err as { code: unknown }).code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/** A system error becomes a FileError naming `path`; anything else is returned as it is. */
export function asFileError(path: string, err: unknown): unknown {
  return err instanceof BrankasError || systemCode(err) === undefined
    ? err
    : new FileError(path, err);
}

/** Runs `fn`, turning a system error into a FileError naming `path`. */
export async function atPath<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw asFileError(path, err);
  }
}
