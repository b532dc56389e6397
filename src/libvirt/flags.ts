/**
 * libvirt's public enums and flag bits (include/libvirt/libvirt-*.h), named.
 * Only what brankas uses; values are ABI and never change.
 */

export const DomainState = {
  NOSTATE: 0,
  RUNNING: 1,
  BLOCKED: 2,
  PAUSED: 3,
  SHUTDOWN: 4,
  SHUTOFF: 5,
  CRASHED: 6,
  PMSUSPENDED: 7,
} as const;

export type DomainStateName =
  'nostate' | 'running' | 'blocked' | 'paused' | 'shutdown' | 'shutoff' | 'crashed' | 'pmsuspended';

const STATE_NAMES: DomainStateName[] = [
  'nostate',
  'running',
  'blocked',
  'paused',
  'shutdown',
  'shutoff',
  'crashed',
  'pmsuspended',
];

export function domainStateName(state: number): DomainStateName {
  return STATE_NAMES[state] ?? 'nostate';
}

export const ListDomains = {
  ACTIVE: 1 << 0,
  INACTIVE: 1 << 1,
  PERSISTENT: 1 << 2,
  TRANSIENT: 1 << 3,
  RUNNING: 1 << 4,
  PAUSED: 1 << 5,
  SHUTOFF: 1 << 6,
  OTHER: 1 << 7,
  HAS_SNAPSHOT: 1 << 12,
  NO_SNAPSHOT: 1 << 13,
  HAS_CHECKPOINT: 1 << 14,
  NO_CHECKPOINT: 1 << 15,
} as const;

/** virDomainStatsTypes: the groups CONNECT_GET_ALL_DOMAIN_STATS reports. */
export const DomainStats = { STATE: 1 } as const;
export const DomainXml = { SECURE: 1, INACTIVE: 2, UPDATE_CPU: 4, MIGRATABLE: 8 } as const;
export const DomainDefine = { VALIDATE: 1 } as const;
export const DomainUndefine = {
  MANAGED_SAVE: 1,
  SNAPSHOTS_METADATA: 2,
  NVRAM: 4,
  KEEP_NVRAM: 8,
  CHECKPOINTS_METADATA: 16,
  TPM: 32,
  KEEP_TPM: 64,
} as const;
export const DomainCreate = {
  PAUSED: 1,
  AUTODESTROY: 2,
  BYPASS_CACHE: 4,
  FORCE_BOOT: 8,
  VALIDATE: 16,
} as const;
export const DomainShutdown = {
  DEFAULT: 0,
  ACPI_POWER_BTN: 1,
  GUEST_AGENT: 2,
  INITCTL: 4,
  SIGNAL: 8,
  PARAVIRT: 16,
} as const;
export const DomainDestroy = { DEFAULT: 0, GRACEFUL: 1 } as const;

export const SnapshotCreate = {
  REDEFINE: 1,
  CURRENT: 2,
  NO_METADATA: 4,
  HALT: 8,
  DISK_ONLY: 16,
  REUSE_EXT: 32,
  QUIESCE: 64,
  ATOMIC: 128,
  LIVE: 256,
  VALIDATE: 512,
} as const;
export const SnapshotList = {
  /** With list-all: only roots. With list-children: all descendants. */
  ROOTS: 1,
  DESCENDANTS: 1,
  METADATA: 2,
  LEAVES: 4,
  NO_LEAVES: 8,
  NO_METADATA: 16,
  INACTIVE: 32,
  ACTIVE: 64,
  DISK_ONLY: 128,
  INTERNAL: 256,
  EXTERNAL: 512,
  TOPOLOGICAL: 1024,
} as const;
export const SnapshotRevert = { RUNNING: 1, PAUSED: 2, FORCE: 4, RESET_NVRAM: 8 } as const;
export const SnapshotDelete = { CHILDREN: 1, METADATA_ONLY: 2, CHILDREN_ONLY: 4 } as const;

export const CheckpointCreate = { REDEFINE: 1, QUIESCE: 2, REDEFINE_VALIDATE: 4 } as const;
export const CheckpointDelete = { CHILDREN: 1, METADATA_ONLY: 2, CHILDREN_ONLY: 4 } as const;
export const CheckpointXml = { SECURE: 1, NO_DOMAIN: 2, SIZE: 4 } as const;

export const BackupBegin = { REUSE_EXTERNAL: 1 } as const;
/** virDomainBlockResizeFlags: without BYTES, the size is in KiB. */
export const BlockResize = { BYTES: 1 } as const;
/** virDomainBlockCopyFlags. */
export const BlockCopy = {
  SHALLOW: 1,
  REUSE_EXT: 2,
  TRANSIENT_JOB: 4,
  SYNCHRONOUS_WRITES: 8,
} as const;
/** virDomainBlockJobAbortFlags. */
export const BlockJobAbort = { ASYNC: 1, PIVOT: 2 } as const;
export const JobStats = { COMPLETED: 1, KEEP_COMPLETED: 2 } as const;

export const DomainEventId = {
  LIFECYCLE: 0,
  BLOCK_JOB: 8,
  BLOCK_JOB_2: 16,
  JOB_COMPLETED: 21,
} as const;

export const LifecycleEvent = {
  DEFINED: 0,
  UNDEFINED: 1,
  STARTED: 2,
  SUSPENDED: 3,
  RESUMED: 4,
  STOPPED: 5,
  SHUTDOWN: 6,
  PMSUSPENDED: 7,
  CRASHED: 8,
} as const;

export type LifecycleEventName =
  | 'defined'
  | 'undefined'
  | 'started'
  | 'suspended'
  | 'resumed'
  | 'stopped'
  | 'shutdown'
  | 'pmsuspended'
  | 'crashed';

const LIFECYCLE_NAMES: LifecycleEventName[] = [
  'defined',
  'undefined',
  'started',
  'suspended',
  'resumed',
  'stopped',
  'shutdown',
  'pmsuspended',
  'crashed',
];

export function lifecycleEventName(event: number): LifecycleEventName | `unknown-${number}` {
  return LIFECYCLE_NAMES[event] ?? `unknown-${event}`;
}

export const ListPools = { INACTIVE: 1, ACTIVE: 2, PERSISTENT: 4, TRANSIENT: 8 } as const;
export const PoolState = { INACTIVE: 0, BUILDING: 1, RUNNING: 2, DEGRADED: 3, INACCESSIBLE: 4 };
export const PoolBuild = { NEW: 0, REPAIR: 1, RESIZE: 2, NO_OVERWRITE: 4, OVERWRITE: 8 } as const;
export const PoolCreate = { NORMAL: 0, WITH_BUILD: 1 } as const;
export const VolType = { FILE: 0, BLOCK: 1, DIR: 2, NETWORK: 3, NETDIR: 4, PLOOP: 5 } as const;
export const VolCreate = { PREALLOC_METADATA: 1, REFLINK: 2, VALIDATE: 4 } as const;
export const VolDelete = { NORMAL: 0, ZEROED: 1, WITH_SNAPSHOTS: 2 } as const;
export const VolTransfer = { SPARSE_STREAM: 1 } as const;

export const AgentTimeout = { BLOCK: -2, DEFAULT: -1, NOWAIT: 0 } as const;
