/**
 * Domain: a handle on one VM. It carries libvirt's reference (name, UUID, id);
 * the daemon resolves it by UUID, so the handle stays valid across start and
 * stop. Methods map one-to-one onto procedures.
 */
import * as C from './calls.js';
import type { Connection } from './connection.js';
import type { CallOptions } from './rpc.js';
import { uuidString } from './connection.js';
import type { DomainRef } from './types.js';
import { typedParamsToRecord } from './types.js';
import { domainStateName, type DomainStateName, AgentTimeout, BlockResize } from './flags.js';
import { DomainSnapshot } from './snapshot.js';
import { naming } from './errors.js';
import { DomainCheckpoint } from './checkpoint.js';
import type { Of } from './xdr.js';

/** virDomainJobInfo: type (virDomainJobType), then times in ms and sizes in bytes. */
export type JobInfo = Of<typeof C.DOMAIN_GET_JOB_INFO.ret>;

export interface DomainStateInfo {
  state: DomainStateName;
  /** The state's numeric reason (virDomain<State>Reason). */
  reason: number;
}

export interface DomainInfo {
  state: DomainStateName;
  maxMemKiB: bigint;
  memoryKiB: bigint;
  vcpus: number;
  cpuTimeNs: bigint;
}

export interface BlockInfo {
  /** Bytes the guest sees. */
  capacity: bigint;
  /** Bytes of host storage in use. */
  allocation: bigint;
  /** Bytes of the host file or device. */
  physical: bigint;
}

export class Domain {
  constructor(
    readonly conn: Connection,
    private ref: DomainRef,
  ) {}

  get name(): string {
    return this.ref.name;
  }

  get uuid(): string {
    return uuidString(this.ref.uuid);
  }

  /** The running domain's id, or -1 when it is not running (as of the last call that told). */
  get id(): number {
    return this.ref.id;
  }

  /** The wire reference, for procedures that take a domain. */
  get wire(): DomainRef {
    return this.ref;
  }

  async xml(flags = 0): Promise<string> {
    return (await this.conn.call(C.DOMAIN_GET_XML_DESC, { dom: this.ref, flags })).value;
  }

  async state(): Promise<DomainStateInfo> {
    const r = await this.conn.call(C.DOMAIN_GET_STATE, { dom: this.ref, flags: 0 });
    return { state: domainStateName(r.state), reason: r.reason };
  }

  async info(): Promise<DomainInfo> {
    const r = await this.conn.call(C.DOMAIN_GET_INFO, { dom: this.ref });
    return {
      state: domainStateName(r.state),
      maxMemKiB: r.maxMem,
      memoryKiB: r.memory,
      vcpus: r.nrVirtCpu,
      cpuTimeNs: r.cpuTime,
    };
  }

  async isActive(): Promise<boolean> {
    return (await this.conn.call(C.DOMAIN_IS_ACTIVE, { dom: this.ref })).value !== 0;
  }

  /** A saved memory state (virsh managedsave) that the next start resumes from. */
  async hasManagedSaveImage(): Promise<boolean> {
    const r = await this.conn.call(C.DOMAIN_HAS_MANAGED_SAVE_IMAGE, { dom: this.ref, flags: 0 });
    return r.value !== 0;
  }

  async isPersistent(): Promise<boolean> {
    return (await this.conn.call(C.DOMAIN_IS_PERSISTENT, { dom: this.ref })).value !== 0;
  }

  /** Starts a defined domain (virDomainCreateWithFlags). */
  async start(flags = 0): Promise<void> {
    const { dom } = await this.conn.call(C.DOMAIN_CREATE_WITH_FLAGS, { dom: this.ref, flags });
    this.ref = dom;
  }

  /** Asks the guest to shut down (ACPI, agent...: see DomainShutdown). Returns at once. */
  async shutdown(flags = 0): Promise<void> {
    await this.conn.call(C.DOMAIN_SHUTDOWN_FLAGS, { dom: this.ref, flags });
  }

  /** Powers the domain off at once (virDomainDestroyFlags). */
  async destroy(flags = 0): Promise<void> {
    await this.conn.call(C.DOMAIN_DESTROY_FLAGS, { dom: this.ref, flags });
  }

  async suspend(): Promise<void> {
    await this.conn.call(C.DOMAIN_SUSPEND, { dom: this.ref });
  }

  async resume(): Promise<void> {
    await this.conn.call(C.DOMAIN_RESUME, { dom: this.ref });
  }

  async undefine(flags = 0): Promise<void> {
    await this.conn.call(C.DOMAIN_UNDEFINE_FLAGS, { dom: this.ref, flags });
  }

  /** Size facts of one disk, named by target (vda) or source path. */
  async blockInfo(disk: string): Promise<BlockInfo> {
    return this.conn.call(C.DOMAIN_GET_BLOCK_INFO, { dom: this.ref, path: disk, flags: 0 });
  }

  async blockJobInfo(
    disk: string,
  ): Promise<{ type: number; bandwidth: bigint; cur: bigint; end: bigint } | null> {
    const r = await this.conn.call(C.DOMAIN_GET_BLOCK_JOB_INFO, {
      dom: this.ref,
      path: disk,
      flags: 0,
    });
    return r.found ? { type: r.type, bandwidth: r.bandwidth, cur: r.cur, end: r.end } : null;
  }

  /** Grows (or shrinks) a disk of a running domain to `bytes` (virDomainBlockResize). */
  async blockResize(disk: string, bytes: number | bigint): Promise<void> {
    await this.conn.call(C.DOMAIN_BLOCK_RESIZE, {
      dom: this.ref,
      disk,
      size: BigInt(bytes),
      flags: BlockResize.BYTES,
    });
  }

  /**
   * Starts copying a disk (its whole chain, unless BlockCopy.SHALLOW) to the destination of
   * `destXml` (a `<disk>` element) while the domain runs (virDomainBlockCopy); the job is then
   * ended with blockJobAbort, BlockJobAbort.PIVOT to switch the domain onto the copy.
   */
  async blockCopy(disk: string, destXml: string, flags = 0): Promise<void> {
    await this.conn.call(C.DOMAIN_BLOCK_COPY, {
      dom: this.ref,
      path: disk,
      destxml: destXml,
      params: [],
      flags,
    });
  }

  async blockJobAbort(disk: string, flags = 0): Promise<void> {
    await this.conn.call(C.DOMAIN_BLOCK_JOB_ABORT, { dom: this.ref, path: disk, flags });
  }

  // Snapshots

  /** Takes a snapshot; with memory under emulation this can take minutes: pass a timeout. */
  async createSnapshot(xml: string, flags = 0, options: CallOptions = {}): Promise<DomainSnapshot> {
    const { snap } = await this.conn.call(
      C.DOMAIN_SNAPSHOT_CREATE_XML,
      { dom: this.ref, xml, flags },
      options,
    );
    return new DomainSnapshot(this, snap);
  }

  async listSnapshots(flags = 0): Promise<DomainSnapshot[]> {
    const { snapshots } = await this.conn.call(C.DOMAIN_LIST_ALL_SNAPSHOTS, {
      dom: this.ref,
      needResults: 1,
      flags,
    });
    return snapshots.map((s) => new DomainSnapshot(this, s));
  }

  async snapshotCount(flags = 0): Promise<number> {
    return (await this.conn.call(C.DOMAIN_SNAPSHOT_NUM, { dom: this.ref, flags })).value;
  }

  async lookupSnapshot(name: string): Promise<DomainSnapshot> {
    const { snap } = await naming(
      `snapshot of ${this.name}`,
      name,
      this.conn.call(C.DOMAIN_SNAPSHOT_LOOKUP_BY_NAME, { dom: this.ref, name, flags: 0 }),
    );
    return new DomainSnapshot(this, snap);
  }

  async hasCurrentSnapshot(): Promise<boolean> {
    return (
      (await this.conn.call(C.DOMAIN_HAS_CURRENT_SNAPSHOT, { dom: this.ref, flags: 0 })).value !== 0
    );
  }

  /** The current snapshot, or null when there is none. */
  async currentSnapshot(): Promise<DomainSnapshot | null> {
    if (!(await this.hasCurrentSnapshot())) return null;
    const { snap } = await this.conn.call(C.DOMAIN_SNAPSHOT_CURRENT, { dom: this.ref, flags: 0 });
    return new DomainSnapshot(this, snap);
  }

  // Checkpoints

  async createCheckpoint(xml: string, flags = 0): Promise<DomainCheckpoint> {
    const { checkpoint } = await this.conn.call(C.DOMAIN_CHECKPOINT_CREATE_XML, {
      dom: this.ref,
      xml,
      flags,
    });
    return new DomainCheckpoint(this, checkpoint);
  }

  async listCheckpoints(flags = 0): Promise<DomainCheckpoint[]> {
    const { checkpoints } = await this.conn.call(C.DOMAIN_LIST_ALL_CHECKPOINTS, {
      dom: this.ref,
      needResults: 1,
      flags,
    });
    return checkpoints.map((c) => new DomainCheckpoint(this, c));
  }

  async lookupCheckpoint(name: string): Promise<DomainCheckpoint> {
    const { checkpoint } = await naming(
      `checkpoint of ${this.name}`,
      name,
      this.conn.call(C.DOMAIN_CHECKPOINT_LOOKUP_BY_NAME, { dom: this.ref, name, flags: 0 }),
    );
    return new DomainCheckpoint(this, checkpoint);
  }

  // Backup jobs

  /** Starts a backup job (push or pull mode, per the backup XML), optionally with a checkpoint. */
  async backupBegin(
    backupXml: string,
    checkpointXml: string | null = null,
    flags = 0,
  ): Promise<void> {
    await this.conn.call(C.DOMAIN_BACKUP_BEGIN, {
      dom: this.ref,
      backupXml,
      checkpointXml,
      flags,
    });
  }

  async backupXml(): Promise<string> {
    return (await this.conn.call(C.DOMAIN_BACKUP_GET_XML_DESC, { dom: this.ref, flags: 0 })).value;
  }

  async jobInfo(): Promise<JobInfo> {
    return this.conn.call(C.DOMAIN_GET_JOB_INFO, { dom: this.ref });
  }

  /** Statistics of the running (or, with JobStats.COMPLETED, the last) job. */
  async jobStats(
    flags = 0,
  ): Promise<{ type: number; stats: Record<string, number | bigint | boolean | string> }> {
    const r = await this.conn.call(C.DOMAIN_GET_JOB_STATS, { dom: this.ref, flags });
    return { type: r.type, stats: typedParamsToRecord(r.params) };
  }

  async abortJob(): Promise<void> {
    await this.conn.call(C.DOMAIN_ABORT_JOB, { dom: this.ref });
  }

  // Guest agent

  /**
   * Freezes the guest's filesystems through its agent. libvirt waits for the agent as long as
   * the domain's agent response timeout says (by default for ever: set one with
   * agentSetResponseTimeout); `timeoutMs` bounds our own wait for the daemon.
   */
  async fsFreeze(mountpoints: string[] = [], opts: { timeoutMs?: number } = {}): Promise<number> {
    return (
      await this.conn.call(
        C.DOMAIN_FSFREEZE,
        { dom: this.ref, mountpoints, flags: 0 },
        { timeoutMs: opts.timeoutMs },
      )
    ).filesystems;
  }

  async fsThaw(mountpoints: string[] = [], opts: { timeoutMs?: number } = {}): Promise<number> {
    return (
      await this.conn.call(
        C.DOMAIN_FSTHAW,
        { dom: this.ref, mountpoints, flags: 0 },
        { timeoutMs: opts.timeoutMs },
      )
    ).filesystems;
  }

  /**
   * How long libvirt waits for this domain's guest agent in the agent calls that take no
   * timeout of their own (fsFreeze, fsThaw...): seconds, or AgentTimeout.BLOCK (libvirt's
   * default: for ever), DEFAULT (5 s), NOWAIT. Kept by libvirt until changed or the domain stops.
   */
  async agentSetResponseTimeout(timeoutSec: number): Promise<void> {
    await this.conn.call(C.DOMAIN_AGENT_SET_RESPONSE_TIMEOUT, {
      dom: this.ref,
      timeout: timeoutSec,
      flags: 0,
    });
  }

  /**
   * Sends a raw QMP command (JSON text) to the domain's QEMU and returns the raw JSON answer
   * (virDomainQemuMonitorCommand). libvirt marks the domain tainted ("custom-monitor") in its
   * log: for what libvirt has no API for, used sparingly.
   */
  async qemuMonitorCommand(command: string): Promise<string> {
    const r = await this.conn.call(C.QEMU_DOMAIN_MONITOR_COMMAND, {
      dom: this.ref,
      cmd: command,
      flags: 0,
    });
    return r.result;
  }

  /** Sends a raw guest-agent command (JSON text) and returns the raw JSON answer. */
  async agentCommand(command: string, timeoutSec: number = AgentTimeout.DEFAULT): Promise<string> {
    const r = await this.conn.call(
      C.QEMU_DOMAIN_AGENT_COMMAND,
      { dom: this.ref, cmd: command, timeout: timeoutSec, flags: 0 },
      // The daemon waits for the agent; give the call room beyond the agent's own timeout.
      { timeoutMs: timeoutSec > 0 ? timeoutSec * 1000 + 10_000 : undefined },
    );
    return r.result ?? '';
  }
}
