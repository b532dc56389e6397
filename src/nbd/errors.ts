/**
 * Errors of the NBD client and of the qemu-nbd manager. Stable codes follow the
 * protocol's own names where there is one: `NBD_EIO` for an error value in a
 * reply, `NBD_REP_ERR_UNKNOWN` for an option error reply during the handshake;
 * the client's own failures are `NBD_CONNECTION_CLOSED`, `NBD_TIMEOUT`... and
 * the manager's are `QEMU_NBD_*`. All are BrankasErrors.
 */
import { BrankasError, type ErrorOptionsFor } from '../util/errors.js';
import { CMD_NAMES, NbdErrno, RepErr } from './constants.js';

const ERRNO_NAMES = Object.fromEntries(
  Object.entries(NbdErrno).map(([name, n]) => [n, name]),
) as Record<number, string>;

const REP_ERR_NAMES = Object.fromEntries(
  Object.entries(RepErr).map(([name, n]) => [n, name]),
) as Record<number, string>;

/** The protocol's name of an error value; unknown values count as EINVAL, as the protocol says. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? 'EINVAL';
}

/** The server refused or failed a command (a nonzero error in a reply). */
export class NbdError extends BrankasError<`NBD_E${string}`> {
  override readonly name = 'NbdError';
  readonly errno: number;
  readonly command: string;

  constructor(
    errno: number,
    command: number,
    info: { offset?: number; length?: number; message?: string; errorOffset?: number },
  ) {
    const cmd = CMD_NAMES[command] ?? `command ${command}`;
    const name = errnoName(errno);
    const where =
      info.offset === undefined ? '' : ` at offset ${info.offset} length ${info.length ?? 0}`;
    const at = info.errorOffset === undefined ? '' : ` (failed at offset ${info.errorOffset})`;
    const text = info.message ? `: ${info.message}` : '';
    super(`NBD_${name}` as `NBD_E${string}`, `NBD ${cmd}${where} failed with ${name}${at}${text}`, {
      details: {
        errno,
        command: cmd,
        offset: info.offset,
        length: info.length,
        errorOffset: info.errorOffset,
        serverMessage: info.message,
      },
    });
    this.errno = errno;
    this.command = cmd;
  }
}

/** The server answered an option of the handshake with an error reply. */
export class NbdOptionError extends BrankasError<`NBD_REP_ERR_${string}`> {
  override readonly name = 'NbdOptionError';
  readonly replyType: number;

  constructor(option: string, replyType: number, message: string, context?: string) {
    const name = REP_ERR_NAMES[replyType] ?? 'UNKNOWN_ERROR';
    const what = context ? `${option} (${context})` : option;
    super(
      `NBD_REP_ERR_${name}`,
      `NBD server refused ${what}: ${message || `NBD_REP_ERR_${name}`}`,
      { details: { option, replyType, serverMessage: message } },
    );
    this.replyType = replyType;
  }
}

export type NbdClientErrorCode =
  | 'NBD_CONNECT_FAILED'
  | 'NBD_CONNECTION_CLOSED'
  | 'NBD_TIMEOUT'
  | 'NBD_PROTOCOL'
  | 'NBD_UNSUPPORTED'
  | 'NBD_READ_ONLY'
  | 'NBD_META_CONTEXT_UNAVAILABLE'
  | 'NBD_INVALID_ARGUMENT';

/** The client's own failures: transport, timeouts, protocol violations, misuse. */
export class NbdClientError<
  C extends NbdClientErrorCode = NbdClientErrorCode,
> extends BrankasError<C> {
  override readonly name = 'NbdClientError';
  constructor(code: C, message: string, ...options: ErrorOptionsFor<C>) {
    super(code, message, ...options);
  }
}

export type QemuNbdErrorCode =
  | 'QEMU_NBD_NOT_INSTALLED'
  | 'QEMU_NBD_IMAGE_NOT_FOUND'
  | 'QEMU_NBD_IMAGE_LOCKED'
  | 'QEMU_NBD_START_FAILED'
  | 'QEMU_NBD_START_TIMEOUT';

/** qemu-nbd could not be started, or did not become ready. */
export class QemuNbdError<C extends QemuNbdErrorCode = QemuNbdErrorCode> extends BrankasError<C> {
  override readonly name = 'QemuNbdError';
  constructor(code: C, message: string, ...options: ErrorOptionsFor<C>) {
    super(code, message, ...options);
  }
}

/** The connection is gone (closed, reset, or destroyed after a protocol violation). */
export function isConnectionLost(err: unknown): boolean {
  return (
    err instanceof NbdClientError &&
    (err.code === 'NBD_CONNECTION_CLOSED' || err.code === 'NBD_PROTOCOL')
  );
}

export function isTimeout(err: unknown): boolean {
  return err instanceof NbdClientError && err.code === 'NBD_TIMEOUT';
}
