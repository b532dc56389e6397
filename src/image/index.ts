/**
 * src/image: offline disk images read natively, straight from the file (raw
 * and qcow2 with backing chains), as the same stream of extents and bytes the
 * NBD client yields for live disks.
 */
export type { DiskReader, Extent, ExtentKind, ExtentRange } from './types.js';
export { openImage, type ImageFormat, type ImageReader, type OpenImageOptions } from './open.js';
export {
  imageHeaderInfo,
  imageInfo,
  type ImageHeaderInfo,
  type ImageInfo,
  type LayerInfo,
  type Qcow2Details,
} from './info.js';
export {
  alignExtents,
  allocatedBytes,
  chunkExtents,
  clipExtents,
  ExtentOrderError,
  mergeExtents,
  type Extents,
} from './extents.js';
export {
  IMAGE_CLOSED,
  IMAGE_CORRUPT,
  IMAGE_IO,
  IMAGE_NOT_FOUND,
  IMAGE_RANGE,
  IMAGE_UNSUPPORTED,
  ImageClosedError,
  ImageCorruptError,
  ImageError,
  ImageIoError,
  ImageRangeError,
  ImageUnsupportedError,
  isImageCorrupt,
  isImageUnsupported,
} from './errors.js';
export { RawReader } from './raw.js';
export { Qcow2Reader } from './qcow2.js';
export type { InternalSnapshot } from './qcow2-snapshots.js';
export { nativeFileOps, type NativeFileOps } from './native.js';
export {
  IMAGE_WRITER_OPTIONS,
  ImageWriterClosedError,
  ImageWriterOptionsError,
  isImageWriterOptions,
  type CommonWriterOptions,
  type DiskWriter,
  type WriteMode,
  type WriterFormat,
} from './writer.js';
export { createWriter, type CreateWriterOptions } from './writer-open.js';
export { copyDisk, type CopyDiskOptions, type CopyDiskResult } from './writer-copy.js';
export { RawWriter, type RawWriterOptions } from './raw-writer.js';
export { Qcow2Writer, type Qcow2Compat, type Qcow2WriterOptions } from './qcow2-writer.js';
export { IMAGE_WRITER_BUSY, ImageWriterBusyError } from './writer.js';
export {
  readDirtyRanges,
  readQcow2Bitmaps,
  type BitmapDirectory,
  type DirtyRange,
  type Qcow2Bitmap,
} from './qcow2-bitmaps.js';
