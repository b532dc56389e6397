/**
 * The fallback path of the disk data plane: any image QEMU can read (an
 * encrypted or compressed qcow2, vmdk, vhdx... whatever the native reader
 * declines) exported read-only by a private qemu-nbd and read over NBD. The
 * reader's close() stops qemu-nbd.
 */
import { CONTEXT_ALLOCATION_DEPTH, dirtyBitmapContext } from './constants.js';
import { QemuNbd, type QemuNbdOptions } from './qemu-nbd.js';
import { NbdDiskReader, type NbdDiskReaderOptions } from './reader.js';

export interface OpenImageOptions extends Omit<
  QemuNbdOptions,
  'image' | 'readOnly' | 'allocationDepth'
> {
  /** Passed on to the reader (its window size); `format` defaults to the image's. */
  reader?: Omit<NbdDiskReaderOptions, 'onClose' | 'ownsClient'>;
}

export async function openImageOverNbd(
  image: string,
  options: OpenImageOptions = {},
): Promise<NbdDiskReader> {
  // Allocation depth tells zero clusters from unallocated ones, as qemu-img map does.
  const server = await QemuNbd.start({ ...options, image, readOnly: true, allocationDepth: true });
  try {
    const metaContexts = [
      CONTEXT_ALLOCATION_DEPTH,
      ...(options.bitmaps ?? []).map(dirtyBitmapContext),
    ];
    return await NbdDiskReader.open(
      { ...server.target, metaContexts },
      {
        format: options.format ?? 'raw',
        ...options.reader,
        onClose: () => server.stop(),
      },
    );
  } catch (err) {
    await server.stop();
    throw err;
  }
}
