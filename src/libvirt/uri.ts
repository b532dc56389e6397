/**
 * Parses connection URIs as libvirt users write them (`qemu:///system`,
 * `qemu+tcp://host/system`, `qemu+ssh://user@host/system?keyfile=...`,
 * `test:///abs/path.xml`) into a transport and the name the daemon is asked
 * to open. Query parameters that belong to the transport are consumed here
 * and not passed on, as libvirt's own remote driver does.
 */
import { LibvirtClientError } from './errors.js';

export const SYSTEM_SOCKET = '/run/libvirt/libvirt-sock';
export const SYSTEM_SOCKET_RO = '/run/libvirt/libvirt-sock-ro';
export const DEFAULT_TCP_PORT = 16509;
export const DEFAULT_URI = 'qemu:///system';

const DRIVERS = new Set(['qemu', 'test', 'lxc', 'xen', 'libxl', 'vbox', 'ch', 'bhyve']);
const TRANSPORT_PARAMS = new Set([
  'socket',
  'keyfile',
  'known_hosts',
  'no_verify',
  'no_tty',
  'command',
  'netcat',
  'proxy',
  'mode',
]);

export type Transport =
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string; port: number }
  | {
      kind: 'ssh';
      host: string;
      port: number | undefined;
      user: string | undefined;
      keyfile: string | undefined;
      knownHosts: string | undefined;
      noVerify: boolean;
      socket: string | undefined;
      command: string;
      /** The netcat binary on the remote host. */
      netcat: string;
      proxy: 'auto' | 'netcat' | 'native';
    };

export interface ParsedUri {
  /** The URI as given. */
  uri: string;
  driver: string;
  transport: Transport;
  /** What CONNECT_OPEN asks the daemon for, e.g. "qemu:///system". */
  name: string;
  readOnly: boolean;
}

function bad(uri: string, why: string): LibvirtClientError {
  return new LibvirtClientError('LIBVIRT_BAD_URI', `cannot use connection URI "${uri}": ${why}`, {
    details: { uri },
  });
}

export function parseUri(uri: string, options: { readOnly?: boolean } = {}): ParsedUri {
  const m = /^([a-z0-9]+)(?:\+([a-z0-9]+))?:\/\/([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/i.exec(uri);
  if (!m) throw bad(uri, 'expected the form driver[+transport]://[user@][host[:port]]/path');
  const driver = m[1]!.toLowerCase();
  const explicitTransport = m[2]?.toLowerCase();
  const authority = m[3] ?? '';
  const path = m[4] ?? '/';
  const query = new URLSearchParams(m[5] ?? '');
  if (!DRIVERS.has(driver)) {
    throw bad(uri, `unknown hypervisor driver "${driver}" (known: ${[...DRIVERS].join(', ')})`);
  }

  let user: string | undefined;
  let hostPort = authority;
  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    user = decodeURIComponent(authority.slice(0, at));
    hostPort = authority.slice(at + 1);
  }
  let host = hostPort;
  let port: number | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(hostPort);
  const plain = /^([^:]*)(?::(\d+))?$/.exec(hostPort);
  if (bracketed) {
    host = bracketed[1]!;
    if (bracketed[2]) port = Number(bracketed[2]);
  } else if (plain) {
    host = plain[1]!;
    if (plain[2]) port = Number(plain[2]);
  } else {
    throw bad(uri, `cannot read host "${hostPort}"`);
  }
  if (port !== undefined && (port < 1 || port > 65535)) throw bad(uri, `port ${port} out of range`);

  const transportName = explicitTransport ?? (host ? 'tls' : 'unix');
  const readOnly = options.readOnly ?? false;
  const socketParam = query.get('socket') ?? undefined;

  let transport: Transport;
  switch (transportName) {
    case 'unix':
      if (host) throw bad(uri, 'the unix transport takes no host');
      transport = {
        kind: 'unix',
        path: socketParam ?? defaultSocket(driver, path, readOnly),
      };
      break;
    case 'tcp':
      if (!host) throw bad(uri, 'the tcp transport needs a host');
      transport = { kind: 'tcp', host, port: port ?? DEFAULT_TCP_PORT };
      break;
    case 'ssh': {
      if (!host) throw bad(uri, 'the ssh transport needs a host');
      const proxy = query.get('proxy') ?? (query.get('netcat') || socketParam ? 'netcat' : 'auto');
      if (proxy !== 'auto' && proxy !== 'netcat' && proxy !== 'native') {
        throw bad(uri, `unknown proxy "${proxy}" (auto, netcat or native)`);
      }
      transport = {
        kind: 'ssh',
        host,
        port,
        user,
        keyfile: query.get('keyfile') ?? undefined,
        knownHosts: query.get('known_hosts') ?? undefined,
        noVerify: query.get('no_verify') === '1',
        socket: socketParam,
        command: query.get('command') ?? 'ssh',
        netcat: query.get('netcat') || 'nc',
        proxy,
      };
      break;
    }
    case 'tls':
      throw bad(uri, 'the tls transport is not supported yet; use qemu+ssh:// or qemu+tcp://');
    default:
      throw bad(uri, `unknown transport "${transportName}" (unix, tcp or ssh)`);
  }

  for (const key of TRANSPORT_PARAMS) query.delete(key);
  const rest = query.toString();
  const name = `${driver}://${path}${rest ? `?${rest}` : ''}`;
  return { uri, driver, transport, name, readOnly };
}

function defaultSocket(driver: string, path: string, readOnly: boolean): string {
  if (path === '/session' && driver !== 'test') {
    const runtime = process.env['XDG_RUNTIME_DIR'];
    if (runtime) return `${runtime}/libvirt/libvirt-sock`;
  }
  return readOnly ? SYSTEM_SOCKET_RO : SYSTEM_SOCKET;
}
