// Test support: the tiny guest built by scripts/build-guest.sh, a libvirt domain XML to boot it,
// and a client for its shell on the serial console. Node built-ins only, nothing from src/.
//
// The guest (see scripts/build-guest.sh) mounts /dev/vda (ext4) at /data, powers off at once
// on the ACPI power button (virsh shutdown), and, once ready, prints READY_MARKER on ttyS0 and
// serves a non-interactive shell there: raw tty, no echo, no prompt, stderr merged into stdout.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { fileURLToPath } from 'node:url';

/** Every libvirt object and file a test creates is named with this prefix. */
export const TEST_PREFIX = 'brankas-test-';

/** Printed alone on a line of ttyS0 when the guest's shell is ready. */
export const READY_MARKER = 'BRANKAS-GUEST-READY';

/**
 * The guest kernel's command line. Kernel messages are kept off the console (quiet loglevel=1);
 * cryptomgr.notests skips the crypto self-tests, a good second of boot under TCG.
 */
export const GUEST_CMDLINE =
  'console=ttyS0 quiet loglevel=1 cryptomgr.notests 8250.nr_uarts=1 i8042.noaux';

/** A unique name: `brankas-test-<label>-<random6>` (label reduced to [a-z0-9-]). */
export function testName(label: string): string {
  const clean =
    label
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'x';
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const suffix = Array.from(randomBytes(6), (b) => alphabet[b % alphabet.length]).join('');
  return `${TEST_PREFIX}${clean}-${suffix}`;
}

let repoRootCache: string | undefined;

/** The repository root: the first directory above this module holding a package.json. */
export function repoRoot(): string {
  if (repoRootCache !== undefined) return repoRootCache;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) {
      repoRootCache = dir;
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error(`guest: no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
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

async function buildGuestImages(): Promise<GuestImages> {
  const root = repoRoot();
  const script = join(root, 'scripts', 'build-guest.sh');
  await new Promise<void>((resolvePromise, reject) => {
    execFile(
      'bash',
      [script],
      { cwd: root, maxBuffer: 64 * 1024 * 1024, timeout: 15 * 60 * 1000 },
      (err, stdout, stderr) => {
        if (err) {
          reject(
            new Error(
              `guest: ${script} failed (${err.message.split('\n')[0]})\n${stdout}${stderr}`,
            ),
          );
        } else {
          resolvePromise();
        }
      },
    );
  });
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
    if (!existsSync(path)) throw new Error(`guest: ${script} succeeded but ${path} is missing`);
  }
  return images;
}

export interface ScratchDir {
  /** The unique test name the directory is named after (usable as a domain name). */
  name: string;
  /** Absolute path of the directory: `<repo>/.cache/scratch/<name>`. */
  path: string;
  /** Removes the directory and everything in it. Never throws. */
  remove: () => Promise<void>;
}

/**
 * A fresh per-test directory under `.cache/scratch/`, for disk copies, serial sockets and
 * backups. It is world-writable (sticky) so that QEMU, which runs as another user, can create
 * files and sockets in it too.
 */
export async function makeScratchDir(label: string): Promise<ScratchDir> {
  const scratchRoot = join(repoRoot(), '.cache', 'scratch');
  await mkdir(scratchRoot, { recursive: true });
  await chmod(join(repoRoot(), '.cache'), 0o755);
  await chmod(scratchRoot, 0o755);
  const name = testName(label);
  const path = join(scratchRoot, name);
  await mkdir(path);
  await chmod(path, 0o1777);
  return {
    name,
    path,
    remove: async () => {
      await rm(path, { recursive: true, force: true }).catch(() => undefined);
    },
  };
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
}

function xmlEscape(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/**
 * A libvirt domain for the test guest: TCG (type='qemu'), i440fx machine (boots faster than
 * q35 under TCG), direct kernel boot, virtio disks, serial console on a unix socket, no network,
 * graphics, USB or balloon. The ACPI power button (virsh shutdown) powers it off within a second.
 */
export function guestDomainXml(opts: GuestDomainOptions): string {
  const e = xmlEscape;
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
    </serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

/** The result of SerialConsole.exec. */
export interface CommandResult {
  output: string;
  exitCode: number;
}

const HISTORY_CHARS = 4000;
const MAX_BUFFER_CHARS = 8 * 1024 * 1024;

function sleep(ms: number): Promise<void> {
  return new Promise((resolvePromise) => setTimeout(resolvePromise, ms));
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * A client for the guest's shell on its serial console (a unix socket in bind mode).
 *
 * Output not yet consumed by waitFor/run stays buffered. Every wait has a timeout, and every
 * error quotes the last console output seen. Commands are serialized.
 */
export class SerialConsole {
  private buffer = '';
  private history = '';
  private closedReason: string | undefined;
  private readonly decoder = new StringDecoder('utf8');
  private readonly listeners = new Set<() => void>();
  private queue: Promise<unknown> = Promise.resolve();
  private sequence = 0;
  private readonly tag = randomBytes(3).toString('hex');

  private constructor(
    private readonly socket: Socket,
    readonly socketPath: string,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(this.decoder.write(chunk)));
    socket.on('error', (err) => this.onClose(`console socket error: ${err.message}`));
    socket.on('close', () => this.onClose('console socket closed (guest stopped?)'));
  }

  /** Connects to the socket, retrying until it exists and accepts (default 30 s). */
  static async connect(
    socketPath: string,
    options: { timeoutMs?: number } = {},
  ): Promise<SerialConsole> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    let lastError = 'never tried';
    for (;;) {
      try {
        const socket = await new Promise<Socket>((resolvePromise, reject) => {
          const s = netConnect(socketPath);
          const onConnect = (): void => {
            clearTimeout(timer);
            s.removeListener('error', onError);
            resolvePromise(s);
          };
          const onError = (err: Error): void => {
            clearTimeout(timer);
            s.removeListener('connect', onConnect);
            s.destroy();
            reject(err);
          };
          const timer = setTimeout(
            () => onError(new Error('connect timed out')),
            Math.max(100, deadline - Date.now()),
          );
          s.once('connect', onConnect);
          s.once('error', onError);
        });
        return new SerialConsole(socket, socketPath);
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() >= deadline) {
        throw new Error(
          `SerialConsole: cannot connect to ${socketPath} within ${timeoutMs} ms: ${lastError}`,
        );
      }
      await sleep(100);
    }
  }

  /** The last few thousand characters received (consumed or not), for diagnostics. */
  get lastOutput(): string {
    return this.history;
  }

  /** Whether the connection is gone (closed by us, or the guest stopped). */
  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  /**
   * Waits until `text` appears in the output not yet consumed, consumes the output up to the end
   * of the match and returns it.
   */
  async waitFor(text: string | RegExp, timeoutMs = 30_000): Promise<string> {
    const what = typeof text === 'string' ? JSON.stringify(text) : String(text);
    const pattern =
      typeof text === 'string'
        ? undefined
        : new RegExp(text.source, text.flags.replace(/[gy]/g, ''));
    return this.until(
      () => {
        let end: number;
        if (pattern === undefined) {
          const at = this.buffer.indexOf(text as string);
          if (at < 0) return undefined;
          end = at + (text as string).length;
        } else {
          const match = pattern.exec(this.buffer);
          if (match === null) return undefined;
          end = match.index + match[0].length;
        }
        const consumed = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end);
        return consumed;
      },
      timeoutMs,
      `waiting for ${what}`,
    );
  }

  /**
   * Waits until the guest's shell answers. Waits for READY_MARKER and, in case it was printed
   * before we connected, also probes the shell every second.
   */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    const probe = `__R_${this.tag}_${++this.sequence}__`;
    const half = Math.floor(probe.length / 2);
    const probeCommand = `printf '%s%s\\n' '${probe.slice(0, half)}' '${probe.slice(half)}'\n`;
    const deadline = Date.now() + timeoutMs;
    const timer = setInterval(() => {
      if (!this.closed) this.socket.write(probeCommand);
    }, 1000);
    try {
      await this.until(
        () => {
          const at = Math.max(this.buffer.indexOf(READY_MARKER), this.buffer.indexOf(probe));
          return at < 0 ? undefined : true;
        },
        deadline - Date.now(),
        `waiting for the guest to be ready (${READY_MARKER})`,
      );
    } finally {
      clearInterval(timer);
    }
    // Let any probe in flight be answered, then drop everything seen so far.
    await sleep(150);
    this.buffer = '';
  }

  /**
   * Runs a shell command in the guest and returns exactly its output (stdout and stderr, merged).
   * Throws if it exits non-zero (use exec for the exit code) or does not finish in time.
   * The command runs in the guest's one shell (cd and variables persist between commands), with
   * stdin from /dev/null; it may span several lines. A syntax error gives exit code 2.
   */
  async run(command: string, timeoutMs = 10_000): Promise<string> {
    const result = await this.exec(command, timeoutMs);
    if (result.exitCode !== 0) {
      throw new Error(
        `SerialConsole: command exited with ${result.exitCode}: ${command}\n--- output ---\n${result.output}`,
      );
    }
    return result.output;
  }

  /** Like run, but returns the exit code instead of throwing on failure. */
  exec(command: string, timeoutMs = 10_000): Promise<CommandResult> {
    const next = this.queue.then(() => this.execNow(command, timeoutMs));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async execNow(command: string, timeoutMs: number): Promise<CommandResult> {
    const id = `${this.tag}_${++this.sequence}`;
    const begin = `__B_${id}__\n`;
    const endPattern = new RegExp(`\r?\n__E_${id}__(\\d+)\r?\n`);
    // The markers are assembled by printf, so an echo of the typed line never matches them.
    // The newline printed before the end marker ends output that has no final newline, and is
    // taken off again. The command is syntax-checked in a child shell first: a syntax error
    // would make the guest's shell exit (and lose the end marker); it gives exit code 2 instead.
    const line =
      `printf '__B_%s__\\n' ${shellQuote(id)}; __brankas_cmd=${shellQuote(command)}; ` +
      `if __brankas_err=$(sh -n -c "$__brankas_cmd" 2>&1); then eval "$__brankas_cmd" </dev/null; ` +
      `else printf '%s\\n' "$__brankas_err"; (exit 2); fi; ` +
      `printf '\\n__E_%s__%d\\n' ${shellQuote(id)} $?\n`;
    if (this.closedReason !== undefined) throw this.failure(`running ${JSON.stringify(command)}`);
    this.socket.write(line);
    return this.until(
      () => {
        const start = this.buffer.indexOf(begin);
        if (start < 0) return undefined;
        const rest = this.buffer.slice(start + begin.length);
        const end = endPattern.exec(rest);
        if (end === null) return undefined;
        this.buffer = rest.slice(end.index + end[0].length);
        return {
          output: rest.slice(0, end.index).replace(/\r\n/g, '\n'),
          exitCode: Number(end[1]),
        };
      },
      timeoutMs,
      `running ${JSON.stringify(command)}`,
    );
  }

  /** Closes the connection (the guest keeps running). */
  close(): void {
    this.onClose('console closed by the test');
    this.socket.destroy();
  }

  private onData(text: string): void {
    if (text.length === 0) return;
    this.buffer += text;
    if (this.buffer.length > MAX_BUFFER_CHARS) this.buffer = this.buffer.slice(-MAX_BUFFER_CHARS);
    this.history = (this.history + text).slice(-HISTORY_CHARS);
    for (const listener of [...this.listeners]) listener();
  }

  private onClose(reason: string): void {
    this.closedReason ??= reason;
    for (const listener of [...this.listeners]) listener();
  }

  private failure(what: string): Error {
    return new Error(
      `SerialConsole ${this.socketPath}: ${what}` +
        (this.closedReason === undefined ? '' : `: ${this.closedReason}`) +
        '\n' +
        `--- last console output ---\n${this.history}\n--- end ---`,
    );
  }

  /** Resolves with check()'s first defined result, re-checked on every change. */
  private until<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise<T>((resolvePromise, reject) => {
      const listener = (): void => {
        let result: T | undefined;
        try {
          result = check();
        } catch (err) {
          finish();
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        if (result !== undefined) {
          finish();
          resolvePromise(result);
        } else if (this.closedReason !== undefined) {
          finish();
          reject(this.failure(what));
        }
      };
      const finish = (): void => {
        this.listeners.delete(listener);
        clearTimeout(timer);
      };
      const timer = setTimeout(
        () => {
          finish();
          reject(this.failure(`${what}: no answer within ${timeoutMs} ms`));
        },
        Math.max(0, timeoutMs),
      );
      this.listeners.add(listener);
      listener();
    });
  }
}

/** Absolute path of a file in the repository (for scripts and fixtures). */
export function repoPath(...parts: string[]): string {
  return resolve(repoRoot(), ...parts);
}
