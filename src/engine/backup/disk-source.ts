/**
 * Opens a VM disk for reading: the native reader for raw and qcow2 (straight
 * from the file), qemu-nbd for anything the native reader declines. The
 * signal, when it fires, stops such a qemu-nbd at once.
 */
import { isImageUnsupported, openImage, type DiskReader } from '../../image/index.js';
import { openImageOverNbd } from '../../nbd/index.js';

export interface OpenedDisk {
  reader: DiskReader;
  via: 'native' | 'qemu-nbd';
}

export async function openDiskForBackup(
  path: string,
  format: string | undefined,
  signal?: AbortSignal,
): Promise<OpenedDisk> {
  const native = format === undefined || format === 'raw' || format === 'qcow2';
  if (native) {
    try {
      const reader = await openImage(path, format ? { format: format as 'raw' | 'qcow2' } : {});
      return { reader, via: 'native' };
    } catch (err) {
      if (!isImageUnsupported(err)) throw err;
    }
  }
  const reader = await openImageOverNbd(path, { ...(format ? { format } : {}), signal });
  return { reader, via: 'qemu-nbd' };
}
