/**
 * What a backup records about an image file so a restore can recreate the same
 * kind of file: format, sizes (virtual, apparent, allocated on the host, data
 * the guest wrote), backing chain, internal snapshots, and for qcow2 the
 * cluster size, version and features.
 */
import { allocatedBytes } from './extents.js';
import { openImage, type OpenImageOptions } from './open.js';
import { featureList, hasLazyRefcounts, type CompressionType } from './qcow2-header.js';
import type { InternalSnapshot } from './qcow2-snapshots.js';
import { Qcow2Reader } from './qcow2.js';
import type { ImageLayer } from './reader.js';

export interface Qcow2Details {
  version: 2 | 3;
  /** As qemu-img names it: '0.10' for version 2, '1.1' for version 3. */
  compat: '0.10' | '1.1';
  clusterSize: number;
  compressionType: CompressionType | number;
  refcountBits: number;
  lazyRefcounts: boolean;
  /** The backing file name exactly as recorded in the header. */
  backingFile: string | undefined;
  backingFormat: string | undefined;
  features: { incompatible: string[]; compatible: string[]; autoclear: string[] };
}

export interface LayerInfo {
  path: string;
  format: string;
  virtualSize: number;
  /** stat.size. */
  fileSize: number;
  /** stat.blocks * 512: what the file occupies on the host. */
  allocatedSize: number;
}

export interface ImageInfo extends LayerInfo {
  /** Bytes the guest sees as data, across the whole backing chain (what a backup reads). */
  dataSize: number;
  /** The files below this one, nearest first. */
  backingChain: LayerInfo[];
  snapshots: InternalSnapshot[];
  qcow2: Qcow2Details | undefined;
}

function layerInfo(layer: ImageLayer): LayerInfo {
  return {
    path: layer.path,
    format: layer.format,
    virtualSize: layer.virtualSize,
    fileSize: layer.file.size,
    allocatedSize: layer.file.allocatedSize,
  };
}

/** What imageInfo says but the data size: no walk of the allocation, only headers and tables. */
export type ImageHeaderInfo = Omit<ImageInfo, 'dataSize'>;

/**
 * The image's format, sizes, backing chain, snapshots and qcow2 details, without the data
 * size: what a backup records of a disk. A 10 GiB qcow2 holding 1 GiB answers in about 3 ms
 * against 28 for imageInfo, which walks every L2 table for the data size.
 */
export async function imageHeaderInfo(
  path: string,
  options: OpenImageOptions = {},
): Promise<ImageHeaderInfo> {
  const reader = await openImage(path, options);
  try {
    return await describe(reader);
  } finally {
    await reader.close();
  }
}

export async function imageInfo(path: string, options: OpenImageOptions = {}): Promise<ImageInfo> {
  const reader = await openImage(path, options);
  try {
    const { backingChain, snapshots, qcow2, ...layer } = await describe(reader);
    const dataSize = await allocatedBytes(reader.extents());
    return { ...layer, dataSize, backingChain, snapshots, qcow2 };
  } finally {
    await reader.close();
  }
}

async function describe(reader: Awaited<ReturnType<typeof openImage>>): Promise<ImageHeaderInfo> {
  const backingChain: LayerInfo[] = [];
  for (let layer = reader.backing; layer !== undefined; layer = layer.backing) {
    backingChain.push(layerInfo(layer));
  }
  let qcow2: Qcow2Details | undefined;
  let snapshots: InternalSnapshot[] = [];
  if (reader instanceof Qcow2Reader) {
    const h = reader.header;
    snapshots = await reader.snapshots();
    qcow2 = {
      version: h.version,
      compat: h.version === 2 ? '0.10' : '1.1',
      clusterSize: h.clusterSize,
      compressionType: h.compressionType,
      refcountBits: h.refcountBits,
      lazyRefcounts: hasLazyRefcounts(h),
      backingFile: h.backingFile,
      backingFormat: h.backingFormat,
      features: featureList(h),
    };
  }
  return { ...layerInfo(reader), backingChain, snapshots, qcow2 };
}
