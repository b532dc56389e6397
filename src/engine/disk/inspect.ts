/**
 * What a disk image costs, measured four ways: the size the guest sees
 * (virtual), what `ls -l` shows (apparent file size), what `du` shows (space
 * allocated on the host), and the data actually written, read from the
 * allocation map across the whole backing chain. The last is what a brankas
 * backup reads. Images the native reader declines go to qemu-nbd; a disk that
 * cannot be read at all is reported with its error, not thrown.
 */
import { stat } from 'node:fs/promises';
import {
  allocatedBytes,
  imageInfo,
  isImageUnsupported,
  type ImageFormat,
  type LayerInfo,
} from '../../image/index.js';
import { openImageOverNbd } from '../../nbd/index.js';
import { readDomainXml, type Connection, type Domain } from '../../libvirt/index.js';
import { errorCode, errorMessage } from '../../util/errors.js';

export interface DiskSnapshotFacts {
  id: string;
  name: string;
  /** ISO 8601. */
  date: string;
  /** Bytes of saved VM state (RAM and devices); 0 for disk-only snapshots. */
  vmStateSize: number;
}

export interface ImageFacts {
  path: string;
  format: string;
  /** Bytes the guest sees. */
  virtualSize: number;
  /** stat.size: what `ls -l` shows. */
  apparentSize: number;
  /** stat.blocks * 512: what `du` shows, space taken on the host. */
  allocatedSize: number;
  /** Bytes holding data in the allocation map, every layer of the chain flattened. */
  dataWritten: number;
  /** What a brankas backup of this disk reads: the data written, never the holes. */
  backupReads: number;
  /** Files below this one, nearest first (undefined when read through qemu-nbd). */
  backingChain: LayerInfo[] | undefined;
  /** qcow2 internal snapshots (undefined when read through qemu-nbd). */
  snapshots: DiskSnapshotFacts[] | undefined;
  /** How the image was read: natively, or through qemu-nbd for formats the native reader declines. */
  reader: 'native' | 'qemu-nbd';
  /** Why the native reader declined, when it did. */
  fallbackReason: string | undefined;
}

export interface InspectOptions {
  /** The format the image is known to have (a VM's disk XML says so); probed otherwise. */
  format?: string;
  /** Stops a qemu-nbd started for an image the native reader declines, at once, when fired. */
  signal?: AbortSignal;
}

/** Measures one image file. Throws image or NBD errors. */
export async function inspectImage(
  path: string,
  options: InspectOptions = {},
): Promise<ImageFacts> {
  const native: ImageFormat | undefined =
    options.format === 'raw' || options.format === 'qcow2' ? options.format : undefined;
  let reason: string;
  if (options.format === undefined || native !== undefined) {
    try {
      const info = await imageInfo(path, native ? { format: native } : {});
      return {
        path: info.path,
        format: info.format,
        virtualSize: info.virtualSize,
        apparentSize: info.fileSize,
        allocatedSize: info.allocatedSize,
        dataWritten: info.dataSize,
        backupReads: info.dataSize,
        backingChain: info.backingChain,
        snapshots: info.snapshots.map((s) => ({
          id: s.id,
          name: s.name,
          date: s.date.toISOString(),
          vmStateSize: s.vmStateSize,
        })),
        reader: 'native',
        fallbackReason: undefined,
      };
    } catch (err) {
      if (!isImageUnsupported(err)) throw err;
      reason = err.feature;
    }
  } else {
    reason = `image format ${options.format}`;
  }
  const format = options.format ?? /^image format (\S+)$/.exec(reason)?.[1];
  return inspectOverNbd(path, format, reason, options.signal);
}

async function inspectOverNbd(
  path: string,
  format: string | undefined,
  reason: string,
  signal: AbortSignal | undefined,
): Promise<ImageFacts> {
  const st = await stat(path);
  const reader = await openImageOverNbd(path, { ...(format ? { format } : {}), signal });
  try {
    const data = await allocatedBytes(reader.extents());
    return {
      path,
      format: format ?? 'unknown',
      virtualSize: reader.virtualSize,
      apparentSize: st.size,
      allocatedSize: st.blocks * 512,
      dataWritten: data,
      backupReads: data,
      backingChain: undefined,
      snapshots: undefined,
      reader: 'qemu-nbd',
      fallbackReason: reason,
    };
  } finally {
    await reader.close();
  }
}

export interface VmDiskFacts {
  target: string;
  device: string;
  /** The host path, as the domain XML (or its storage volume) names it. */
  source: string;
  /** The format the domain XML declares. */
  declaredFormat: string | undefined;
  /** The measurements, or why they could not be taken. */
  image: ImageFacts | undefined;
  error: { code: string; message: string } | undefined;
}

export interface SkippedDisk {
  target: string;
  device: string;
  reason: 'cdrom' | 'floppy' | 'empty' | 'network';
}

export interface VmDisksReport {
  vm: string;
  disks: VmDiskFacts[];
  skipped: SkippedDisk[];
}

/** Measures every disk of a VM (CD-ROMs, floppies, empty and network disks are skipped). */
export async function inspectVmDisks(
  conn: Connection,
  vm: Domain,
  options: Pick<InspectOptions, 'signal'> = {},
): Promise<VmDisksReport> {
  const facts = readDomainXml(await vm.xml());
  const disks: VmDiskFacts[] = [];
  const skipped: SkippedDisk[] = [];
  for (const d of facts.disks) {
    const base = { target: d.target, device: d.device };
    if (d.device === 'cdrom' || d.device === 'floppy') {
      skipped.push({ ...base, reason: d.device });
      continue;
    }
    if (d.type === 'network') {
      skipped.push({ ...base, reason: 'network' });
      continue;
    }
    let source = d.source;
    let error: VmDiskFacts['error'];
    if (source === undefined && d.volume) {
      try {
        const pool = await conn.lookupStoragePool(d.volume.pool);
        source = await (await pool.lookupVolume(d.volume.volume)).path();
      } catch (err) {
        source = `${d.volume.pool}/${d.volume.volume}`;
        error = { code: errorCode(err) ?? 'INTERNAL', message: errorMessage(err) };
      }
    }
    if (source === undefined) {
      skipped.push({ ...base, reason: 'empty' });
      continue;
    }
    let image: ImageFacts | undefined;
    if (!error) {
      try {
        image = await inspectImage(source, {
          ...(d.format ? { format: d.format } : {}),
          ...options,
        });
      } catch (err) {
        error = { code: errorCode(err) ?? 'INTERNAL', message: errorMessage(err) };
      }
    }
    disks.push({ ...base, source, declaredFormat: d.format, image, error });
  }
  return { vm: vm.name, disks, skipped };
}
