/**
 * Runs qemu-nbd to export a local image of any format QEMU reads, on a private
 * unix socket (`nbd.sock` in a fresh mode-0700 directory under the system
 * temp dir), for the NBD client to read or write.
 *
 * `QemuNbd.start()` resolves once the server completes a greeting (a probe
 * that leaves with NBD_OPT_ABORT, so qemu-nbd logs nothing), and fails with
 * qemu-nbd's own stderr when it exits first (a locked or missing image).
 * `stop()` always ends the process (SIGTERM, then SIGKILL after a grace
 * period) and removes the socket and its directory. While any server runs,
 * SIGINT, SIGTERM and SIGHUP handlers and an exit hook stop them all and then
 * let the signal do what it would have done; the handlers go when the last
 * server stops.
 *
 * Choices: `--persistent`, so the export outlives one connection (a backup
 * may connect more than once) and its life is ours to end; `--shared` 8 by
 * default for parallel connections; `--discard=unmap` on writable exports so
 * TRIM frees space; cache and AIO modes are left to qemu-nbd unless asked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ByteReader } from './byte-reader.js';
import { QemuNbdError } from './errors.js';
import { greetAndAbort } from './handshake.js';
import { Wire } from './transport.js';

export interface QemuNbdOptions {
  /** The image file to export. */
  image: string;
  /** Image format (qcow2, raw, vmdk...); probed by qemu-nbd when omitted. */
  format?: string;
  /** Export read-only (default true). */
  readOnly?: boolean;
  /** Export name (default ''). */
  exportName?: string;
  /** Persistent dirty bitmaps to expose as `qemu:dirty-bitmap:NAME`. */
  bitmaps?: readonly string[];
  /** Expose `qemu:allocation-depth`. */
  allocationDepth?: boolean;
  /** Simultaneous clients (default 8). */
  shared?: number;
  cache?: 'none' | 'writeback' | 'writethrough' | 'directsync' | 'unsafe';
  aio?: 'threads' | 'native' | 'io_uring';
  /** Default 'unmap' for writable exports. */
  discard?: 'ignore' | 'unmap';
  detectZeroes?: 'off' | 'on' | 'unmap';
  /** How long qemu-nbd may take to answer (default 15 s). */
  startTimeoutMs?: number;
  /** Grace period between SIGTERM and SIGKILL on stop (default 5 s). */
  stopTimeoutMs?: number;
  /** The qemu-nbd binary (default 'qemu-nbd' on PATH). */
  binary?: string;
}

const STDERR_KEEP = 16 * 1024;
const PROBE_INTERVAL_MS = 20;

/** Every server not yet stopped, for the signal handlers. */
const live = new Set<QemuNbd>();

export class QemuNbd {
  private stderrText = '';
  private stopping: Promise<void> | undefined;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    /** The private directory holding the socket. */
    readonly dir: string,
    readonly socketPath: string,
    readonly exportName: string,
    private readonly options: QemuNbdOptions,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', (err) => {
        this.stderrText += `${err.message}\n`;
        resolve();
      });
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      this.stderrText = (this.stderrText + s).slice(-STDERR_KEEP);
    });
    // The export must not keep the node process alive; the exit hook ends it.
    child.unref();
    (child.stderr as { unref?: () => void } | null)?.unref?.();
  }

  /** Starts qemu-nbd and waits until it answers NBD greetings. */
  static async start(options: QemuNbdOptions): Promise<QemuNbd> {
    try {
      await stat(options.image);
    } catch (err) {
      throw new QemuNbdError('QEMU_NBD_IMAGE_NOT_FOUND', `image ${options.image} not found`, {
        cause: err,
        details: { image: options.image },
      });
    }
    const dir = await mkdtemp(join(tmpdir(), 'brankas-nbd-'));
    await chmod(dir, 0o700);
    const socketPath = join(dir, 'nbd.sock');
    const exportName = options.exportName ?? '';
    const child = spawn(options.binary ?? 'qemu-nbd', qemuNbdArgs(options, socketPath), {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const server = new QemuNbd(child, dir, socketPath, exportName, options);
    live.add(server);
    installHandlers();
    try {
      await server.waitReady(options.startTimeoutMs ?? 15_000);
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && !this.spawnFailed;
  }

  /** What qemu-nbd wrote to stderr (its last 16 KiB). */
  get stderr(): string {
    return this.stderrText;
  }

  /** Options for NbdClient.connect / NbdDiskReader.open. */
  get target(): { socketPath: string; exportName: string } {
    return { socketPath: this.socketPath, exportName: this.exportName };
  }

  /** Ends qemu-nbd and removes its socket and directory. Idempotent; never throws. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        if (this.running) {
          this.child.kill('SIGTERM');
          const graceful = await within(this.exited, this.options.stopTimeoutMs ?? 5000);
          if (!graceful && this.running) {
            this.child.kill('SIGKILL');
            await this.exited;
          }
        }
      } finally {
        await rm(this.dir, { recursive: true, force: true });
        live.delete(this);
        if (live.size === 0) uninstallHandlers();
      }
    })();
    return this.stopping;
  }

  /** For the signal and exit hooks: no waiting possible, so SIGTERM and remove the directory. */
  stopNow(): void {
    if (this.running) this.child.kill('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }

  private get spawnFailed(): boolean {
    return this.child.pid === undefined;
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    for (;;) {
      if (exited || !this.running) throw this.startFailure();
      if (Date.now() > deadline) {
        throw new QemuNbdError(
          'QEMU_NBD_START_TIMEOUT',
          `qemu-nbd did not answer on ${this.socketPath} within ${timeoutMs} ms` +
            (this.stderrText ? `: ${this.stderrText.trim()}` : ''),
          { details: { image: this.options.image, stderr: this.stderrText } },
        );
      }
      if (await probe(this.socketPath, Math.max(1, deadline - Date.now()))) return;
      await Promise.race([sleep(PROBE_INTERVAL_MS), this.exited]);
    }
  }

  private startFailure(): QemuNbdError {
    const text = this.stderrText.trim();
    const details = {
      image: this.options.image,
      stderr: text,
      exitCode: this.child.exitCode,
      signal: this.child.signalCode,
    };
    if (this.spawnFailed) {
      return new QemuNbdError(
        'QEMU_NBD_NOT_INSTALLED',
        `cannot run ${this.options.binary ?? 'qemu-nbd'}: ${text}`,
        { details },
      );
    }
    const code = /\block\b/i.test(text) ? 'QEMU_NBD_IMAGE_LOCKED' : 'QEMU_NBD_START_FAILED';
    const hint = code === 'QEMU_NBD_IMAGE_LOCKED' ? ' (is a VM or another tool using it?)' : '';
    return new QemuNbdError(
      code,
      `qemu-nbd could not export ${this.options.image}${hint}: ${text || `exit code ${this.child.exitCode}`}`,
      { details },
    );
  }
}

export function qemuNbdArgs(options: QemuNbdOptions, socketPath: string): string[] {
  const readOnly = options.readOnly ?? true;
  const args = ['--socket', socketPath, '--persistent', '--shared', String(options.shared ?? 8)];
  args.push('--export-name', options.exportName ?? '');
  if (options.format) args.push('--format', options.format);
  if (readOnly) args.push('--read-only');
  for (const b of options.bitmaps ?? []) args.push('--bitmap', b);
  if (options.allocationDepth) args.push('--allocation-depth');
  if (options.cache) args.push(`--cache=${options.cache}`);
  if (options.aio) args.push(`--aio=${options.aio}`);
  const discard = options.discard ?? (readOnly ? undefined : 'unmap');
  if (discard) args.push(`--discard=${discard}`);
  if (options.detectZeroes) args.push(`--detect-zeroes=${options.detectZeroes}`);
  args.push(options.image);
  return args;
}

/** Whether an NBD server greets on the socket now. */
async function probe(socketPath: string, timeoutMs: number): Promise<boolean> {
  let wire: Wire;
  try {
    wire = await Wire.connect({ socketPath }, timeoutMs);
  } catch {
    return false;
  }
  const reader = new ByteReader();
  wire.attach({
    data: (c) => reader.push(c),
    end: () => reader.fail(new Error('closed')),
  });
  const timer = setTimeout(() => reader.fail(new Error('timeout')), timeoutMs);
  try {
    await greetAndAbort({ reader, write: (b) => wire.write(b) });
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    wire.destroy();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether `p` settled within `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let installed = false;

function stopAllNow(): void {
  for (const server of [...live]) server.stopNow();
}

function onSignal(signal: NodeJS.Signals): void {
  stopAllNow();
  uninstallHandlers();
  // Nobody else handles it: let the signal do its default (end the process).
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installHandlers(): void {
  if (installed) return;
  installed = true;
  for (const s of SIGNALS) process.on(s, onSignal);
  process.on('exit', stopAllNow);
}

function uninstallHandlers(): void {
  if (!installed) return;
  installed = false;
  for (const s of SIGNALS) process.off(s, onSignal);
  process.off('exit', stopAllNow);
}

/** Servers not yet stopped (for tests and diagnostics). */
export function liveQemuNbdCount(): number {
  return live.size;
}
