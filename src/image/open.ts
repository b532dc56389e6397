/**
 * openImage: a DiskReader for an image file and its whole backing chain. The
 * format is probed only when the caller does not name it: a raw guest disk can
 * hold anything in its first sector, including a qcow2 header, so "raw" is
 * never second-guessed. Other formats QEMU knows are refused as unsupported
 * rather than read as raw; backing chains that loop are refused as corrupt.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { ImageCorruptError, ImageUnsupportedError } from './errors.js';
import { canonicalPath, ImageFile } from './file.js';
import { Qcow2Reader, type Qcow2Options } from './qcow2.js';
import { assertSupported, checkLayout, QCOW2_MAGIC, readQcow2Header } from './qcow2-header.js';
import { RawReader, type RawOpenOptions } from './raw.js';
import type { ImageLayer } from './reader.js';

export type ImageFormat = 'raw' | 'qcow2';

export interface OpenImageOptions extends Qcow2Options, RawOpenOptions {
  /** The format of the top file; probed when absent. Backing files follow their headers. */
  format?: ImageFormat;
}

export type ImageReader = RawReader | Qcow2Reader;

/** First bytes of formats QEMU would recognize: never read those as raw by accident. */
const OTHER_FORMATS: { name: string; magic: Buffer; at?: number }[] = [
  { name: 'qed', magic: Buffer.from('QED\0', 'latin1') },
  { name: 'qcow (version 1)', magic: Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 1]) },
  { name: 'vmdk', magic: Buffer.from('KDMV', 'latin1') },
  { name: 'vmdk (descriptor)', magic: Buffer.from('# Disk DescriptorFile', 'latin1') },
  { name: 'vhdx', magic: Buffer.from('vhdxfile', 'latin1') },
  { name: 'vpc', magic: Buffer.from('conectix', 'latin1') },
  { name: 'luks', magic: Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]) },
  { name: 'vdi', magic: Buffer.from([0x7f, 0x10, 0xda, 0xbe]), at: 64 },
  { name: 'parallels', magic: Buffer.from('WithoutFreeSpace', 'latin1') },
  { name: 'parallels', magic: Buffer.from('WithouFreSpacExt', 'latin1') },
];

/** Backing file names QEMU would hand to a network or special protocol driver. */
const PROTOCOL_PREFIX =
  /^(json|nbd|nbds|nbd\+[a-z]+|rbd|iscsi|iser|gluster|gluster\+[a-z]+|https?|ftps?|ssh|nfs|host_device|host_cdrom|vxhs|null-co|null-aio|blkdebug|blkverify|throttle|quorum|fat|vvfat):/;

export async function openImage(
  path: string,
  options: OpenImageOptions = {},
): Promise<ImageReader> {
  return openLayer(path, options.format, options, []);
}

async function openLayer(
  path: string,
  format: string | undefined,
  options: OpenImageOptions,
  chain: string[],
): Promise<ImageReader> {
  const real = await canonicalPath(path);
  if (chain.includes(real)) {
    throw new ImageCorruptError(path, `backing chain loops: ${[...chain, real].join(' -> ')}`);
  }
  const file = await ImageFile.open(path);
  let owned = true;
  try {
    const kind = format ?? (await probe(file));
    if (kind === 'raw') {
      owned = false;
      return RawReader.fromFile(file, options);
    }
    if (kind !== 'qcow2') throw new ImageUnsupportedError(path, `image format ${kind}`);
    const header = await readQcow2Header(file);
    // Refuse before touching the backing chain, so the error names the real reason.
    assertSupported(path, header);
    checkLayout(file, header);
    let backing: ImageReader | undefined;
    if (header.backingFile !== undefined && header.backingFile !== '') {
      backing = await openLayer(
        backingPath(path, header.backingFile),
        header.backingFormat,
        { ...options, format: undefined },
        [...chain, real],
      );
    }
    try {
      const reader = await Qcow2Reader.fromFile(file, header, backing, options);
      owned = false;
      return reader;
    } catch (err) {
      await backing?.close();
      throw err;
    }
  } finally {
    if (owned) await file.close();
  }
}

async function probe(file: ImageFile): Promise<string> {
  const head = await file.readUpTo(0, 512);
  if (head.length >= 8 && head.readUInt32BE(0) === QCOW2_MAGIC && head.readUInt32BE(4) >= 2) {
    return 'qcow2';
  }
  for (const { name, magic, at = 0 } of OTHER_FORMATS) {
    if (head.length >= at + magic.length && head.subarray(at, at + magic.length).equals(magic)) {
      return name;
    }
  }
  return 'raw';
}

/** Relative backing names are relative to the directory of the image naming them. */
function backingPath(imagePath: string, name: string): string {
  if (name.startsWith('file:')) name = name.slice('file:'.length);
  else if (PROTOCOL_PREFIX.test(name)) {
    throw new ImageUnsupportedError(imagePath, `backing file over a protocol (${name})`);
  }
  return isAbsolute(name) ? name : resolve(dirname(imagePath), name);
}

export type { ImageLayer };
