/**
 * Typed signatures of the procedures brankas calls: for each, the XDR codecs
 * of its arguments and its return value, transcribed from remote_protocol.x
 * (remote_<name>_args / remote_<name>_ret). Field order is the wire order.
 */
import { array, int, struct, uhyper, uint, xvoid, type Codec } from './xdr.js';
import {
  checkpointRef,
  domainRef,
  LIST_MAX,
  optDomainRef,
  optStr,
  poolRef,
  snapshotRef,
  str,
  typedParams,
  uuid,
  volRef,
} from './types.js';
import {
  QEMU_PROGRAM,
  QEMU_VERSION,
  QemuProc,
  REMOTE_PROGRAM,
  REMOTE_VERSION,
  RemoteProc,
} from './procedures.js';

export interface Call<A, R> {
  program: number;
  version: number;
  procedure: number;
  name: string;
  args: Codec<A>;
  ret: Codec<R>;
}

function remote<A, R>(name: keyof typeof RemoteProc, args: Codec<A>, ret: Codec<R>): Call<A, R> {
  return {
    program: REMOTE_PROGRAM,
    version: REMOTE_VERSION,
    procedure: RemoteProc[name],
    name,
    args,
    ret,
  };
}

const none = xvoid;
const dom = struct({ dom: domainRef });
const domFlags = struct({ dom: domainRef, flags: uint });
const snapFlags = struct({ snap: snapshotRef, flags: uint });
const pool = struct({ pool: poolRef });
const poolFlags = struct({ pool: poolRef, flags: uint });
const volFlags = struct({ vol: volRef, flags: uint });
const xmlFlags = struct({ xml: str, flags: uint });
const retDom = struct({ dom: domainRef });
const retSnap = struct({ snap: snapshotRef });
const retPool = struct({ pool: poolRef });
const retVol = struct({ vol: volRef });
const retStr = struct({ value: str });
const retInt = struct({ value: int });

// Connection
export const AUTH_LIST = remote('AUTH_LIST', none, struct({ types: array(int, 20) }));
export const AUTH_POLKIT = remote('AUTH_POLKIT', none, struct({ complete: int }));
export const CONNECT_OPEN = remote('CONNECT_OPEN', struct({ name: optStr, flags: uint }), none);
export const CONNECT_CLOSE = remote('CONNECT_CLOSE', none, none);
export const CONNECT_GET_TYPE = remote('CONNECT_GET_TYPE', none, retStr);
export const CONNECT_GET_VERSION = remote('CONNECT_GET_VERSION', none, struct({ version: uhyper }));
export const CONNECT_GET_LIB_VERSION = remote(
  'CONNECT_GET_LIB_VERSION',
  none,
  struct({ version: uhyper }),
);
export const CONNECT_GET_HOSTNAME = remote('CONNECT_GET_HOSTNAME', none, retStr);
export const CONNECT_GET_CAPABILITIES = remote('CONNECT_GET_CAPABILITIES', none, retStr);
export const CONNECT_SUPPORTS_FEATURE = remote(
  'CONNECT_SUPPORTS_FEATURE',
  struct({ feature: int }),
  struct({ supported: int }),
);

// Domains
export const CONNECT_LIST_ALL_DOMAINS = remote(
  'CONNECT_LIST_ALL_DOMAINS',
  struct({ needResults: int, flags: uint }),
  struct({ domains: array(domainRef, LIST_MAX), ret: uint }),
);
/** With no domains named, every domain's records (as virConnectGetAllDomainStats). */
export const CONNECT_GET_ALL_DOMAIN_STATS = remote(
  'CONNECT_GET_ALL_DOMAIN_STATS',
  struct({ doms: array(domainRef, LIST_MAX), stats: uint, flags: uint }),
  struct({ retStats: array(struct({ dom: domainRef, params: typedParams }), LIST_MAX) }),
);
export const DOMAIN_LOOKUP_BY_NAME = remote('DOMAIN_LOOKUP_BY_NAME', struct({ name: str }), retDom);
export const DOMAIN_LOOKUP_BY_UUID = remote('DOMAIN_LOOKUP_BY_UUID', struct({ uuid }), retDom);
export const DOMAIN_GET_XML_DESC = remote('DOMAIN_GET_XML_DESC', domFlags, retStr);
export const DOMAIN_DEFINE_XML_FLAGS = remote('DOMAIN_DEFINE_XML_FLAGS', xmlFlags, retDom);
export const DOMAIN_UNDEFINE_FLAGS = remote('DOMAIN_UNDEFINE_FLAGS', domFlags, none);
export const DOMAIN_CREATE_WITH_FLAGS = remote('DOMAIN_CREATE_WITH_FLAGS', domFlags, retDom);
export const DOMAIN_CREATE_XML = remote('DOMAIN_CREATE_XML', xmlFlags, retDom);
export const DOMAIN_SHUTDOWN_FLAGS = remote('DOMAIN_SHUTDOWN_FLAGS', domFlags, none);
export const DOMAIN_DESTROY_FLAGS = remote('DOMAIN_DESTROY_FLAGS', domFlags, none);
export const DOMAIN_SUSPEND = remote('DOMAIN_SUSPEND', dom, none);
export const DOMAIN_RESUME = remote('DOMAIN_RESUME', dom, none);
export const DOMAIN_IS_ACTIVE = remote('DOMAIN_IS_ACTIVE', dom, retInt);
export const DOMAIN_IS_PERSISTENT = remote('DOMAIN_IS_PERSISTENT', dom, retInt);
export const DOMAIN_HAS_MANAGED_SAVE_IMAGE = remote(
  'DOMAIN_HAS_MANAGED_SAVE_IMAGE',
  domFlags,
  retInt,
);
export const DOMAIN_GET_STATE = remote(
  'DOMAIN_GET_STATE',
  domFlags,
  struct({ state: int, reason: int }),
);
export const DOMAIN_GET_INFO = remote(
  'DOMAIN_GET_INFO',
  dom,
  struct({ state: uint, maxMem: uhyper, memory: uhyper, nrVirtCpu: uint, cpuTime: uhyper }),
);
export const DOMAIN_GET_BLOCK_INFO = remote(
  'DOMAIN_GET_BLOCK_INFO',
  struct({ dom: domainRef, path: str, flags: uint }),
  struct({ allocation: uhyper, capacity: uhyper, physical: uhyper }),
);
export const DOMAIN_GET_BLOCK_JOB_INFO = remote(
  'DOMAIN_GET_BLOCK_JOB_INFO',
  struct({ dom: domainRef, path: str, flags: uint }),
  struct({ found: int, type: int, bandwidth: uhyper, cur: uhyper, end: uhyper }),
);
export const DOMAIN_BLOCK_JOB_ABORT = remote(
  'DOMAIN_BLOCK_JOB_ABORT',
  struct({ dom: domainRef, path: str, flags: uint }),
  none,
);
export const DOMAIN_BLOCK_COPY = remote(
  'DOMAIN_BLOCK_COPY',
  struct({ dom: domainRef, path: str, destxml: str, params: typedParams, flags: uint }),
  none,
);
export const DOMAIN_BLOCK_RESIZE = remote(
  'DOMAIN_BLOCK_RESIZE',
  struct({ dom: domainRef, disk: str, size: uhyper, flags: uint }),
  none,
);
export const DOMAIN_FSFREEZE = remote(
  'DOMAIN_FSFREEZE',
  struct({ dom: domainRef, mountpoints: array(str, 256), flags: uint }),
  struct({ filesystems: int }),
);
export const DOMAIN_FSTHAW = remote(
  'DOMAIN_FSTHAW',
  struct({ dom: domainRef, mountpoints: array(str, 256), flags: uint }),
  struct({ filesystems: int }),
);
export const DOMAIN_AGENT_SET_RESPONSE_TIMEOUT = remote(
  'DOMAIN_AGENT_SET_RESPONSE_TIMEOUT',
  struct({ dom: domainRef, timeout: int, flags: uint }),
  struct({ result: int }),
);

// Jobs and backups
export const DOMAIN_GET_JOB_INFO = remote(
  'DOMAIN_GET_JOB_INFO',
  dom,
  struct({
    type: int,
    timeElapsed: uhyper,
    timeRemaining: uhyper,
    dataTotal: uhyper,
    dataProcessed: uhyper,
    dataRemaining: uhyper,
    memTotal: uhyper,
    memProcessed: uhyper,
    memRemaining: uhyper,
    fileTotal: uhyper,
    fileProcessed: uhyper,
    fileRemaining: uhyper,
  }),
);
export const DOMAIN_GET_JOB_STATS = remote(
  'DOMAIN_GET_JOB_STATS',
  domFlags,
  struct({ type: int, params: typedParams }),
);
export const DOMAIN_ABORT_JOB = remote('DOMAIN_ABORT_JOB', dom, none);
export const DOMAIN_BACKUP_BEGIN = remote(
  'DOMAIN_BACKUP_BEGIN',
  struct({ dom: domainRef, backupXml: str, checkpointXml: optStr, flags: uint }),
  none,
);
export const DOMAIN_BACKUP_GET_XML_DESC = remote('DOMAIN_BACKUP_GET_XML_DESC', domFlags, retStr);

// Snapshots
export const DOMAIN_SNAPSHOT_CREATE_XML = remote(
  'DOMAIN_SNAPSHOT_CREATE_XML',
  struct({ dom: domainRef, xml: str, flags: uint }),
  retSnap,
);
export const DOMAIN_LIST_ALL_SNAPSHOTS = remote(
  'DOMAIN_LIST_ALL_SNAPSHOTS',
  struct({ dom: domainRef, needResults: int, flags: uint }),
  struct({ snapshots: array(snapshotRef, LIST_MAX), ret: int }),
);
export const DOMAIN_SNAPSHOT_LIST_ALL_CHILDREN = remote(
  'DOMAIN_SNAPSHOT_LIST_ALL_CHILDREN',
  struct({ snap: snapshotRef, needResults: int, flags: uint }),
  struct({ snapshots: array(snapshotRef, LIST_MAX), ret: int }),
);
export const DOMAIN_SNAPSHOT_NUM = remote('DOMAIN_SNAPSHOT_NUM', domFlags, retInt);
export const DOMAIN_SNAPSHOT_GET_XML_DESC = remote(
  'DOMAIN_SNAPSHOT_GET_XML_DESC',
  snapFlags,
  retStr,
);
export const DOMAIN_SNAPSHOT_LOOKUP_BY_NAME = remote(
  'DOMAIN_SNAPSHOT_LOOKUP_BY_NAME',
  struct({ dom: domainRef, name: str, flags: uint }),
  retSnap,
);
export const DOMAIN_HAS_CURRENT_SNAPSHOT = remote('DOMAIN_HAS_CURRENT_SNAPSHOT', domFlags, retInt);
export const DOMAIN_SNAPSHOT_CURRENT = remote('DOMAIN_SNAPSHOT_CURRENT', domFlags, retSnap);
export const DOMAIN_SNAPSHOT_GET_PARENT = remote('DOMAIN_SNAPSHOT_GET_PARENT', snapFlags, retSnap);
export const DOMAIN_SNAPSHOT_IS_CURRENT = remote('DOMAIN_SNAPSHOT_IS_CURRENT', snapFlags, retInt);
export const DOMAIN_SNAPSHOT_HAS_METADATA = remote(
  'DOMAIN_SNAPSHOT_HAS_METADATA',
  snapFlags,
  retInt,
);
export const DOMAIN_REVERT_TO_SNAPSHOT = remote('DOMAIN_REVERT_TO_SNAPSHOT', snapFlags, none);
export const DOMAIN_SNAPSHOT_DELETE = remote('DOMAIN_SNAPSHOT_DELETE', snapFlags, none);

// Checkpoints
const cpFlags = struct({ checkpoint: checkpointRef, flags: uint });
const retCp = struct({ checkpoint: checkpointRef });
export const DOMAIN_CHECKPOINT_CREATE_XML = remote(
  'DOMAIN_CHECKPOINT_CREATE_XML',
  struct({ dom: domainRef, xml: str, flags: uint }),
  retCp,
);
export const DOMAIN_LIST_ALL_CHECKPOINTS = remote(
  'DOMAIN_LIST_ALL_CHECKPOINTS',
  struct({ dom: domainRef, needResults: int, flags: uint }),
  struct({ checkpoints: array(checkpointRef, LIST_MAX), ret: int }),
);
export const DOMAIN_CHECKPOINT_GET_XML_DESC = remote(
  'DOMAIN_CHECKPOINT_GET_XML_DESC',
  cpFlags,
  retStr,
);
export const DOMAIN_CHECKPOINT_LOOKUP_BY_NAME = remote(
  'DOMAIN_CHECKPOINT_LOOKUP_BY_NAME',
  struct({ dom: domainRef, name: str, flags: uint }),
  retCp,
);
export const DOMAIN_CHECKPOINT_DELETE = remote('DOMAIN_CHECKPOINT_DELETE', cpFlags, none);

// Events
export const CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY = remote(
  'CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY',
  struct({ eventID: int, dom: optDomainRef }),
  struct({ callbackID: int }),
);
export const CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY = remote(
  'CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY',
  struct({ callbackID: int }),
  none,
);

/** Event message bodies, keyed by the procedure that carries them. */
export const EventMsg = {
  LIFECYCLE: struct({
    callbackID: int,
    msg: struct({ dom: domainRef, event: int, detail: int }),
  }),
  BLOCK_JOB: struct({
    callbackID: int,
    msg: struct({ dom: domainRef, path: str, type: int, status: int }),
  }),
  BLOCK_JOB_2: struct({ callbackID: int, dom: domainRef, dst: str, type: int, status: int }),
  JOB_COMPLETED: struct({ callbackID: int, dom: domainRef, params: typedParams }),
};

// Storage
export const CONNECT_LIST_ALL_STORAGE_POOLS = remote(
  'CONNECT_LIST_ALL_STORAGE_POOLS',
  struct({ needResults: int, flags: uint }),
  struct({ pools: array(poolRef, LIST_MAX), ret: uint }),
);
export const STORAGE_POOL_LOOKUP_BY_NAME = remote(
  'STORAGE_POOL_LOOKUP_BY_NAME',
  struct({ name: str }),
  retPool,
);
export const STORAGE_POOL_LOOKUP_BY_UUID = remote(
  'STORAGE_POOL_LOOKUP_BY_UUID',
  struct({ uuid }),
  retPool,
);
export const STORAGE_POOL_LOOKUP_BY_VOLUME = remote(
  'STORAGE_POOL_LOOKUP_BY_VOLUME',
  struct({ vol: volRef }),
  retPool,
);
export const STORAGE_POOL_CREATE_XML = remote('STORAGE_POOL_CREATE_XML', xmlFlags, retPool);
export const STORAGE_POOL_DEFINE_XML = remote('STORAGE_POOL_DEFINE_XML', xmlFlags, retPool);
export const STORAGE_POOL_CREATE = remote('STORAGE_POOL_CREATE', poolFlags, none);
export const STORAGE_POOL_BUILD = remote('STORAGE_POOL_BUILD', poolFlags, none);
export const STORAGE_POOL_DESTROY = remote('STORAGE_POOL_DESTROY', pool, none);
export const STORAGE_POOL_DELETE = remote('STORAGE_POOL_DELETE', poolFlags, none);
export const STORAGE_POOL_UNDEFINE = remote('STORAGE_POOL_UNDEFINE', pool, none);
export const STORAGE_POOL_REFRESH = remote('STORAGE_POOL_REFRESH', poolFlags, none);
export const STORAGE_POOL_GET_XML_DESC = remote('STORAGE_POOL_GET_XML_DESC', poolFlags, retStr);
export const STORAGE_POOL_GET_INFO = remote(
  'STORAGE_POOL_GET_INFO',
  pool,
  struct({ state: uint, capacity: uhyper, allocation: uhyper, available: uhyper }),
);
export const STORAGE_POOL_LIST_ALL_VOLUMES = remote(
  'STORAGE_POOL_LIST_ALL_VOLUMES',
  struct({ pool: poolRef, needResults: int, flags: uint }),
  struct({ vols: array(volRef, LIST_MAX), ret: uint }),
);
export const STORAGE_VOL_CREATE_XML = remote(
  'STORAGE_VOL_CREATE_XML',
  struct({ pool: poolRef, xml: str, flags: uint }),
  retVol,
);
export const STORAGE_VOL_LOOKUP_BY_NAME = remote(
  'STORAGE_VOL_LOOKUP_BY_NAME',
  struct({ pool: poolRef, name: str }),
  retVol,
);
export const STORAGE_VOL_LOOKUP_BY_PATH = remote(
  'STORAGE_VOL_LOOKUP_BY_PATH',
  struct({ path: str }),
  retVol,
);
export const STORAGE_VOL_GET_INFO = remote(
  'STORAGE_VOL_GET_INFO',
  struct({ vol: volRef }),
  struct({ type: int, capacity: uhyper, allocation: uhyper }),
);
export const STORAGE_VOL_GET_XML_DESC = remote('STORAGE_VOL_GET_XML_DESC', volFlags, retStr);
export const STORAGE_VOL_GET_PATH = remote('STORAGE_VOL_GET_PATH', struct({ vol: volRef }), retStr);
export const STORAGE_VOL_DELETE = remote('STORAGE_VOL_DELETE', volFlags, none);
export const STORAGE_VOL_RESIZE = remote(
  'STORAGE_VOL_RESIZE',
  struct({ vol: volRef, capacity: uhyper, flags: uint }),
  none,
);
const volTransfer = struct({ vol: volRef, offset: uhyper, length: uhyper, flags: uint });
export const STORAGE_VOL_UPLOAD = remote('STORAGE_VOL_UPLOAD', volTransfer, none);
export const STORAGE_VOL_DOWNLOAD = remote('STORAGE_VOL_DOWNLOAD', volTransfer, none);

// The QEMU program
export const QEMU_DOMAIN_MONITOR_COMMAND: Call<
  { dom: { name: string; uuid: Buffer; id: number }; cmd: string; flags: number },
  { result: string }
> = {
  program: QEMU_PROGRAM,
  version: QEMU_VERSION,
  procedure: QemuProc.DOMAIN_MONITOR_COMMAND,
  name: 'QEMU_DOMAIN_MONITOR_COMMAND',
  args: struct({ dom: domainRef, cmd: str, flags: uint }),
  ret: struct({ result: str }),
};
export const QEMU_DOMAIN_AGENT_COMMAND: Call<
  { dom: { name: string; uuid: Buffer; id: number }; cmd: string; timeout: number; flags: number },
  { result: string | null }
> = {
  program: QEMU_PROGRAM,
  version: QEMU_VERSION,
  procedure: QemuProc.DOMAIN_AGENT_COMMAND,
  name: 'QEMU_DOMAIN_AGENT_COMMAND',
  args: struct({ dom: domainRef, cmd: str, timeout: int, flags: uint }),
  ret: struct({ result: optStr }),
};
