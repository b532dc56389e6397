/**
 * Cold backup (the seed's Tugas 2), made safe: shut the VM down and wait
 * until it is really off, save its domain XML and the boot files it refers
 * to, store every disk in the repository reading only allocated data
 * (flattened across any backing chain, with the qcow2 creation options
 * recorded), then start the VM again if it was running: always, also when
 * the backup failed or was interrupted. A VM found off stays off. Files not
 * modified since the VM's previous backup are not read again (unchanged.ts).
 */
import { DomainXml, readDomainXml, type Connection } from '../../libvirt/index.js';
import type { Repository } from '../../repo/repository.js';
import { BackupWriter, type WriteProgress } from '../../repo/writer.js';
import type { Manifest } from '../../repo/manifest.js';
import type { ExtentSource } from '../../repo/source.js';
import { findVm } from '../snapshot/tree.js';
import { EngineError } from '../errors.js';
import {
  ensureShutOff,
  restorePower,
  type PowerChangeFn,
  type PowerEvent,
  type PowerPlan,
} from './power.js';
import { openDiskWithFacts } from './disk-source.js';
import { unchangedSince } from './unchanged.js';
import { dataHostOf } from '../remote/host.js';
import { addBootFiles } from './boot-files.js';
import {
  keepParentCheckpoint,
  leaveCheckpoint,
  lineFacts,
  offlineRecord,
  planOffline,
  type OfflineDecision,
} from './offline.js';

export interface ColdBackupOptions {
  shutdownTimeoutMs?: number;
  forceOffAfterTimeout?: boolean;
  /** Aborting stops the copy; the VM is still started again. */
  signal?: AbortSignal;
  onPower?: (e: PowerEvent) => void;
  /**
   * Awaited before the VM is asked to stop and once it is back as found, so
   * the caller can keep a record a killed process leaves behind.
   */
  onPowerChange?: PowerChangeFn;
  onProgress?: (p: WriteProgress) => void;
  /** Read every file even when it is unchanged since the previous backup. */
  reread?: boolean;
}

export interface ColdBackupResult {
  manifest: Manifest;
  power: PowerPlan;
  /** Bytes read from the disks (allocated data only). */
  readBytes: number;
  /** The previous backup of the VM, which unchanged files were taken from. */
  parent: string | null;
  /** Disks and boot files whose files were unchanged since `parent`: not read. */
  unchangedDisks: string[];
  /** Their data bytes, taken over from `parent` without reading. */
  unchangedBytes: number;
  /** Data read that the repository already held (stored once, referenced again). */
  dedupBytes: number;
  newStoredBytes: number;
  seconds: number;
  /** Offline incremental: how each disk was read and why (docs/offline-incremental.md). */
  disks: ColdDiskReport[];
  /** The checkpoint the incremental disks' bitmaps counted from. */
  parentCheckpoint: string | null;
  /** The checkpoint was the parent's, kept (nothing written since). */
  keptCheckpoint: boolean;
  /** The checkpoint left for the next backup (null: none, see checkpointError). */
  checkpoint: string | null;
  /** Why no checkpoint could be left (the backup stands; the next one reads whole). */
  checkpointError: string | null;
  deletedCheckpoints: string[];
}

export interface ColdDiskReport extends Omit<OfflineDecision, 'ranges'> {
  /** Bytes read from the image (0 when its file was unchanged). */
  readBytes: number;
  /** Bytes the bitmap marked dirty (incremental disks). */
  dirtyBytes: number | null;
}

/** A disk source that stops reading once the signal fires, and counts the bytes read. */
function abortable(
  src: ExtentSource,
  signal: AbortSignal | undefined,
  count: { bytes: number },
): ExtentSource {
  return {
    virtualSize: src.virtualSize,
    extents: () => src.extents(),
    read: (offset, length) => {
      signal?.throwIfAborted();
      count.bytes += length;
      return src.read(offset, length);
    },
    ...(src.readInto
      ? {
          readInto: (target: Buffer, at: number, offset: number, length: number) => {
            signal?.throwIfAborted();
            count.bytes += length;
            return src.readInto!(target, at, offset, length);
          },
        }
      : {}),
  };
}

export async function coldBackup(
  conn: Connection,
  repo: Repository,
  vmName: string,
  o: ColdBackupOptions = {},
): Promise<ColdBackupResult> {
  const vm = await findVm(conn, vmName);
  const started = Date.now();
  // The XML of the VM as it is defined (not the running instance), without secrets.
  const domainXml = await vm.xml(DomainXml.INACTIVE);
  const facts = readDomainXml(domainXml);
  // Where the disks are read: here, or on the connection's host over ssh (never guessed from paths).
  const host = dataHostOf(conn);
  const disks = facts.disks.filter((d) => d.device === 'disk' && d.source !== undefined);
  if (disks.some((d) => d.type !== 'file' && d.type !== 'block')) {
    throw new EngineError(
      'BACKUP_UNSUPPORTED_DISK',
      `VM '${vm.name}' has a disk brankas cannot read offline (network or volume disks)`,
      { details: { vm: vm.name } },
    );
  }
  // libvirt's side of the offline incremental, asked while nothing waits on it.
  const lineState = await lineFacts(vm, repo, host.kind === 'local' ? 'local' : 'remote');
  const power = await ensureShutOff(vm, {
    timeoutMs: o.shutdownTimeoutMs ?? 120_000,
    forceOffAfterTimeout: o.forceOffAfterTimeout ?? false,
    signal: o.signal,
    onEvent: o.onPower,
    onChange: o.onPowerChange,
  });
  let writer: BackupWriter | undefined;
  try {
    const offDisks = disks.map((d) => ({ target: d.target, format: d.format, source: d.source! }));
    const line = await planOffline(lineState, repo, offDisks, o.reread ?? false);
    // Bitmaps count from the line parent's checkpoint: then it is the writer's parent.
    const previous = o.reread
      ? undefined
      : line.disks.some((d) => d.read === 'incremental')
        ? line.parent
        : lineState.latest;
    const readByDisk = new Map<string, number>();
    writer = await BackupWriter.start(
      repo,
      {
        vm: { name: vm.name, uuid: vm.uuid },
        domainXml,
        method: 'cold',
        parent: previous?.id ?? null,
      },
      { onProgress: o.onProgress },
    );
    const unchangedDisks: string[] = [];
    let unchangedBytes = 0;
    let readBytes = 0;
    let newPlainBytes = 0;
    let newStoredBytes = 0;
    for (const d of disks) {
      o.signal?.throwIfAborted();
      // The reader and the image's facts at once (one ssh session on a remote host).
      const { opened, facts: info } = await openDiskWithFacts(d.source!, d.format, host, o.signal);
      const { reader, via } = opened;
      const same = unchangedSince(previous, d.target, info.states);
      try {
        const unchanged = same !== undefined && same.virtualSize === reader.virtualSize;
        const dirty = line.disks.find((x) => x.target === d.target)?.ranges;
        const count = { bytes: 0 };
        const m = await writer.addDisk({
          name: d.target,
          source: abortable(reader, o.signal, count),
          ...(unchanged ? { changedRanges: [] } : dirty ? { changedRanges: dirty } : {}),
          format: d.format ?? info.format ?? null,
          formatOptions: {
            source: d.source,
            reader: via,
            ...(info.qcow2
              ? {
                  clusterSize: info.qcow2.clusterSize,
                  compat: info.qcow2.compat,
                  compressionType: info.qcow2.compressionType,
                  lazyRefcounts: info.qcow2.lazyRefcounts,
                }
              : {}),
            backingChain: info.chain,
            ...(info.states ? { fileState: info.states } : {}),
          },
        });
        readByDisk.set(d.target, unchanged ? 0 : dirty ? count.bytes : m.dataBytes);
        if (unchanged) {
          unchangedDisks.push(d.target);
          unchangedBytes += m.dataBytes;
        } else readBytes += readByDisk.get(d.target)!;
        newPlainBytes += m.newPlainBytes;
        newStoredBytes += m.newStoredBytes;
      } finally {
        await reader.close();
      }
    }
    // Boot files the XML names (kernel, initrd, NVRAM...) travel with the backup.
    const files = await addBootFiles(writer, facts.bootFiles, previous, o.signal, host);
    unchangedDisks.push(...files.unchanged);
    unchangedBytes += files.unchangedBytes;
    readBytes += files.readBytes;
    newPlainBytes += files.newPlainBytes;
    newStoredBytes += files.newStoredBytes;
    o.signal?.throwIfAborted();
    const withLine = line.disks.some((d) => d.bitmap);
    const next = keepParentCheckpoint(line);
    const manifest = await writer.commit({
      fields: {
        mode: 'cold',
        consistency: 'shut-down',
        ...(withLine ? { live: offlineRecord(next, offDisks, readByDisk) } : {}),
      },
    });
    writer = undefined;
    // Before the VM may run again: the bitmaps must see every write from here on.
    let checkpointError: string | null = null;
    let deletedCheckpoints: string[] = [];
    if (withLine && !next.kept) {
      try {
        deletedCheckpoints = await leaveCheckpoint(vm, next, offDisks);
      } catch (err) {
        checkpointError = err instanceof Error ? err.message : String(err);
      }
    }
    return {
      manifest,
      power,
      readBytes,
      parent: previous?.id ?? null,
      unchangedDisks,
      unchangedBytes,
      dedupBytes: Math.max(0, readBytes - newPlainBytes),
      newStoredBytes,
      seconds: (Date.now() - started) / 1000,
      disks: line.disks.map(({ ranges, ...d }) => ({
        ...d,
        readBytes: readByDisk.get(d.target) ?? 0,
        dirtyBytes: ranges ? ranges.reduce((n, r) => n + r.length, 0) : null,
      })),
      parentCheckpoint: line.disks.some((d) => d.read === 'incremental')
        ? line.parentCheckpoint
        : null,
      keptCheckpoint: withLine && next.kept,
      checkpoint: withLine && checkpointError === null ? next.checkpoint : null,
      checkpointError,
      deletedCheckpoints,
    };
  } finally {
    // Never a partial backup: without a manifest it does not exist.
    await writer?.abort();
    await restorePower(vm, power, o.onPower, o.onPowerChange);
  }
}
