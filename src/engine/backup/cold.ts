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
import { diskFacts, openDiskForBackup } from './disk-source.js';
import { previousBackup, unchangedSince } from './unchanged.js';
import { dataHostOf } from '../remote/host.js';
import { addBootFiles } from './boot-files.js';

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
}

/** A disk source that stops reading once the signal fires. */
function abortable(src: ExtentSource, signal: AbortSignal | undefined): ExtentSource {
  if (!signal) return src;
  return {
    virtualSize: src.virtualSize,
    extents: () => src.extents(),
    read: (offset, length) => {
      signal.throwIfAborted();
      return src.read(offset, length);
    },
    ...(src.readInto
      ? {
          readInto: (target: Buffer, at: number, offset: number, length: number) => {
            signal.throwIfAborted();
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
  const power = await ensureShutOff(vm, {
    timeoutMs: o.shutdownTimeoutMs ?? 120_000,
    forceOffAfterTimeout: o.forceOffAfterTimeout ?? false,
    signal: o.signal,
    onEvent: o.onPower,
    onChange: o.onPowerChange,
  });
  let writer: BackupWriter | undefined;
  try {
    const previous = o.reread
      ? undefined
      : await previousBackup(repo, { name: vm.name, uuid: vm.uuid });
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
      const info = await diskFacts(d.source!, d.format, host, o.signal);
      const same = unchangedSince(previous, d.target, info.states);
      const { reader, via } = await openDiskForBackup(d.source!, d.format, o.signal, host);
      try {
        const unchanged = same !== undefined && same.virtualSize === reader.virtualSize;
        const m = await writer.addDisk({
          name: d.target,
          source: abortable(reader, o.signal),
          ...(unchanged ? { changedRanges: [] } : {}),
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
        if (unchanged) {
          unchangedDisks.push(d.target);
          unchangedBytes += m.dataBytes;
        } else readBytes += m.dataBytes;
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
    const manifest = await writer.commit({
      fields: { mode: 'cold', consistency: 'shut-down' },
    });
    writer = undefined;
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
    };
  } finally {
    // Never a partial backup: without a manifest it does not exist.
    await writer?.abort();
    await restorePower(vm, power, o.onPower, o.onPowerChange);
  }
}
