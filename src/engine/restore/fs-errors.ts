/**
 * The file system's refusals at paths a user named (`--to`, `--scratch`)
 * as one-line typed errors (RESTORE_PATH_UNUSABLE, naming the path and the
 * errno) instead of a raw Node error with a stack trace. A hidden staging
 * name in the error is reported as the final path it stands for.
 */
import { isBrankasError } from '../../util/errors.js';
import { EngineError } from '../errors.js';
import { finalPathOf } from './staging.js';

const REASONS: Record<string, string> = {
  ENOTDIR: 'it, or a directory above it, is not a directory',
  EISDIR: 'it is a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENOENT: 'no such file or directory',
  EEXIST: 'it already exists',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many symbolic links',
  EIO: 'input/output error',
  ENXIO: 'no such device',
  ENODEV: 'no such device',
  ETXTBSY: 'the file is busy',
  EBUSY: 'the file is busy',
  EMLINK: 'too many links',
  EINVAL: 'the file system refused the operation',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is exhausted',
};

interface SysError {
  code: string;
  path?: string;
  syscall?: string;
}

/** The errno and path of a Node system error, or of an image-layer error wrapping one. */
function sysError(err: unknown): SysError | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  if (isBrankasError(err)) {
    const errno = err.details['errno'];
    const path = (err as { path?: unknown }).path;
    if (typeof errno !== 'string' || !(errno in REASONS)) return undefined;
    return { code: errno, ...(typeof path === 'string' ? { path } : {}) };
  }
  const e = err as { code?: unknown; path?: unknown; syscall?: unknown };
  if (typeof e.code !== 'string' || !(e.code in REASONS)) return undefined;
  return {
    code: e.code,
    ...(typeof e.path === 'string' ? { path: e.path } : {}),
    ...(typeof e.syscall === 'string' ? { syscall: e.syscall } : {}),
  };
}

/**
 * RESTORE_PATH_UNUSABLE for a file system error (at its own path, or else at
 * `path`), or the error unchanged when it is not one.
 */
export function pathError(err: unknown, path?: string): unknown {
  if (isBrankasError(err) && !(err.code.startsWith('IMAGE_IO') || err.code === 'IMAGE_NOT_FOUND')) {
    return err;
  }
  const sys = sysError(err);
  const at = sys?.path ?? path;
  if (!sys || at === undefined) return err;
  const shown = finalPathOf(at);
  const reason = REASONS[sys.code]!;
  return new EngineError('RESTORE_PATH_UNUSABLE', `cannot use ${shown}: ${reason} (${sys.code})`, {
    cause: err,
    details: {
      path: shown,
      errno: sys.code,
      reason,
      ...(sys.syscall ? { syscall: sys.syscall } : {}),
    },
  });
}
