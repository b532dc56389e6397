/**
 * Runs qemu-nbd to export a local image of any format QEMU reads, on a private
 * unix socket (`nbd.sock` in a fresh mode-0700 directory under the system
 * temp dir), for the NBD client to read or write.
 *
 * `QemuNbd.start()` resolves once the server completes a greeting (a probe
 * that leaves with NBD_OPT_ABORT, so qemu-nbd logs nothing), and fails with
 * qemu-nbd's own stderr when it exits first (a locked or missing image).
 * `stop()` always ends the process (SIGTERM, then SIGKILL after a grace
 * period) and removes the socket and its directory. The caller's AbortSignal
 * is the other way out: when it fires, the server stops at once and
 * synchronously (SIGTERM, directory removed), so an executable can fire it
 * from a signal handler or an 'exit' hook and leave nothing behind. This
 * module touches no process-wide state (signal handlers belong to the
 * executable, src/cli/main.ts).
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
  /**
   * Stops the server at once when aborted (SIGTERM to qemu-nbd, its directory removed before
   * the abort returns); start() fails with the signal's reason when it is aborted first.
   */
  signal?: AbortSignal;
}

const STDERR_KEEP = 16 * 1024;
const PROBE_INTERVAL_MS = 20;

/** Every server not yet stopped, for diagnostics (liveQemuNbdCount). */
const live = new Set<QemuNbd>();

export class QemuNbd {
  private stderrText = '';
  private stopping: Promise<void> | undefined;
  private readonly exited: Promise<void>;
  private readonly onAbort = (): void => this.stopNow();

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
    // The export must not keep the node process alive: its owner ends it, with stop() or
    // through the signal.
    child.unref();
    (child.stderr as { unref?: () => void } | null)?.unref?.();
  }

  /** Starts qemu-nbd and waits until it answers NBD greetings. */
  static async start(options: QemuNbdOptions): Promise<QemuNbd> {
    const signal = options.signal;
    signal?.throwIfAborted();
    try {
      await stat(options.image);
    } catch (err) {
      throw new QemuNbdError('QEMU_NBD_IMAGE_NOT_FOUND', `image ${options.image} not found`, {
        cause: err,
        details: { image: options.image },
      });
    }
    signal?.throwIfAborted();
    const dir = await mkdtemp(join(tmpdir(), 'brankas-nbd-'));
    try {
      await chmod(dir, 0o700);
      signal?.throwIfAborted();
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    const socketPath = join(dir, 'nbd.sock');
    const exportName = options.exportName ?? '';
    const child = spawn(options.binary ?? 'qemu-nbd', qemuNbdArgs(options, socketPath), {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const server = new QemuNbd(child, dir, socketPath, exportName, options);
    live.add(server);
    signal?.addEventListener('abort', server.onAbort, { once: true });
    try {
      await server.waitReady(options.startTimeoutMs ?? 15_000);
    } catch (err) {
      await server.stop();
      throw signal?.aborted ? signal.reason : err;
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
        this.options.signal?.removeEventListener('abort', this.onAbort);
        await rm(this.dir, { recursive: true, force: true });
        live.delete(this);
      }
    })();
    return this.stopping;
  }

  /**
   * Stops at once, synchronously, for when waiting is impossible (an abort fired from a signal
   * handler or an 'exit' hook): SIGTERM, and the directory removed. stop() still waits after it.
   */
  stopNow(): void {
    this.options.signal?.removeEventListener('abort', this.onAbort);
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
      this.options.signal?.throwIfAborted();
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
export async function probe(socketPath: string, timeoutMs: number): Promise<boolean> {
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

/** Servers not yet stopped (for tests and diagnostics). */
export function liveQemuNbdCount(): number {
  return live.size;
}
