/**
 * The domain XML of a VM run from a backup: each disk a local qcow2 overlay
 * whose backing store is the backup's disk over NBD on a unix socket, said
 * explicitly so libvirt never probes the chain, with `error_policy='stop'` so
 * a read the export cannot answer pauses the VM instead of failing in the
 * guest (docs/instant-recovery.md). Also: which sockets a VM's XML still
 * depends on, and the user QEMU runs as (who may connect to them).
 */
import { attr, child, children, parseXml, serializeXml, type Element } from '../../util/xml.js';

export interface OverlayDisk {
  /** Target (vda). */
  disk: string;
  /** The NBD export's unix socket. */
  socket: string;
}

export function overlayXml(xml: string, disks: OverlayDisk[]): string {
  const doc = parseXml(xml, 'domain XML');
  const devices = child(doc.documentElement!, 'devices');
  const bySocket = new Map(disks.map((d) => [d.disk, d.socket]));
  for (const disk of devices ? children(devices, 'disk') : []) {
    const socket = bySocket.get(attr(child(disk, 'target'), 'dev') ?? '');
    if (socket === undefined) continue;
    let driver = child(disk, 'driver');
    if (!driver) {
      driver = doc.createElement('driver');
      driver.setAttribute('name', 'qemu');
      disk.insertBefore(driver, disk.firstChild);
    }
    driver.setAttribute('type', 'qcow2');
    driver.setAttribute('error_policy', 'stop');
    for (const b of children(disk, 'backingStore')) disk.removeChild(b);
    const backing = doc.createElement('backingStore');
    backing.setAttribute('type', 'network');
    const format = doc.createElement('format');
    format.setAttribute('type', 'raw');
    const source = doc.createElement('source');
    source.setAttribute('protocol', 'nbd');
    const host = doc.createElement('host');
    host.setAttribute('transport', 'unix');
    host.setAttribute('socket', socket);
    source.appendChild(host);
    backing.appendChild(format);
    backing.appendChild(source);
    // An empty backingStore ends the chain: the export has no backing of its own.
    backing.appendChild(doc.createElement('backingStore'));
    const source0 = child(disk, 'source');
    disk.insertBefore(backing, source0?.nextSibling ?? null);
  }
  return serializeXml(doc);
}

/** The NBD sockets a domain XML's disks read from, anywhere in their backing chains. */
export function nbdSockets(xml: string): string[] {
  const devices = child(parseXml(xml, 'domain XML').documentElement!, 'devices');
  const out: string[] = [];
  const walk = (el: Element): void => {
    const source = child(el, 'source');
    if (attr(source, 'protocol') === 'nbd') {
      for (const h of source ? children(source, 'host') : []) {
        const s = attr(h, 'socket');
        if (s) out.push(s);
      }
    }
    for (const b of children(el, 'backingStore')) walk(b);
  };
  for (const disk of devices ? children(devices, 'disk') : []) walk(disk);
  return out;
}

/**
 * The uid and gid QEMU runs as: the DAC base label in the host's capabilities
 * (`+64055:+64055` for libvirt-qemu on Debian); undefined without one (QEMU then
 * runs as the daemon's user, who may connect already).
 */
export function qemuOwner(capabilities: string): { uid: number; gid: number } | undefined {
  const m =
    /<model>dac<\/model>[\s\S]*?<baselabel type='(?:kvm|qemu)'>\+?(\d+):\+?(\d+)<\/baselabel>/.exec(
      capabilities,
    );
  return m ? { uid: Number(m[1]), gid: Number(m[2]) } : undefined;
}

/**
 * The XML with each named disk a plain local qcow2 (`path`): no backing store, and the
 * `error_policy` the run set removed (a local disk reports its errors as any disk does).
 */
export function localDisksXml(xml: string, disks: { disk: string; path: string }[]): string {
  const doc = parseXml(xml, 'domain XML');
  const devices = child(doc.documentElement!, 'devices');
  const byTarget = new Map(disks.map((d) => [d.disk, d.path]));
  for (const disk of devices ? children(devices, 'disk') : []) {
    const path = byTarget.get(attr(child(disk, 'target'), 'dev') ?? '');
    if (path === undefined) continue;
    disk.setAttribute('type', 'file');
    const driver = child(disk, 'driver');
    driver?.setAttribute('type', 'qcow2');
    driver?.removeAttribute('error_policy');
    const source = child(disk, 'source');
    for (const a of source ? Array.from(source.attributes).map((x) => x.name) : []) {
      source!.removeAttribute(a);
    }
    source?.setAttribute('file', path);
    for (const b of children(disk, 'backingStore')) disk.removeChild(b);
  }
  return serializeXml(doc);
}
