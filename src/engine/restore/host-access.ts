/**
 * What a restored VM's XML lets it reach on the host, and whether the VM it
 * comes from already had that. A backup's manifest carries the domain XML and
 * the original paths; whoever can edit a manifest (an unencrypted repository
 * has no key) could otherwise have a restore define a VM with the host's `/`
 * passed through, or write its files wherever they like. So before anything
 * is written the XML to define is scanned for host-facing parts:
 *
 * - devices that hand the guest something of the host: `<filesystem>`,
 *   `<hostdev>`, interfaces on a host device or script (`direct`, `hostdev`,
 *   `ethernet`, `vhostuser`, `vdpa`), host smartcards, TPM and input
 *   passthrough, security labels other than libvirt's dynamic relabelling
 *   ones, and anything in the `qemu:` namespace
 *   (`<qemu:commandline>` runs arbitrary QEMU arguments);
 * - every host path the XML names (disk and boot file sources, chardev
 *   sockets, files and devices, loaders, logs...), and the emulator, which
 *   must be one the host's capabilities list;
 * - every file the restore itself writes, which must go into the restore's
 *   target: the `--to` directory, a directory the VM it replaces (or the
 *   original of a copy) keeps its files in, or a storage pool's directory.
 *
 * A part the reference VM (the one the restore replaces, else the backed-up
 * VM still defined under its UUID) has as it is, is not new; everything else
 * is returned, and restore refuses it unless asked (allowHostAccess).
 */
import { dirname, resolve } from 'node:path';
import { attr, child, children, parseXml, type Element } from '../../util/xml.js';

export interface HostAccess {
  /** What kind of host access: a device, a host path in the XML, or a file the restore writes. */
  kind: 'device' | 'path' | 'emulator' | 'write';
  /** Where in the XML (`devices/filesystem`, `os/kernel`, `devices/serial/source@path`). */
  where: string;
  /** The host path or the device's XML. */
  value: string;
}

export interface HostAccessCheck {
  /** The XML that would be defined. */
  xml: string;
  /** The XML of the reference VM as libvirt holds it now, when there is one. */
  reference?: string | undefined;
  /**
   * Files the restore writes: a new one must go into one of `writeDirs` (or
   * `ownDirs`); one that exists and is replaced (--force) must be a file the
   * reference VM names, or lie in `ownDirs`.
   */
  written: string[];
  /** Those of `written` that exist now. */
  replaced?: string[] | undefined;
  /** Directories the restore may create files in. */
  writeDirs: string[];
  /**
   * Directories that are the restore's own (--to, the copy's socket
   * directory): a path in the XML inside one is not host access.
   */
  ownDirs: string[];
  /** Emulators the host's capabilities list. */
  emulators: Set<string>;
}

const QEMU_NS = 'http://libvirt.org/schemas/domain/qemu/1.0';
/** Interface types that reach past libvirt's networks: a host device, a script, a socket. */
const HOST_INTERFACES = new Set(['direct', 'hostdev', 'ethernet', 'vhostuser', 'vdpa']);
/**
 * Attributes and elements whose value is a host path even when it is not
 * absolute (QEMU and libvirt would take a relative one from their working
 * directory).
 */
const PATH_ATTRS = new Set(['file', 'path', 'dir', 'socket']);
const PATH_TEXTS = new Set(['os/kernel', 'os/initrd', 'os/dtb', 'os/loader', 'os/nvram']);
/** Free text and guest-side strings, never host paths. */
const NOT_HOST = new Set(['metadata', 'description', 'title', 'sysinfo', 'cmdline', 'target']);
/**
 * Host paths every VM may name: entropy sources, the default cgroup
 * partition, and the firmware the distribution installs (read-only).
 */
function harmlessPath(where: string, value: string): boolean {
  if (where === 'devices/rng/backend#text') {
    return ['/dev/urandom', '/dev/random', '/dev/hwrng'].includes(value);
  }
  if (where === 'resource/partition#text') return value === '/machine';
  if (where === 'os/loader#text' || where === 'os/nvram@template') {
    return inside(value, '/usr/share') && !value.includes('/../');
  }
  return false;
}

function isDevice(el: Element, parentPath: string): boolean {
  const tag = el.tagName;
  if (el.namespaceURI === QEMU_NS || tag.startsWith('qemu:')) return true;
  // A dynamic label that relabels is libvirt's confinement as usual; anything else loosens it.
  if (tag === 'seclabel') {
    return !['dynamic', undefined].includes(attr(el, 'type')) || attr(el, 'relabel') === 'no';
  }
  if (parentPath !== 'devices') return false;
  if (tag === 'filesystem' || tag === 'hostdev') return true;
  if (tag === 'interface') return HOST_INTERFACES.has(attr(el, 'type') ?? '');
  if (tag === 'smartcard') return attr(el, 'mode') !== 'passthrough';
  if (tag === 'input') return ['passthrough', 'evdev'].includes(attr(el, 'type') ?? '');
  if (tag === 'tpm') return attr(child(el, 'backend'), 'type') === 'passthrough';
  return false;
}

/** A device's XML without the parts libvirt fills in (addresses, aliases), whitespace dropped. */
function canonical(el: Element): string {
  const parts: string[] = [];
  const walk = (e: Element): void => {
    const attrs: string[] = [];
    for (let i = 0; i < e.attributes.length; i++) {
      const a = e.attributes.item(i)!;
      attrs.push(`${a.name}=${JSON.stringify(a.value)}`);
    }
    parts.push(`<${e.tagName} ${attrs.sort().join(' ')}>`);
    for (let n = e.firstChild; n; n = n.nextSibling) {
      if (n.nodeType === 1) {
        const c = n as Element;
        if (c.tagName !== 'address' && c.tagName !== 'alias') walk(c);
      } else if (n.nodeType === 3 || n.nodeType === 4) {
        const t = (n.nodeValue ?? '').trim();
        if (t) parts.push(JSON.stringify(t));
      }
    }
    parts.push(`</${e.tagName}>`);
  };
  walk(el);
  return parts.join('');
}

/** Every host-facing part of a domain XML, by a key that does not depend on its position. */
function scan(xml: string): HostAccess[] {
  const root = parseXml(xml, 'domain XML').documentElement!;
  const found: HostAccess[] = [];
  const walk = (el: Element, path: string): void => {
    for (let n = el.firstChild; n; n = n.nextSibling) {
      if (n.nodeType !== 1) continue;
      const c = n as Element;
      if (NOT_HOST.has(c.tagName)) continue;
      const where = path ? `${path}/${c.tagName}` : c.tagName;
      if (isDevice(c, path)) {
        found.push({ kind: 'device', where, value: canonical(c) });
        continue;
      }
      if (where === 'devices/emulator') {
        found.push({ kind: 'emulator', where, value: (c.textContent ?? '').trim() });
        continue;
      }
      for (let i = 0; i < c.attributes.length; i++) {
        const a = c.attributes.item(i)!;
        if (a.value.startsWith('/') || (PATH_ATTRS.has(a.name) && a.value !== '')) {
          found.push({ kind: 'path', where: `${where}@${a.name}`, value: a.value });
        }
      }
      let hasChild = false;
      for (let k = c.firstChild; k; k = k.nextSibling) if (k.nodeType === 1) hasChild = true;
      const text = (c.textContent ?? '').trim();
      if (!hasChild && (text.startsWith('/') || (PATH_TEXTS.has(where) && text !== ''))) {
        found.push({ kind: 'path', where: `${where}#text`, value: text });
      }
      walk(c, where);
    }
  };
  walk(root, '');
  return found;
}

function key(a: HostAccess): string {
  return `${a.where}=${a.value}`;
}

/** Whether `path` lies in `dir` (or below it); `..` never counts as inside. */
function inside(path: string, dir: string): boolean {
  const p = resolve(path);
  const d = resolve(dir);
  return p.startsWith(d === '/' ? d : `${d}/`);
}

/**
 * The host-facing parts of `c.xml` the reference VM does not have, and the
 * files the restore would write outside its target directories.
 */
export function newHostAccess(c: HostAccessCheck): HostAccess[] {
  const known = new Set((c.reference ? scan(c.reference) : []).map(key));
  const written = new Set(c.written);
  const out: HostAccess[] = [];
  for (const a of scan(c.xml)) {
    if (known.has(key(a))) continue;
    if (a.kind === 'emulator' && c.emulators.has(a.value)) continue;
    // The restore's own files are judged by where they are written, below.
    if (a.kind === 'path') {
      if (written.has(a.value) || harmlessPath(a.where, a.value)) continue;
      if (c.ownDirs.some((d) => inside(a.value, d))) continue;
    }
    out.push(a);
  }
  const replaced = new Set(c.replaced ?? []);
  const referenced = new Set(
    (c.reference ? scan(c.reference) : []).filter((a) => a.kind === 'path').map((a) => a.value),
  );
  for (const path of c.written) {
    if (c.ownDirs.some((d) => inside(path, d))) continue;
    if (replaced.has(path)) {
      // Overwriting is for the VM's own files: another VM's disk in the same pool is not.
      if (referenced.has(path)) continue;
    } else if (c.writeDirs.some((d) => inside(path, d))) continue;
    out.push({ kind: 'write', where: dirname(path), value: path });
  }
  return out;
}

/** The directories a domain XML keeps its disk and boot files in (a reference VM's places). */
export function fileDirs(xml: string): string[] {
  const root = parseXml(xml, 'domain XML').documentElement!;
  const dirs = new Set<string>();
  const devices = child(root, 'devices');
  for (const disk of devices ? children(devices, 'disk') : []) {
    const src = child(disk, 'source');
    const p = attr(src, 'file') ?? attr(src, 'dev');
    if (p?.startsWith('/') && attr(disk, 'device') !== 'cdrom') dirs.add(dirname(p));
  }
  const os = child(root, 'os');
  for (const kind of ['kernel', 'initrd', 'dtb', 'nvram']) {
    const p = (os ? child(os, kind)?.textContent : undefined)?.trim();
    if (p?.startsWith('/')) dirs.add(dirname(p));
  }
  return [...dirs];
}

/** The emulators a host's capabilities XML lists. */
export function capabilityEmulators(capabilities: string): Set<string> {
  const out = new Set<string>();
  const root = parseXml(capabilities, 'capabilities XML').documentElement!;
  const walk = (el: Element): void => {
    for (let n = el.firstChild; n; n = n.nextSibling) {
      if (n.nodeType !== 1) continue;
      const c = n as Element;
      if (c.tagName === 'emulator') {
        const t = (c.textContent ?? '').trim();
        if (t) out.add(t);
      } else walk(c);
    }
  };
  walk(root);
  return out;
}

/** One line per part, for a message. */
export function describeHostAccess(list: HostAccess[]): string {
  return list
    .map((a) =>
      a.kind === 'write'
        ? `writes ${a.value} (outside the restore's target directories)`
        : a.kind === 'device'
          ? `${a.where}: ${a.value.length > 160 ? `${a.value.slice(0, 157)}...` : a.value}`
          : `${a.where} ${a.value}`,
    )
    .join('; ');
}
