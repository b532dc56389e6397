/**
 * Live backup of a running (or paused) VM, incremental forever: the backup
 * point is taken by libvirt's backup job in pull mode (filesystems frozen for
 * that instant when the guest agent answers), each disk is read through NBD
 * into the repository exactly as a cold backup writes it, and a checkpoint of
 * this repository's line is left for the next one. A disk whose bitmap is
 * trusted (line.ts) is read only where it is dirty since the parent's
 * checkpoint, the rest taken from the parent's index; any other disk is read
 * whole, with the reason recorded. The line's older checkpoints are deleted
 * once the new backup is committed; a failed backup records nothing and
 * removes the checkpoint it made.
 */
import { DomainXml, readDomainXml, type Connection, type Domain } from '../../../libvirt/index.js';
import type { NbdDiskReader } from '../../../nbd/index.js';
import {
  BackupWriter,
  type ExtentSource,
  type Manifest,
  type Repository,
  type WriteProgress,
} from '../../../repo/index.js';
import { EngineError } from '../../errors.js';
import { dataHostOf, type DataHost } from '../../remote/host.js';
import { findVm } from '../../snapshot/tree.js';
import { addBootFiles } from '../boot-files.js';
import { LiveExport } from './export.js';
import { isEmpty, type LiveLeftovers } from './leftovers.js';
import {
  clearHostLeftovers,
  diskFacts,
  findHostLeftovers,
  hostJobDir,
  type DiskFacts,
} from './remote.js';
import { planFreeze, type Consistency, type FreezePlan } from './freeze.js';
import {
  planLine,
  type DiskDecision,
  type LinePlan,
  type LiveDisk,
  type LiveRecord,
} from './line.js';
import { bitmapContext } from './xml.js';

export interface LiveBackupOptions {
  signal?: AbortSignal;
  onProgress?: (p: WriteProgress) => void;
  /** Where the job's private directory (socket, scratch files) is made. */
  workRoot?: string;
  /** Read every disk whole (a fresh checkpoint is still made). */
  reread?: boolean;
  /**
   * 'application': fail rather than back up crash-consistent (no agent, or the freeze fails);
   * 'auto' (the default): application-consistent when the guest agent can freeze.
   */
  consistency?: 'auto' | 'application';
  /** Seconds the guest agent gets to answer the freeze (and each thaw); default 10. */
  freezeTimeoutS?: number;
  /**
   * The VM was shut down cleanly and started paused (shutdown-point.ts): the point is
   * `shut-down` consistent, and `taken` resumes the VM once it is.
   */
  shutdownPoint?: { taken(): Promise<void> };
}

export interface LiveDiskReport extends DiskDecision {
  format: string | null;
  /** Bytes read from the NBD export. */
  readBytes: number;
  /** Bytes the dirty bitmap marked changed (incremental disks). */
  dirtyBytes: number | null;
}

export interface LiveBackupResult {
  manifest: Manifest;
  mode: 'live';
  consistency: Consistency;
  /** Why not application-consistent, when it is not. */
  consistencyReason: FreezePlan['reason'] | null;
  /** Seconds from the freeze asked to the thaw answered (null: no freeze was asked). */
  frozenSeconds: number | null;
  checkpoint: string;
  parent: string | null;
  parentCheckpoint: string | null;
  disks: LiveDiskReport[];
  /** Bytes read from the exports and boot files. */
  readBytes: number;
  dedupBytes: number;
  newStoredBytes: number;
  /** The line's older checkpoints deleted after the commit. */
  deletedCheckpoints: string[];
  /** What a killed live backup had left on the VM and was removed first (null: nothing). */
  clearedLeftovers: LiveLeftovers | null;
  seconds: number;
}

/** Counts the bytes read through a source. */
function counted(src: ExtentSource, count: { bytes: number }): ExtentSource {
  return {
    virtualSize: src.virtualSize,
    extents: () => src.extents(),
    read: async (offset, length) => {
      const b = await src.read(offset, length);
      count.bytes += length;
      return b;
    },
    ...(src.readInto
      ? {
          readInto: async (target: Buffer, at: number, offset: number, length: number) => {
            await src.readInto!(target, at, offset, length);
            count.bytes += length;
          },
        }
      : {}),
  };
}

/** The VM's disks as the running instance has them. */
async function liveDisks(vm: Domain, liveXml: string): Promise<LiveDisk[]> {
  const disks = readDomainXml(liveXml).disks.filter(
    (d) => d.device === 'disk' && d.source !== undefined,
  );
  // Asked at once: libvirt answers calls on one connection concurrently.
  const infos = await Promise.all(disks.map((d) => vm.blockInfo(d.target)));
  return disks.map((d, i) => ({
    target: d.target,
    format: d.format,
    source: d.source,
    capacity: Number(infos[i]!.capacity),
  }));
}

export async function liveBackup(
  conn: Connection,
  repo: Repository,
  vmName: string,
  o: LiveBackupOptions = {},
): Promise<LiveBackupResult> {
  const vm = await findVm(conn, vmName);
  const started = Date.now();
  const { state } = await vm.state();
  if (state !== 'running' && state !== 'paused') {
    throw new EngineError(
      'BACKUP_LIVE_NOT_RUNNING',
      `VM '${vm.name}' is ${state}: a live backup needs it running (use --mode cold or auto)`,
      { details: { vm: vm.name, state } },
    );
  }
  const liveXml = await vm.xml();
  const freeze: FreezePlan = o.shutdownPoint
    ? { consistency: 'shut-down', around: { before: async () => {}, after: async () => {} } }
    : await planFreeze(vm, liveXml, {
        ...(o.freezeTimeoutS !== undefined ? { freezeTimeoutS: o.freezeTimeoutS } : {}),
        ...(o.workRoot ? { workRoot: o.workRoot } : {}),
      });
  if (o.consistency === 'application') requireFreeze(vm.name, freeze);
  // Run under the VM's job lock: a brankas job or directory of this VM is a killed one's.
  const host = dataHostOf(conn);
  const leftovers = await findHostLeftovers(host, vm, o.workRoot);
  if (!isEmpty(leftovers)) await clearHostLeftovers(host, vm, leftovers);
  const domainXml = await vm.xml(DomainXml.INACTIVE);
  const disks = await liveDisks(vm, liveXml);
  let line = await planLine(vm, repo, disks);
  if (o.reread) line = { ...line, disks: line.disks.map((d) => asFull(d, 'reread')) };

  // The repository's side (its lock, what is known damaged, the parent's index) gets ready
  // while libvirt starts the backup job: neither waits for the other.
  const openWriter = (
    l: LinePlan,
  ): { parent: LinePlan['parent']; writer: Promise<BackupWriter> } => {
    const parent = writerParent(l);
    const writer = BackupWriter.start(
      repo,
      {
        vm: { name: vm.name, uuid: vm.uuid },
        domainXml,
        method: 'live',
        parent: parent?.id ?? null,
      },
      { onProgress: o.onProgress },
    );
    writer.catch(() => undefined); // awaited below, or aborted
    return { parent, writer };
  };
  let opening = openWriter(line);
  // The images' facts are asked now too: on another host each is a `qemu-img info` there, an
  // ssh session with a login of its own, which then runs while libvirt starts the job instead
  // of before each disk's read.
  const facts = new Map(
    disks.map((spec) => {
      const p = spec.source ? diskFacts(host, spec, o.signal) : undefined;
      p?.catch(() => undefined); // awaited by storeDisk, or not needed
      return [spec.target, p] as const;
    }),
  );

  let ex: LiveExport;
  try {
    try {
      ex = await begin(vm, line, freeze, o.workRoot, host);
    } catch (err) {
      // libvirt checks the bitmaps itself when it starts an incremental job: when it refuses
      // them, every disk is read whole instead (the reason is recorded).
      if (!line.disks.some((d) => d.read === 'incremental')) throw err;
      if (
        err instanceof EngineError &&
        (err.code === 'BACKUP_LIVE_FREEZE_FAILED' || err.code === 'BACKUP_LIVE_THAW_FAILED')
      ) {
        throw err;
      }
      line = {
        ...line,
        disks: line.disks.map((d) => (d.read === 'incremental' ? asFull(d, 'bitmap-refused') : d)),
      };
      if (writerParent(line)?.id !== opening.parent?.id) {
        await abandon(opening.writer);
        opening = openWriter(line);
      }
      ex = await begin(vm, line, freeze, o.workRoot, host);
    }
  } catch (err) {
    await abandon(opening.writer);
    throw err;
  }

  let writer: BackupWriter | undefined;
  let committed = false;
  try {
    await o.shutdownPoint?.taken();
    const useParent = line.disks.some((d) => d.read === 'incremental');
    const parent = opening.parent;
    writer = await opening.writer;
    const signal = o.signal ? AbortSignal.any([o.signal, ex.signal]) : ex.signal;
    const reports: LiveDiskReport[] = [];
    let newPlainBytes = 0;
    let newStoredBytes = 0;
    for (const d of line.disks) {
      signal.throwIfAborted();
      const spec = disks.find((x) => x.target === d.target)!;
      const reader = await ex.open(d.target);
      try {
        const report = await storeDisk(writer, ex, reader, spec, d, facts.get(d.target), signal);
        reports.push(report.disk);
        newPlainBytes += report.newPlainBytes;
        newStoredBytes += report.newStoredBytes;
      } finally {
        await reader.close();
      }
    }
    const files = await addBootFiles(
      writer,
      readDomainXml(domainXml).bootFiles,
      parent ?? undefined,
      signal,
      host,
    );
    ex.check();
    signal.throwIfAborted();
    const record: LiveRecord = {
      checkpoint: line.checkpoint,
      sequence: line.sequence,
      parentCheckpoint: useParent ? (line.parentCheckpoint?.name ?? null) : null,
      disks: Object.fromEntries(
        reports.map((r) => [
          r.target,
          {
            read: r.read,
            reason: r.reason,
            readBytes: r.readBytes,
            source: disks.find((x) => x.target === r.target)!.source ?? null,
          },
        ]),
      ),
    };
    const manifest = await writer.commit({
      fields: { mode: 'live', consistency: freeze.consistency, live: record },
    });
    writer = undefined;
    committed = true;
    const deleted = await deleteOlder(line);
    const readBytes = reports.reduce((n, r) => n + r.readBytes, 0) + files.readBytes;
    return {
      manifest,
      mode: 'live',
      consistency: freeze.consistency,
      consistencyReason: freeze.reason ?? null,
      frozenSeconds: freeze.frozenSeconds ?? null,
      checkpoint: line.checkpoint,
      parent: parent?.id ?? null,
      parentCheckpoint: record.parentCheckpoint,
      disks: reports,
      readBytes,
      dedupBytes: Math.max(0, readBytes - newPlainBytes - files.newPlainBytes),
      newStoredBytes: newStoredBytes + files.newStoredBytes,
      deletedCheckpoints: deleted,
      clearedLeftovers: isEmpty(leftovers) ? null : leftovers,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    if (!committed) await (writer ? writer.abort() : abandon(opening.writer));
    await ex.end();
    if (!committed) {
      // Nothing recorded: the checkpoint made for it would point the next backup at nothing.
      await vm
        .lookupCheckpoint(line.checkpoint)
        .then((c) => c.delete())
        .catch(() => undefined);
    }
  }
}

/**
 * --consistency application: refused at once without an agent that answers; when the freeze
 * itself fails or times out, taking the backup point fails (nothing recorded), after a thaw:
 * an agent that timed out may have frozen late.
 */
function requireFreeze(vm: string, freeze: FreezePlan): void {
  if (freeze.reason) {
    throw new EngineError(
      'BACKUP_LIVE_NO_AGENT',
      `VM '${vm}' cannot be backed up application-consistent (${freeze.reason}: no guest agent answers to freeze its filesystems); nothing was done`,
      { details: { vm, reason: freeze.reason } },
    );
  }
  const before = freeze.around.before;
  freeze.around.before = async () => {
    await before();
    if (freeze.consistency !== 'application-consistent') {
      // LiveExport calls `after` only once `before` returned; a thaw error wins (it says more).
      await freeze.around.after();
      const reason = freeze.reason ?? 'freeze-failed';
      throw new EngineError(
        'BACKUP_LIVE_FREEZE_FAILED',
        `the guest agent of VM '${vm}' could not freeze its filesystems (${reason}): --consistency application cannot be met; nothing was recorded`,
        { details: { vm, reason } },
      );
    }
  };
}

/**
 * The writer's parent: the backup whose checkpoint the bitmaps count from when a disk is read
 * incrementally; without one, the VM's latest backup (its ids still speed up deduplication).
 */
function writerParent(line: LinePlan): LinePlan['parent'] {
  return line.disks.some((d) => d.read === 'incremental') ? line.parent : line.latest;
}

/** Releases a writer being opened (or opened) for a job that will not run. */
async function abandon(writer: Promise<BackupWriter>): Promise<void> {
  await writer.then(
    (w) => w.abort(),
    () => undefined,
  );
}

/** The disk read whole for `reason`; one already read whole keeps its own reason. */
function asFull(d: DiskDecision, reason: DiskDecision['reason']): DiskDecision {
  return d.read === 'full' ? d : { ...d, read: 'full', reason };
}

function begin(
  vm: Domain,
  line: LinePlan,
  freeze: FreezePlan,
  workRoot: string | undefined,
  host: DataHost,
): Promise<LiveExport> {
  return LiveExport.begin(vm, {
    ...hostJobDir(host),
    disks: line.disks.map((d) => ({
      target: d.target,
      ...(d.read === 'incremental' ? { incremental: line.parentCheckpoint!.name } : {}),
    })),
    checkpoint: {
      name: line.checkpoint,
      description: 'brankas live backup: the next incremental of this line counts from here',
      bitmapDisks: line.disks.filter((d) => d.bitmap).map((d) => d.target),
    },
    around: freeze.around,
    ...(workRoot ? { workRoot } : {}),
  });
}

async function storeDisk(
  writer: BackupWriter,
  ex: LiveExport,
  reader: NbdDiskReader,
  spec: LiveDisk,
  d: DiskDecision,
  facts: Promise<DiskFacts | undefined> | undefined,
  signal: AbortSignal,
): Promise<{ disk: LiveDiskReport; newPlainBytes: number; newStoredBytes: number }> {
  let changedRanges: { offset: number; length: number }[] | undefined;
  let dirtyBytes: number | null = null;
  if (d.read === 'incremental') {
    changedRanges = [];
    dirtyBytes = 0;
    for await (const r of reader.dirtyExtents(bitmapContext(d.target))) {
      changedRanges.push(r);
      dirtyBytes += r.length;
    }
  }
  // The image's creation options, for a restore to recreate it (its header only is read).
  const info = await facts;
  const count = { bytes: 0 };
  const m = await writer.addDisk({
    name: d.target,
    source: counted(ex.source(reader, signal), count),
    ...(changedRanges ? { changedRanges } : {}),
    format: spec.format ?? info?.format ?? null,
    formatOptions: {
      source: spec.source ?? null,
      reader: 'nbd-live',
      ...(info?.qcow2
        ? {
            clusterSize: info.qcow2.clusterSize,
            compat: info.qcow2.compat,
            compressionType: info.qcow2.compressionType,
            lazyRefcounts: info.qcow2.lazyRefcounts,
          }
        : {}),
      backingChain: info?.backingChain ?? [],
    },
  });
  return {
    disk: { ...d, format: m.format, readBytes: count.bytes, dirtyBytes },
    newPlainBytes: m.newPlainBytes,
    newStoredBytes: m.newStoredBytes,
  };
}

/** Deletes the line's checkpoints older than the one just committed; returns their names. */
async function deleteOlder(line: LinePlan): Promise<string[]> {
  const deleted: string[] = [];
  for (const c of line.older) {
    try {
      await c.delete();
      deleted.push(c.name);
    } catch {
      // Already gone; a leftover is deleted by the next backup of the line.
    }
  }
  return deleted;
}
