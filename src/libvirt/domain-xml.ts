/**
 * Reads the facts brankas needs out of a domain's XML: its disks (target,
 * device, source, format, backing chain as libvirt reports it), its boot
 * files and its network interfaces. Read-only; editing lives with the
 * engines that need it.
 */
import { attr, child, children, parseXml, text, type Element } from '../util/xml.js';

export interface DiskSpec {
  /** Guest device name, e.g. "vda". */
  target: string;
  bus: string | undefined;
  /** disk, cdrom, floppy, lun */
  device: string;
  /** file, block, network, volume, dir */
  type: string;
  /** The image format libvirt was told (qcow2, raw...), if any. */
  format: string | undefined;
  /** Host path (file or block device), or undefined for network/empty sources. */
  source: string | undefined;
  /** For type="volume": the pool and volume names. */
  volume: { pool: string; volume: string } | undefined;
  readOnly: boolean;
  shareable: boolean;
  /** Backing chain under the source, as libvirt reports it (top first). */
  backingChain: Array<{ source: string | undefined; format: string | undefined }>;
}

export interface DomainXmlFacts {
  name: string;
  uuid: string | undefined;
  type: string | undefined;
  disks: DiskSpec[];
  /** Files the domain boots from or keeps state in (kernel, initrd, NVRAM...). */
  bootFiles: { kind: 'kernel' | 'initrd' | 'dtb' | 'loader' | 'nvram'; path: string }[];
  interfaces: { type: string; mac: string | undefined }[];
}

function sourcePath(el: Element | undefined): string | undefined {
  const src = el ? child(el, 'source') : undefined;
  return attr(src, 'file') ?? attr(src, 'dev') ?? attr(src, 'dir');
}

function backingChain(disk: Element): DiskSpec['backingChain'] {
  const chain: DiskSpec['backingChain'] = [];
  let cur = child(disk, 'backingStore');
  while (cur && cur.hasAttribute('type')) {
    chain.push({ source: sourcePath(cur), format: attr(child(cur, 'format'), 'type') });
    cur = child(cur, 'backingStore');
  }
  return chain;
}

export function readDomainXml(xml: string): DomainXmlFacts {
  const root = parseXml(xml, 'domain XML').documentElement!;
  const devices = child(root, 'devices');
  const disks: DiskSpec[] = devices
    ? children(devices, 'disk').map((d) => {
        const src = child(d, 'source');
        const pool = attr(src, 'pool');
        const volume = attr(src, 'volume');
        return {
          target: attr(child(d, 'target'), 'dev') ?? '',
          bus: attr(child(d, 'target'), 'bus'),
          device: attr(d, 'device') ?? 'disk',
          type: attr(d, 'type') ?? 'file',
          format: attr(child(d, 'driver'), 'type'),
          source: sourcePath(d),
          volume: pool && volume ? { pool, volume } : undefined,
          readOnly: child(d, 'readonly') !== undefined,
          shareable: child(d, 'shareable') !== undefined,
          backingChain: backingChain(d),
        };
      })
    : [];
  const os = child(root, 'os');
  const bootFiles: DomainXmlFacts['bootFiles'] = [];
  if (os) {
    for (const kind of ['kernel', 'initrd', 'dtb', 'loader', 'nvram'] as const) {
      const p = text(child(os, kind))?.trim();
      if (p) bootFiles.push({ kind, path: p });
    }
  }
  const interfaces = devices
    ? children(devices, 'interface').map((i) => ({
        type: attr(i, 'type') ?? 'unknown',
        mac: attr(child(i, 'mac'), 'address'),
      }))
    : [];
  return {
    name: text(child(root, 'name')) ?? '',
    uuid: text(child(root, 'uuid')),
    type: attr(root, 'type'),
    disks,
    bootFiles,
    interfaces,
  };
}
