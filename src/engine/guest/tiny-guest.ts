/**
 * The tiny guest: a Debian kernel, a busybox initramfs and an ext4 disk in
 * qcow2, built by scripts/build-guest.sh and cached in .cache/guest/. It
 * boots under TCG in seconds and serves a shell on its serial console. The
 * labs and restore tests run on it; brankas never boots anything else it
 * did not create.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { untilAborted } from '../../util/abort.js';
import { findPackageRoot } from '../../util/package-root.js';
import { escapeXml } from '../../util/xml.js';
import { EngineError } from '../errors.js';
import { DomainUndefine, type Connection, type Domain } from '../../libvirt/index.js';
import { AGENT_CHANNEL } from './agent-shell.js';
import { READY_MARKER, SerialConsole } from './serial-console.js';
import { GUEST_FILE_MODE, GUEST_WORK_ROOT, makeGuestDir } from './work-dir.js';

export { GUEST_WORK_ROOT };

/**
 * How long the tiny guest may take to boot (or come back after a revert) before it counts as
 * hung. It boots in seconds under TCG on an idle host, many times that on a loaded one.
 */
export const BOOT_TIMEOUT_MS = 300_000;

/**
 * The guest kernel's command line. Kernel messages are kept off the console (quiet loglevel=1);
 * cryptomgr.notests skips the crypto self-tests, a good second of boot under TCG.
 */
export const GUEST_CMDLINE =
  'console=ttyS0 quiet loglevel=1 cryptomgr.notests 8250.nr_uarts=1 i8042.noaux';

/** The package root (the guest's cache is its `.cache/guest/`). */
export function packageRoot(): string {
  const root = findPackageRoot();
  if (root === undefined) {
    throw new EngineError(
      'GUEST_IMAGES_MISSING',
      `no package.json above ${fileURLToPath(import.meta.url)}`,
    );
  }
  return root;
}

export interface GuestImages {
  /** Absolute path of the kernel to boot: `.cache/guest/vmlinux` (PVH ELF) or `vmlinuz`. */
  kernel: string;
  /** Absolute path of the initramfs. */
  initrd: string;
  /** Absolute path of the pristine 64 MiB qcow2 holding an ext4 filesystem: copy it, never boot it. */
  baseDisk: string;
}

let imagesPromise: Promise<GuestImages> | undefined;

/**
 * Builds the guest into `.cache/guest/` if needed (scripts/build-guest.sh, which returns at once
 * when the cache is complete and current) and returns the absolute paths. Run once per process.
 */
export function ensureGuestImages(): Promise<GuestImages> {
  imagesPromise ??= buildGuestImages().catch((err: unknown) => {
    imagesPromise = undefined;
    throw err;
  });
  return imagesPromise;
}

/**
 * Runs one of the image build scripts (scripts/<name>) from the package root; a failure is
 * GUEST_IMAGES_MISSING with the script's output. The scripts return at once when their cache
 * is complete and current. Returns the script's path.
 */
export async function runBuildScript(name: string, label: string): Promise<string> {
  const root = packageRoot();
  const script = join(root, 'scripts', name);
  await new Promise<void>((resolvePromise, reject) => {
    execFile(
      'bash',
      [script],
      { cwd: root, maxBuffer: 64 * 1024 * 1024, timeout: 15 * 60 * 1000 },
      (err, stdout, stderr) => {
        if (err) {
          reject(
            new EngineError(
              'GUEST_IMAGES_MISSING',
              `${label}: ${script} failed (${err.message.split('\n')[0]})\n${stdout}${stderr}`,
            ),
          );
        } else {
          resolvePromise();
        }
      },
    );
  });
  return script;
}

async function buildGuestImages(): Promise<GuestImages> {
  const root = packageRoot();
  const script = await runBuildScript('build-guest.sh', 'guest');
  const dir = join(root, '.cache', 'guest');
  // The stamp names the kernel to boot: the uncompressed vmlinux (PVH boot) when possible.
  const stamp = await readFile(join(dir, 'STAMP'), 'utf8');
  const kernelFile = /^kernel_file=(\S+)$/m.exec(stamp)?.[1] ?? 'vmlinuz';
  const images: GuestImages = {
    kernel: join(dir, kernelFile),
    initrd: join(dir, 'initrd.img'),
    baseDisk: join(dir, 'base.qcow2'),
  };
  for (const path of Object.values(images)) {
    if (!existsSync(path)) {
      throw new EngineError('GUEST_IMAGES_MISSING', `${script} succeeded but ${path} is missing`);
    }
  }
  return images;
}

export interface GuestDisk {
  /** Absolute path of the image. */
  path: string;
  format: 'qcow2' | 'raw';
  /** Guest device name: vda (mounted at /data), vdb, ... */
  target: string;
}

export interface GuestDomainOptions {
  name: string;
  kernel: string;
  initrd: string;
  disks: GuestDisk[];
  /** Where libvirt/QEMU listens for the serial console (a unix socket, bind mode). */
  serialSocket: string;
  /** Default 256. */
  memoryMiB?: number;
  uuid?: string;
  /** Add the QEMU guest agent's channel (the guest answers guest-sync and guest-ping on it). */
  agent?: boolean;
}

/**
 * A libvirt domain for the test guest: TCG (type='qemu'), i440fx machine (boots faster than
 * q35 under TCG), direct kernel boot, virtio disks, serial console on a unix socket, no network,
 * graphics, USB or balloon. The ACPI power button (virsh shutdown) powers it off within a second.
 */
export function guestDomainXml(opts: GuestDomainOptions): string {
  const e = escapeXml;
  const memory = opts.memoryMiB ?? 256;
  const disks = opts.disks
    .map(
      (disk) => `    <disk type='file' device='disk'>
      <driver name='qemu' type='${e(disk.format)}'/>
      <source file='${e(disk.path)}'/>
      <target dev='${e(disk.target)}' bus='virtio'/>
    </disk>`,
    )
    .join('\n');
  const uuid = opts.uuid === undefined ? '' : `\n  <uuid>${e(opts.uuid)}</uuid>`;
  // libvirt picks the socket path of a bind-mode channel without one.
  const agent = opts.agent
    ? `
    <channel type='unix'>
      <source mode='bind'/>
      <target type='virtio' name='${AGENT_CHANNEL}'/>
    </channel>`
    : '';
  return `<domain type='qemu'>
  <name>${e(opts.name)}</name>${uuid}
  <memory unit='MiB'>${memory}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${e(opts.kernel)}</kernel>
    <initrd>${e(opts.initrd)}</initrd>
    <cmdline>${e(GUEST_CMDLINE)}</cmdline>
  </os>
  <features>
    <acpi/>
  </features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
${disks}
    <serial type='unix'>
      <source mode='bind' path='${e(opts.serialSocket)}'/>
      <target port='0'/>
    </serial>${agent}
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

/**
 * A private work directory for a throwaway guest, `GUEST_WORK_ROOT/<name>` (work-dir.ts says
 * why it is safe in /var/tmp and how QEMU, another user, still reaches the disks).
 */
export async function guestWorkDir(name: string): Promise<string> {
  // QEMU reads the cached kernel, initrd and base image from the checkout.
  await chmod(join(packageRoot(), '.cache'), 0o755);
  return makeGuestDir(name);
}

export interface TinyGuestOptions {
  name: string;
  memoryMiB?: number;
  /** Give it the QEMU guest agent's channel. */
  agent?: boolean;
  /** Boot timeout (ms, default BOOT_TIMEOUT_MS). */
  bootTimeoutMs?: number;
  /** Stops waiting for the boot; the guest is removed and launch() rejects. */
  signal?: AbortSignal;
}

/**
 * A throwaway tiny guest, defined and booted on a connection: its disk is a
 * fresh copy of the base image in its own work directory. dispose() removes
 * the domain (with its snapshot metadata) and every file, whatever happened.
 */
export class TinyGuest {
  private constructor(
    readonly domain: Domain,
    private serial: SerialConsole,
    readonly dir: string,
  ) {}

  get console(): SerialConsole {
    return this.serial;
  }

  /**
   * Gets the console back after the guest's QEMU was replaced (a revert to a
   * running snapshot restarts it): reconnects and waits for the shell.
   */
  async reattach(timeoutMs = BOOT_TIMEOUT_MS): Promise<void> {
    if (this.serial.closed) {
      this.serial = await SerialConsole.connect(this.serial.socketPath, { timeoutMs });
    }
    await this.serial.waitReady(timeoutMs);
  }

  static async launch(conn: Connection, options: TinyGuestOptions): Promise<TinyGuest> {
    const images = await ensureGuestImages();
    const dir = await guestWorkDir(options.name);
    let domain: Domain | undefined;
    let console: SerialConsole | undefined;
    try {
      const disk = join(dir, 'vda.qcow2');
      await copyFile(images.baseDisk, disk);
      await chmod(disk, GUEST_FILE_MODE);
      const serialSocket = join(dir, 'console.sock');
      domain = await conn.defineDomain(
        guestDomainXml({
          name: options.name,
          kernel: images.kernel,
          initrd: images.initrd,
          disks: [{ path: disk, format: 'qcow2', target: 'vda' }],
          serialSocket,
          memoryMiB: options.memoryMiB ?? 128,
          agent: options.agent === true,
        }),
      );
      options.signal?.throwIfAborted();
      await domain.start();
      console = await SerialConsole.connect(serialSocket, { timeoutMs: 10_000 });
      await untilAborted(
        console.waitFor(READY_MARKER, options.bootTimeoutMs ?? BOOT_TIMEOUT_MS),
        options.signal,
      );
      return new TinyGuest(domain, console, dir);
    } catch (err) {
      console?.close();
      await removeGuest(domain, dir);
      throw err;
    }
  }

  /** A GuestShell over the serial console. */
  shell(): { run(cmd: string, timeoutMs?: number): Promise<string>; resync(): Promise<void> } {
    return {
      run: (cmd, timeoutMs) => this.serial.run(cmd, timeoutMs),
      resync: () => this.reattach(),
    };
  }

  async dispose(): Promise<void> {
    this.serial.close();
    await removeGuest(this.domain, this.dir);
  }
}

async function removeGuest(domain: Domain | undefined, dir: string): Promise<void> {
  if (domain) {
    try {
      if ((await domain.state()).state !== 'shutoff') await domain.destroy();
    } catch {
      // Already gone or stopped.
    }
    try {
      await domain.undefine(
        DomainUndefine.SNAPSHOTS_METADATA | DomainUndefine.CHECKPOINTS_METADATA,
      );
    } catch {
      // Already undefined.
    }
  }
  await rm(dir, { recursive: true, force: true });
}
