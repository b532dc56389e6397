/**
 * Opens a VM disk for reading: the native reader for raw and qcow2 (straight
 * from the file), qemu-nbd for anything the native reader declines. The
 * signal, when it fires, stops such a qemu-nbd at once. A disk of a remote
 * host (the connection's data host, remote/host.ts) is read through qemu-nbd
 * on that host, over ssh; its path is never opened here.
 */
import {
  imageHeaderInfo,
  isImageUnsupported,
  openImage,
  type DiskReader,
} from '../../image/index.js';
import { LOCAL, type DataHost } from '../remote/host.js';
import { parseQemuImgInfo, remoteImageInfo, type RemoteImageInfo } from '../remote/files.js';
import { fileStates, type FileState } from './unchanged.js';

export interface OpenedDisk {
  reader: DiskReader;
  via: 'native' | 'qemu-nbd' | 'qemu-nbd-ssh';
}

export async function openDiskForBackup(
  path: string,
  format: string | undefined,
  signal?: AbortSignal,
  host: DataHost = LOCAL,
): Promise<OpenedDisk> {
  if (host.kind === 'ssh') {
    const { openRemoteImageOverNbd } = await import('../../nbd/index.js');
    const reader = await openRemoteImageOverNbd(host.ssh, path, {
      ...(format ? { format } : {}),
      signal,
    });
    return { reader, via: 'qemu-nbd-ssh' };
  }
  const native = format === undefined || format === 'raw' || format === 'qcow2';
  if (native) {
    try {
      const reader = await openImage(path, format ? { format: format as 'raw' | 'qcow2' } : {});
      return { reader, via: 'native' };
    } catch (err) {
      if (!isImageUnsupported(err)) throw err;
    }
  }
  // The NBD client loads only for a disk that needs it (a dozen modules a backup otherwise pays for).
  const { openImageOverNbd } = await import('../../nbd/index.js');
  const reader = await openImageOverNbd(path, { ...(format ? { format } : {}), signal });
  return { reader, via: 'qemu-nbd' };
}

/** What a backup records about a disk's files, stated before they are read. */
export interface DiskFacts {
  format: string | undefined;
  /** The backing files, nearest first. */
  chain: string[];
  qcow2:
    | { clusterSize: number; compat: string; compressionType: unknown; lazyRefcounts: boolean }
    | undefined;
  /** For the unchanged-file check (local regular files only: a remote disk is always read). */
  states: FileState[] | undefined;
}

export async function diskFacts(
  path: string,
  format: string | undefined,
  host: DataHost,
  signal?: AbortSignal,
): Promise<DiskFacts> {
  const known = format === 'raw' || format === 'qcow2' ? format : undefined;
  if (host.kind === 'ssh') {
    return remoteFacts(await remoteImageInfo(host.ssh, path, format, signal));
  }
  const info = await imageHeaderInfo(path, known ? { format: known } : {}).catch(() => undefined);
  // Without the backing chain known, always read.
  const chain = info?.backingChain.map((l) => l.path) ?? [];
  return {
    format: info?.format,
    chain,
    qcow2: info?.qcow2,
    states: info ? await fileStates([path, ...chain]) : undefined,
  };
}

/**
 * A disk opened for reading and its facts, both at once. On a remote host that is one ssh
 * session: qemu-img runs beside qemu-nbd in the session that exports the image, where a
 * session of its own would cost a login on the host (docs/benchmarks.md, "Cold backup over
 * `qemu+ssh://`"). A reader opened is closed again when it fails.
 */
export async function openDiskWithFacts(
  path: string,
  format: string | undefined,
  host: DataHost,
  signal?: AbortSignal,
): Promise<{ opened: OpenedDisk; facts: DiskFacts }> {
  if (host.kind === 'ssh') {
    const { openRemoteImage } = await import('../../nbd/index.js');
    const { reader, imageInfo } = await openRemoteImage(host.ssh, path, {
      ...(format ? { format } : {}),
      signal,
      imageInfo: true,
    });
    let info: RemoteImageInfo | undefined;
    try {
      info = imageInfo === undefined ? undefined : parseQemuImgInfo(imageInfo);
    } catch {
      // What qemu-img could not say is not recorded, as when it fails (remoteImageInfo).
    }
    return { opened: { reader, via: 'qemu-nbd-ssh' }, facts: remoteFacts(info) };
  }
  const [facts, opened] = await Promise.allSettled([
    diskFacts(path, format, host, signal),
    openDiskForBackup(path, format, signal, host),
  ]);
  if (facts.status === 'rejected') {
    if (opened.status === 'fulfilled') await opened.value.reader.close().catch(() => undefined);
    throw facts.reason;
  }
  if (opened.status === 'rejected') throw opened.reason;
  return { opened: opened.value, facts: facts.value };
}

function remoteFacts(info: RemoteImageInfo | undefined): DiskFacts {
  return {
    format: info?.format,
    chain: info?.backingChain ?? [],
    qcow2: info?.qcow2,
    states: undefined,
  };
}
