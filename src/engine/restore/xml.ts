/**
 * Rewrites a saved domain XML for a restore: disk sources to the restored
 * files (flattened, so any backing chain is dropped), boot files to where
 * they were restored, and, for a copy beside the original (--as), a new name,
 * no UUID and no MAC addresses (libvirt makes new ones) and unix sockets of
 * its own.
 */
import { attr, child, children, parseXml, serializeXml, type Element } from '../../util/xml.js';
import { EngineError } from '../errors.js';

/** sun_path holds 108 bytes on Linux, the terminating NUL included. */
export const MAX_SOCKET_PATH = 107;

export interface XmlRewrite {
  /** Disk target (vda) -> new source path and format. */
  disks: Map<string, { path: string; format: string }>;
  /** Boot file kind (kernel, initrd, ...) -> new path. */
  bootFiles: Map<string, string>;
  /** A new name for a copy beside the original. */
  newName?: string;
  /** Where a copy's unix sockets go (default: beside the original's, renamed). */
  socketDir?: string;
  /** Leave network interfaces out (an isolated verification VM). */
  dropInterfaces?: boolean;
}

function setText(el: Element, value: string): void {
  while (el.firstChild) el.removeChild(el.firstChild);
  el.appendChild(el.ownerDocument!.createTextNode(value));
}

export function rewriteDomainXml(xml: string, r: XmlRewrite): string {
  const doc = parseXml(xml, 'saved domain XML');
  const root = doc.documentElement!;
  const oldName = child(root, 'name')?.textContent ?? '';
  const devices = child(root, 'devices');
  for (const disk of devices ? children(devices, 'disk') : []) {
    const target = attr(child(disk, 'target'), 'dev');
    const to = target ? r.disks.get(target) : undefined;
    if (!to) continue;
    disk.setAttribute('type', 'file');
    let source = child(disk, 'source');
    if (!source) {
      source = doc.createElement('source');
      disk.insertBefore(source, disk.firstChild);
    }
    for (const a of ['dev', 'pool', 'volume', 'protocol', 'name', 'dir']) source.removeAttribute(a);
    source.setAttribute('file', to.path);
    const driver = child(disk, 'driver');
    if (driver) driver.setAttribute('type', to.format);
    // The restored image is flat: whatever chain the original had is gone.
    for (const b of children(disk, 'backingStore')) disk.removeChild(b);
  }
  const os = child(root, 'os');
  for (const [kind, path] of r.bootFiles) {
    const el = os ? child(os, kind) : undefined;
    if (el) setText(el, path);
  }
  if (r.newName !== undefined) {
    const name = child(root, 'name');
    if (name) setText(name, r.newName);
    const uuid = child(root, 'uuid');
    if (uuid) root.removeChild(uuid);
    for (const iface of devices ? children(devices, 'interface') : []) {
      const mac = child(iface, 'mac');
      if (mac) iface.removeChild(mac);
    }
    // Unix sockets (serial consoles, channels) must not collide with the original's.
    for (const tag of ['serial', 'console', 'channel']) {
      for (const dev of devices ? children(devices, tag) : []) {
        const src = child(dev, 'source');
        const path = attr(src, 'path');
        if (src && path && attr(dev, 'type') === 'unix') {
          const base = path.slice(path.lastIndexOf('/') + 1);
          const moved =
            r.socketDir !== undefined
              ? `${r.socketDir}/${r.newName}.${base}`
              : oldName && path.includes(oldName)
                ? path.split(oldName).join(r.newName)
                : `${path}.${r.newName}`;
          if (Buffer.byteLength(moved) > MAX_SOCKET_PATH) {
            throw new EngineError(
              'RESTORE_SOCKET_PATH_TOO_LONG',
              `the restored VM's ${tag} socket ${moved} is longer than the ${MAX_SOCKET_PATH} bytes a unix socket path may have; restore into a shorter directory (--to)`,
              { details: { path: moved, max: MAX_SOCKET_PATH } },
            );
          }
          src.setAttribute('path', moved);
        }
      }
    }
  }
  if (r.dropInterfaces) {
    for (const iface of devices ? children(devices, 'interface') : []) devices!.removeChild(iface);
  }
  return serializeXml(doc);
}

/** The unix socket paths of a domain XML's serial ports, consoles and channels. */
export function unixSocketPaths(xml: string): string[] {
  const devices = child(parseXml(xml, 'domain XML').documentElement!, 'devices');
  const out: string[] = [];
  for (const tag of ['serial', 'console', 'channel']) {
    for (const dev of devices ? children(devices, tag) : []) {
      const path = attr(child(dev, 'source'), 'path');
      if (path && attr(dev, 'type') === 'unix') out.push(path);
    }
  }
  return out;
}
