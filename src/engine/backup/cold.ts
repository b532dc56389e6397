/**
 * Cold backup (the seed's Tugas 2), made safe: shut the VM down and wait
 * until it is really off, save its domain XML and the boot files it refers
 * to, store every disk in the repository reading only allocated data
 * (flattened across any backing chain, with the qcow2 creation options
 * recorded), then start the VM again if it was running: always, also when
 * the backup failed or was interrupted. A VM found off stays off.
 */
import { readFile, stat } from 'node:fs/promises';
import { DomainXml, readDomainXml, type Connection } from '../../libvirt/index.js';
import { imageInfo } from '../../image/index.js';
import type { Repository } from '../../repo/repository.js';
import { BackupWriter, type WriteProgress } from '../../repo/writer.js';
import type { Manifest } from '../../repo/manifest.js';
import { bufferSource, type ExtentSource } from '../../repo/source.js';
import { findVm } from '../snapshot/tree.js';
import { EngineError } from '../errors.js';
import { ensureShutOff, restorePower, type PowerEvent, type PowerPlan } from './power.js';
import { openDiskForBackup } from './disk-source.js';

export interface ColdBackupOptions {
  shutdownTimeoutMs?: number;
  forceOffAfterTimeout?: boolean;
  /** Aborting stops the copy; the VM is still started again. */
  signal?: AbortSignal;
  onPower?: (e: PowerEvent) => void;
  onProgress?: (p: WriteProgress) => void;
}

export interface ColdBackupResult {
  manifest: Manifest;
  power: PowerPlan;
  /** Bytes read from the disks (allocated data only). */
  readBytes: number;
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
  });
  let writer: BackupWriter | undefined;
  try {
    writer = await BackupWriter.start(
      repo,
      { vm: { name: vm.name, uuid: vm.uuid }, domainXml, method: 'cold' },
      { onProgress: o.onProgress },
    );
    let readBytes = 0;
    let newPlainBytes = 0;
    let newStoredBytes = 0;
    for (const d of disks) {
      o.signal?.throwIfAborted();
      const info = await imageInfo(
        d.source!,
        d.format === 'raw' || d.format === 'qcow2' ? { format: d.format } : {},
      ).catch(() => undefined);
      const { reader, via } = await openDiskForBackup(d.source!, d.format);
      try {
        const m = await writer.addDisk({
          name: d.target,
          source: abortable(reader, o.signal),
          format: d.format ?? info?.format ?? null,
          formatOptions: {
            source: d.source,
            reader: via,
            ...(info?.qcow2
              ? {
                  clusterSize: info.qcow2.clusterSize,
                  compat: info.qcow2.compat,
                  compressionType: info.qcow2.compressionType,
                  lazyRefcounts: info.qcow2.lazyRefcounts,
                }
              : {}),
            backingChain: info?.backingChain.map((l) => l.path) ?? [],
          },
        });
        readBytes += m.dataBytes;
        newPlainBytes += m.newPlainBytes;
        newStoredBytes += m.newStoredBytes;
      } finally {
        await reader.close();
      }
    }
    // Boot files the XML names (kernel, initrd, NVRAM...) travel with the backup.
    for (const f of facts.bootFiles) {
      o.signal?.throwIfAborted();
      const st = await stat(f.path).catch(() => undefined);
      if (!st?.isFile()) continue;
      const m = await writer.addDisk({
        name: `boot-${f.kind}`,
        source: bufferSource(await readFile(f.path)),
        format: 'file',
        formatOptions: { path: f.path, kind: f.kind, mode: st.mode & 0o7777 },
      });
      readBytes += m.dataBytes;
      newPlainBytes += m.newPlainBytes;
      newStoredBytes += m.newStoredBytes;
    }
    o.signal?.throwIfAborted();
    const manifest = await writer.commit();
    writer = undefined;
    return {
      manifest,
      power,
      readBytes,
      dedupBytes: Math.max(0, readBytes - newPlainBytes),
      newStoredBytes,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    // Never a partial backup: without a manifest it does not exist.
    await writer?.abort();
    await restorePower(vm, power, o.onPower);
  }
}
