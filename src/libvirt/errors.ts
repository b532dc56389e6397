/**
 * Errors from the libvirt client: the daemon's own errors (virErrorNumber,
 * carried with its code, domain and message), and the client's transport
 * errors (connection lost, timeout, unknown URI). Stable string codes are
 * `LIBVIRT_<NAME>` after libvirt's `VIR_ERR_<NAME>`, so they stay readable in
 * JSON output and never change when libvirt adds numbers.
 */
import { BrankasError, type ErrorOptionsFor } from '../util/errors.js';

/** libvirt's virErrorNumber, in order: the index is the number on the wire. */
const ERROR_NAMES = [
  'OK', // 0
  'INTERNAL_ERROR', // 1
  'NO_MEMORY', // 2
  'NO_SUPPORT', // 3
  'UNKNOWN_HOST', // 4
  'NO_CONNECT', // 5
  'INVALID_CONN', // 6
  'INVALID_DOMAIN', // 7
  'INVALID_ARG', // 8
  'OPERATION_FAILED', // 9
  'GET_FAILED', // 10
  'POST_FAILED', // 11
  'HTTP_ERROR', // 12
  'SEXPR_SERIAL', // 13
  'NO_XEN', // 14
  'XEN_CALL', // 15
  'OS_TYPE', // 16
  'NO_KERNEL', // 17
  'NO_ROOT', // 18
  'NO_SOURCE', // 19
  'NO_TARGET', // 20
  'NO_NAME', // 21
  'NO_OS', // 22
  'NO_DEVICE', // 23
  'NO_XENSTORE', // 24
  'DRIVER_FULL', // 25
  'CALL_FAILED', // 26
  'XML_ERROR', // 27
  'DOM_EXIST', // 28
  'OPERATION_DENIED', // 29
  'OPEN_FAILED', // 30
  'READ_FAILED', // 31
  'PARSE_FAILED', // 32
  'CONF_SYNTAX', // 33
  'WRITE_FAILED', // 34
  'XML_DETAIL', // 35
  'INVALID_NETWORK', // 36
  'NETWORK_EXIST', // 37
  'SYSTEM_ERROR', // 38
  'RPC', // 39
  'GNUTLS_ERROR', // 40
  'WAR_NO_NETWORK', // 41
  'NO_DOMAIN', // 42
  'NO_NETWORK', // 43
  'INVALID_MAC', // 44
  'AUTH_FAILED', // 45
  'INVALID_STORAGE_POOL', // 46
  'INVALID_STORAGE_VOL', // 47
  'WAR_NO_STORAGE', // 48
  'NO_STORAGE_POOL', // 49
  'NO_STORAGE_VOL', // 50
  'WAR_NO_NODE', // 51
  'INVALID_NODE_DEVICE', // 52
  'NO_NODE_DEVICE', // 53
  'NO_SECURITY_MODEL', // 54
  'OPERATION_INVALID', // 55
  'WAR_NO_INTERFACE', // 56
  'NO_INTERFACE', // 57
  'INVALID_INTERFACE', // 58
  'MULTIPLE_INTERFACES', // 59
  'WAR_NO_NWFILTER', // 60
  'INVALID_NWFILTER', // 61
  'NO_NWFILTER', // 62
  'BUILD_FIREWALL', // 63
  'WAR_NO_SECRET', // 64
  'INVALID_SECRET', // 65
  'NO_SECRET', // 66
  'CONFIG_UNSUPPORTED', // 67
  'OPERATION_TIMEOUT', // 68
  'MIGRATE_PERSIST_FAILED', // 69
  'HOOK_SCRIPT_FAILED', // 70
  'INVALID_DOMAIN_SNAPSHOT', // 71
  'NO_DOMAIN_SNAPSHOT', // 72
  'INVALID_STREAM', // 73
  'ARGUMENT_UNSUPPORTED', // 74
  'STORAGE_PROBE_FAILED', // 75
  'STORAGE_POOL_BUILT', // 76
  'SNAPSHOT_REVERT_RISKY', // 77
  'OPERATION_ABORTED', // 78
  'AUTH_CANCELLED', // 79
  'NO_DOMAIN_METADATA', // 80
  'MIGRATE_UNSAFE', // 81
  'OVERFLOW', // 82
  'BLOCK_COPY_ACTIVE', // 83
  'OPERATION_UNSUPPORTED', // 84
  'SSH', // 85
  'AGENT_UNRESPONSIVE', // 86
  'RESOURCE_BUSY', // 87
  'ACCESS_DENIED', // 88
  'DBUS_SERVICE', // 89
  'STORAGE_VOL_EXIST', // 90
  'CPU_INCOMPATIBLE', // 91
  'XML_INVALID_SCHEMA', // 92
  'MIGRATE_FINISH_OK', // 93
  'AUTH_UNAVAILABLE', // 94
  'NO_SERVER', // 95
  'NO_CLIENT', // 96
  'AGENT_UNSYNCED', // 97
  'LIBSSH', // 98
  'DEVICE_MISSING', // 99
  'INVALID_NWFILTER_BINDING', // 100
  'NO_NWFILTER_BINDING', // 101
  'INVALID_DOMAIN_CHECKPOINT', // 102
  'NO_DOMAIN_CHECKPOINT', // 103
  'NO_DOMAIN_BACKUP', // 104
  'INVALID_NETWORK_PORT', // 105
  'NETWORK_PORT_EXIST', // 106
  'NO_NETWORK_PORT', // 107
  'NO_HOSTNAME', // 108
  'CHECKPOINT_INCONSISTENT', // 109
  'MULTIPLE_DOMAINS', // 110
  'NO_NETWORK_METADATA', // 111
  'AGENT_COMMAND_TIMEOUT', // 112
  'AGENT_COMMAND_FAILED', // 113
] as const;

export type LibvirtErrorName = (typeof ERROR_NAMES)[number];

/** The libvirt error numbers brankas branches on, named. */
export const VirErr = Object.fromEntries(ERROR_NAMES.map((name, i) => [name, i])) as {
  readonly [K in LibvirtErrorName]: number;
};

export function libvirtErrorName(code: number): string {
  return ERROR_NAMES[code] ?? `UNKNOWN_${code}`;
}

export interface RemoteErrorInfo {
  code: number;
  domain: number;
  message: string | null;
  level: number;
  str1: string | null;
  str2: string | null;
  str3: string | null;
  int1: number;
  int2: number;
}

/** An error the daemon reported for a call. */
export class LibvirtError extends BrankasError<`LIBVIRT_${string}`> {
  override readonly name = 'LibvirtError';
  readonly libvirtCode: number;
  readonly libvirtDomain: number;
  readonly procedure: string | undefined;

  constructor(info: RemoteErrorInfo, procedure?: string) {
    const message = info.message ?? `libvirt error ${libvirtErrorName(info.code)}`;
    super(`LIBVIRT_${libvirtErrorName(info.code)}`, message, {
      details: { libvirtCode: info.code, libvirtDomain: info.domain, procedure },
    });
    this.libvirtCode = info.code;
    this.libvirtDomain = info.domain;
    this.procedure = procedure;
  }
}

/**
 * Makes sure a not-found error names what was asked for: some drivers say only
 * "Domain not found". The error keeps its code; the message gains the name.
 */
export async function naming<T>(what: string, name: string, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof LibvirtError && isNotFound(err) && !err.message.includes(name)) {
      err.message = `${err.message}: no ${what} named '${name}'`;
    }
    throw err;
  }
}

/** Codes of the client's own errors (no daemon involved). */
export type ClientErrorCode =
  | 'LIBVIRT_CONNECTION_CLOSED'
  | 'LIBVIRT_CONNECT_FAILED'
  | 'LIBVIRT_TIMEOUT'
  | 'LIBVIRT_KEEPALIVE_TIMEOUT'
  | 'LIBVIRT_BAD_URI'
  | 'LIBVIRT_AUTH_UNSUPPORTED'
  | 'LIBVIRT_INVALID_ARGUMENT'
  | 'LIBVIRT_PROTOCOL';

export class LibvirtClientError<
  C extends ClientErrorCode = ClientErrorCode,
> extends BrankasError<C> {
  override readonly name = 'LibvirtClientError';
  constructor(code: C, message: string, ...options: ErrorOptionsFor<C>) {
    super(code, message, ...options);
  }
}

function hasLibvirtCode(err: unknown, ...codes: number[]): boolean {
  return err instanceof LibvirtError && codes.includes(err.libvirtCode);
}

/** The thing asked for (domain, snapshot, checkpoint, pool, volume) does not exist. */
export function isNotFound(err: unknown): boolean {
  return hasLibvirtCode(
    err,
    VirErr.NO_DOMAIN,
    VirErr.NO_DOMAIN_SNAPSHOT,
    VirErr.NO_DOMAIN_CHECKPOINT,
    VirErr.NO_STORAGE_POOL,
    VirErr.NO_STORAGE_VOL,
    VirErr.NO_NETWORK,
    VirErr.NO_DOMAIN_BACKUP,
  );
}

export function isAlreadyExists(err: unknown): boolean {
  return hasLibvirtCode(err, VirErr.DOM_EXIST, VirErr.STORAGE_VOL_EXIST, VirErr.NETWORK_EXIST);
}

/** The operation is not valid in the object's present state (e.g. starting a running VM). */
export function isOperationInvalid(err: unknown): boolean {
  return hasLibvirtCode(err, VirErr.OPERATION_INVALID);
}

/** libvirt's generic internal error (also its answer about a job still being set up). */
export function isInternalError(err: unknown): boolean {
  return hasLibvirtCode(err, VirErr.INTERNAL_ERROR);
}

export function isUnsupported(err: unknown): boolean {
  return hasLibvirtCode(
    err,
    VirErr.NO_SUPPORT,
    VirErr.OPERATION_UNSUPPORTED,
    VirErr.ARGUMENT_UNSUPPORTED,
    VirErr.CONFIG_UNSUPPORTED,
  );
}

export function isConnectionLost(err: unknown): boolean {
  return (
    err instanceof LibvirtClientError &&
    (err.code === 'LIBVIRT_CONNECTION_CLOSED' || err.code === 'LIBVIRT_KEEPALIVE_TIMEOUT')
  );
}

export function isTimeout(err: unknown): boolean {
  return err instanceof LibvirtClientError && err.code === 'LIBVIRT_TIMEOUT';
}

/** The guest agent did not answer within the domain's agent response timeout. */
export function isAgentUnresponsive(err: unknown): boolean {
  return hasLibvirtCode(err, VirErr.AGENT_UNRESPONSIVE);
}
