/**
 * The file-restore helper VM (docs/file-restore.md): the tiny guest's kernel
 * with the helper initramfs (scripts/build-helper.sh), a backup's disk as a
 * read-only virtio disk whose source is brankas' NBD export, no network, and
 * a virtio-serial port for one request and its reply. It is a transient
 * domain: started, asked, destroyed; nothing of it outlives the call.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Connection, Domain } from '../../libvirt/index.js';
import { escapeXml } from '../../util/xml.js';
import { EngineError } from '../errors.js';
import {
  ensureGuestImages,
  GUEST_CMDLINE,
  packageRoot,
  runBuildScript,
} from '../guest/tiny-guest.js';
import {
  FILES_PORT,
  newTokens,
  parseStatus,
  ReplyScanner,
  requestLine,
  type HelperRequest,
  type HelperStatus,
  type Tokens,
} from './protocol.js';

/** How long one helper may take, boot to last byte, by default (a deadline for a hang). */
export const HELPER_TIMEOUT_MS = 15 * 60_000;
const CONSOLE_TAIL = 1500;
/** The tiny guest's, and a panic (a broken initramfs) reboots, which ends the transient VM. */
const HELPER_CMDLINE = `${GUEST_CMDLINE} panic=-1`;

export interface HelperImages {
  kernel: string;
  initrd: string;
}

let imagesPromise: Promise<HelperImages> | undefined;

/** Builds `.cache/helper/` if needed (scripts/build-helper.sh) and returns the boot files. */
export function ensureHelperImages(): Promise<HelperImages> {
  imagesPromise ??= buildHelper().catch((err: unknown) => {
    imagesPromise = undefined;
    throw err;
  });
  return imagesPromise;
}

async function buildHelper(): Promise<HelperImages> {
  const guest = await ensureGuestImages();
  const root = packageRoot();
  const script = await runBuildScript('build-helper.sh', 'files helper');
  const initrd = join(root, '.cache', 'helper', 'initrd.img');
  if (!existsSync(initrd)) {
    throw new EngineError('GUEST_IMAGES_MISSING', `${script} succeeded but ${initrd} is missing`);
  }
  return { kernel: guest.kernel, initrd };
}

/** The filesystems this helper image reads (its STAMP's `filesystems=` line). */
export async function helperFilesystems(): Promise<string[]> {
  const stamp = await readFile(join(packageRoot(), '.cache', 'helper', 'STAMP'), 'utf8');
  return (/^filesystems=(.*)$/m.exec(stamp)?.[1] ?? '').split(' ').filter(Boolean);
}

export interface HelperDomainOptions {
  name: string;
  images: HelperImages;
  /** The NBD server's unix socket serving the disk. */
  nbdSocket: string;
  /** Where QEMU listens for the port and the console (bind mode). */
  portSocket: string;
  consoleSocket: string;
}

export function helperDomainXml(o: HelperDomainOptions): string {
  const e = escapeXml;
  return `<domain type='qemu'>
  <name>${e(o.name)}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${e(o.images.kernel)}</kernel>
    <initrd>${e(o.images.initrd)}</initrd>
    <cmdline>${e(HELPER_CMDLINE)}</cmdline>
  </os>
  <features>
    <acpi/>
  </features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw'/>
      <source protocol='nbd'>
        <host transport='unix' socket='${e(o.nbdSocket)}'/>
      </source>
      <target dev='vda' bus='virtio'/>
      <readonly/>
    </disk>
    <serial type='unix'>
      <source mode='bind' path='${e(o.consoleSocket)}'/>
      <target port='0'/>
    </serial>
    <channel type='unix'>
      <source mode='bind' path='${e(o.portSocket)}'/>
      <target type='virtio' name='${FILES_PORT}'/>
    </channel>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

function helperFailed(reason: string, console: string): EngineError<'FILES_HELPER_FAILED'> {
  const tail = console.trim().slice(-CONSOLE_TAIL) || '(nothing)';
  return new EngineError('FILES_HELPER_FAILED', `files helper: ${reason}`, {
    details: { reason, console: tail },
  });
}

async function connectUnix(path: string, deadline: number, signal: AbortSignal): Promise<Socket> {
  for (;;) {
    signal.throwIfAborted();
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const s = netConnect(path);
        s.once('connect', () => {
          s.removeAllListeners('error');
          resolve(s);
        });
        s.once('error', reject);
      });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      // The socket appears when QEMU starts: a short pause between tries, bounded by the deadline.
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export interface HelperCall {
  conn: Connection;
  /** The helper's private directory (its sockets go there). */
  dir: string;
  name: string;
  nbdSocket: string;
  request: HelperRequest;
  /** The reply's delimiters (default fresh ones); an `ls` caller needs `sep` to parse. */
  tokens?: Tokens;
  /** Receives the payload as it comes; awaited (backpressure). */
  onPayload: (chunk: Buffer) => Promise<void>;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** The boot files (default ensureHelperImages()'s). */
  images?: HelperImages;
}

/** Boots the helper, sends the request, streams the payload, returns the guest's status. */
export async function runHelper(c: HelperCall): Promise<HelperStatus> {
  const images = c.images ?? (await ensureHelperImages());
  const timeout = AbortSignal.timeout(c.timeoutMs ?? HELPER_TIMEOUT_MS);
  const signal = c.signal ? AbortSignal.any([c.signal, timeout]) : timeout;
  const portSocket = join(c.dir, 'files.sock');
  const consoleSocket = join(c.dir, 'console.sock');
  let domain: Domain | undefined;
  let consoleText = '';
  const sockets: Socket[] = [];
  const onAbort = (): void => sockets.forEach((s) => s.destroy());
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    try {
      domain = await c.conn.createDomain(
        helperDomainXml({
          name: c.name,
          images,
          nbdSocket: c.nbdSocket,
          portSocket,
          consoleSocket,
        }),
      );
    } catch (err) {
      throw helperFailed(`it could not start (${(err as Error).message})`, '');
    }
    const deadline = Date.now() + 60_000;
    let port: Socket;
    try {
      const console = await connectUnix(consoleSocket, deadline, signal);
      sockets.push(console);
      console.on('data', (d: Buffer) => {
        consoleText = (consoleText + d.toString('utf8')).slice(-8 * CONSOLE_TAIL);
      });
      console.on('error', () => undefined);
      port = await connectUnix(portSocket, deadline, signal);
      sockets.push(port);
    } catch (err) {
      throw helperFailed(`it could not be reached (${(err as Error).message})`, consoleText);
    }
    const tokens = c.tokens ?? newTokens();
    const scanner = new ReplyScanner(tokens.end);
    port.write(requestLine(c.request, tokens));
    try {
      for await (const chunk of port) {
        const payload = scanner.push(chunk as Buffer);
        if (payload.length > 0) await c.onPayload(payload);
        if (scanner.status !== undefined) break;
      }
    } catch (err) {
      if (signal.aborted) {
        throw helperFailed(
          timeout.aborted ? 'it did not answer before its deadline' : 'interrupted',
          consoleText,
        );
      }
      // QEMU closing the port's socket as the VM ends shows as a reset, not an end.
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ECONNRESET' || code === 'EPIPE') {
        throw helperFailed('it stopped without answering', consoleText);
      }
      throw helperFailed(`its port failed (${(err as Error).message})`, consoleText);
    }
    if (scanner.status === undefined) {
      throw helperFailed(
        signal.aborted ? 'it did not answer before its deadline' : 'it stopped without answering',
        consoleText,
      );
    }
    // The guest powers off on the acknowledgement; the domain is destroyed below either way.
    if (!port.destroyed) port.end('ACK\n');
    return parseStatus(scanner.status);
  } finally {
    signal.removeEventListener('abort', onAbort);
    for (const s of sockets) s.destroy();
    if (domain) {
      try {
        await domain.destroy();
      } catch {
        // Already powered off (a transient domain is then gone).
      }
    }
  }
}
