/**
 * A restored VM's graphical console (VNC, SPICE) must be no more open than
 * the VM's was. A backup leaves the console password out (it is a secret,
 * and the saved XML is readable in an unencrypted repository), so the saved
 * XML describes a console listening with no password at all. For each such
 * console, the restore does one of three things and says which:
 *
 * - `password-set`: the caller gave a new password; the console keeps its
 *   listen address with it;
 * - `password-kept`: the VM the restore replaces (or the original of a copy)
 *   has a password on a console of that type; it is carried over;
 * - `local-socket`: otherwise the console stops listening on the network and
 *   gets a unix socket libvirt places in its private directory (reachable by
 *   root on the host: `virsh domdisplay`, virt-viewer).
 *
 * Consoles that have a password already, or listen on no network address,
 * are `kept` as they are.
 */
import { attr, child, children, parseXml, serializeXml, type Element } from '../../util/xml.js';

export interface GraphicsDecision {
  /** vnc, spice, ... */
  type: string;
  action: 'kept' | 'password-set' | 'password-kept' | 'local-socket';
}

/** Graphics types that listen on the network. */
const NETWORKED = new Set(['vnc', 'spice', 'rdp']);

/**
 * Listens on a unix socket or on nothing: reachable only through the host's
 * file system, or not at all. A console without any listen element listens
 * where qemu.conf says (an address).
 */
function listensLocally(g: Element): boolean {
  if (attr(g, 'socket') !== undefined) return true;
  const listens = children(g, 'listen');
  return (
    listens.length > 0 && listens.every((l) => ['socket', 'none'].includes(attr(l, 'type') ?? ''))
  );
}

/** Passwords of the networked consoles of a (secure) domain XML, by graphics type. */
export function graphicsPasswords(secureXml: string): Map<string, string> {
  const out = new Map<string, string>();
  const devices = child(parseXml(secureXml, 'domain XML').documentElement!, 'devices');
  for (const g of devices ? children(devices, 'graphics') : []) {
    const type = attr(g, 'type') ?? '';
    const passwd = attr(g, 'passwd');
    if (passwd && !out.has(type)) out.set(type, passwd);
  }
  return out;
}

export function secureGraphics(
  xml: string,
  o: {
    /** A new password for every networked console. */
    password?: string | undefined;
    /** Passwords of the reference VM's consoles, by type. */
    inherited?: Map<string, string> | undefined;
  },
): { xml: string; graphics: GraphicsDecision[] } {
  const doc = parseXml(xml, 'domain XML');
  const devices = child(doc.documentElement!, 'devices');
  const graphics: GraphicsDecision[] = [];
  for (const g of devices ? children(devices, 'graphics') : []) {
    const type = attr(g, 'type') ?? '';
    if (!NETWORKED.has(type) || attr(g, 'passwd')) {
      graphics.push({ type, action: 'kept' });
      continue;
    }
    if (o.password !== undefined) {
      g.setAttribute('passwd', o.password);
      graphics.push({ type, action: 'password-set' });
      continue;
    }
    const inherited = o.inherited?.get(type);
    if (inherited !== undefined) {
      g.setAttribute('passwd', inherited);
      graphics.push({ type, action: 'password-kept' });
      continue;
    }
    if (listensLocally(g)) {
      graphics.push({ type, action: 'kept' });
      continue;
    }
    for (const a of ['port', 'tlsPort', 'autoport', 'listen', 'websocket', 'socket']) {
      g.removeAttribute(a);
    }
    for (const l of children(g, 'listen')) g.removeChild(l);
    // libvirt picks the socket's path, in the domain's private directory.
    const listen = doc.createElement('listen');
    listen.setAttribute('type', 'socket');
    g.insertBefore(listen, g.firstChild);
    graphics.push({ type, action: 'local-socket' });
  }
  return { xml: serializeXml(doc), graphics };
}

/** The XML with console passwords removed, for showing it. */
export function redactPasswords(xml: string): string {
  const doc = parseXml(xml, 'domain XML');
  const devices = child(doc.documentElement!, 'devices');
  for (const g of devices ? children(devices, 'graphics') : []) g.removeAttribute('passwd');
  return serializeXml(doc);
}
