/**
 * qemu-nbd on another host, reached over ssh: one ssh session runs a small
 * POSIX shell script there that exports the image on a unix socket in a
 * fresh mode-0700 directory (`/tmp/brankas-nbd-<random>`), and the same
 * session forwards a local unix socket (in a private local directory) to it
 * (`ssh -L LOCAL:REMOTE`, unix to unix). The NBD client then reads the local
 * socket as if qemu-nbd ran here. Nothing of brankas is installed remotely:
 * sh, qemu-nbd, cat and sleep are all the script uses.
 *
 * Asked for (`imageInfo`), the same session also runs `qemu-img info` on the
 * image while qemu-nbd starts, and prints its JSON before the ready marker:
 * the facts a backup records about the image cost no ssh session of their
 * own (each is a login there: a shell and its start-up files, 0.1-0.3 s on a
 * busy host; docs/benchmarks.md, "Cold backup over `qemu+ssh://`").
 *
 * Lifetime: the script waits on its stdin (`cat`); when brankas closes it,
 * or the ssh session dies for any reason (the sshd closes the channel), the
 * script stops qemu-nbd and removes its directory (an EXIT trap). So no
 * remote qemu-nbd outlives the reader that needed it.
 *
 * Faults become the errors the local qemu-nbd manager raises, naming the
 * host: ssh refusing the login (SSH_FAILED), no qemu-nbd there
 * (QEMU_NBD_NOT_INSTALLED), the image missing there (QEMU_NBD_IMAGE_NOT_FOUND),
 * qemu-nbd failing (QEMU_NBD_IMAGE_LOCKED, QEMU_NBD_START_FAILED).
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  describeSshTarget,
  shellQuote,
  sshFailed,
  SSH_OWN_FAILURE,
  type SshTarget,
} from '../util/ssh.js';
import { privateTempDir } from '../util/private-temp.js';
import { ForwardedScriptSession } from '../util/ssh-session.js';
import { CONTEXT_ALLOCATION_DEPTH, CONTEXT_BASE_ALLOCATION } from './constants.js';
import { QemuNbdError } from './errors.js';
import { probe, qemuNbdArgs, type QemuNbdOptions } from './qemu-nbd.js';
import { NbdClient } from './client.js';
import { NbdDiskReader, type NbdDiskReaderOptions } from './reader.js';

export interface RemoteQemuNbdOptions extends Pick<
  QemuNbdOptions,
  'format' | 'readOnly' | 'allocationDepth' | 'bitmaps' | 'cache' | 'discard' | 'signal'
> {
  ssh: SshTarget;
  /** The image's path on the remote host. */
  image: string;
  /** How long ssh and qemu-nbd together may take to answer (default 60 s). */
  startTimeoutMs?: number;
  /** Grace period between closing the session and killing ssh (default 10 s). */
  stopTimeoutMs?: number;
  /**
   * Also run `qemu-img info --output=json --backing-chain -U` on the image in the same
   * session (`format`, when given, is passed with `-f`); its output is `imageInfo`.
   */
  imageInfo?: boolean;
}

// Exit codes of the remote script for the faults it tells apart.
const EXIT_NO_DIR = 90;
const EXIT_NO_QEMU_NBD = 91;
const EXIT_NO_IMAGE = 92;
const EXIT_QEMU_NBD_DIED = 93;
const READY = 'brankas-nbd-ready';
/** Clients qemu-nbd is started to serve at once (`--shared`). */
const MAX_CONNECTIONS = 8;

/**
 * The script run (by `sh -c`) on the remote host. `infoArgs`: the arguments of a `qemu-img
 * info` run while qemu-nbd starts, its output (nothing when it fails) printed before the marker.
 */
export function remoteScript(
  remoteDir: string,
  args: string[],
  image: string,
  infoArgs?: string[],
): string {
  const d = shellQuote(remoteDir);
  return [
    'umask 077',
    `mkdir ${d} || exit ${EXIT_NO_DIR}`,
    `trap 'rm -rf ${remoteDir}' EXIT`,
    `command -v qemu-nbd >/dev/null 2>&1 || exit ${EXIT_NO_QEMU_NBD}`,
    `[ -e ${shellQuote(image)} ] || exit ${EXIT_NO_IMAGE}`,
    `qemu-nbd ${args.map(shellQuote).join(' ')} </dev/null &`,
    'pid=$!',
    ...(infoArgs
      ? [`info=$(qemu-img ${infoArgs.map(shellQuote).join(' ')} 2>/dev/null) || info=`]
      : []),
    // qemu-nbd listens within tens of milliseconds: a short step, on the path to the first byte.
    `until [ -S ${d}/nbd.sock ]; do`,
    `  kill -0 $pid 2>/dev/null || { wait $pid; exit ${EXIT_QEMU_NBD_DIED}; }`,
    '  sleep 0.01',
    'done',
    ...(infoArgs ? ['[ -n "$info" ] && printf \'%s\\n\' "$info"'] : []),
    `echo ${READY}`,
    // Until brankas closes the session (or it dies): then qemu-nbd goes, and the directory.
    'cat >/dev/null',
    'kill $pid 2>/dev/null',
    'wait $pid',
    'exit 0',
  ].join('\n');
}

export class RemoteQemuNbd {
  /** qemu-img info's JSON about the image, when asked for (`imageInfo`) and it answered. */
  imageInfo: string | undefined;
  private stopping: Promise<void> | undefined;
  private readonly onAbort = (): void => this.stopNow();

  private constructor(
    private readonly session: ForwardedScriptSession,
    /** The local private directory holding the forwarded socket. */
    readonly dir: string,
    readonly socketPath: string,
    private readonly options: RemoteQemuNbdOptions,
  ) {}

  /** Starts qemu-nbd on the host and waits until it answers through the forwarded socket. */
  static async start(options: RemoteQemuNbdOptions): Promise<RemoteQemuNbd> {
    const { signal, ssh } = options;
    signal?.throwIfAborted();
    const dir = await privateTempDir('brankas-rnbd-');
    const socketPath = join(dir, 'nbd.sock');
    const remoteDir = `/tmp/brankas-nbd-${randomBytes(8).toString('hex')}`;
    const args = qemuNbdArgs(
      { ...options, image: options.image, shared: MAX_CONNECTIONS },
      `${remoteDir}/nbd.sock`,
    );
    const session = ForwardedScriptSession.spawn({
      ssh,
      localSocket: socketPath,
      remoteSocket: `${remoteDir}/nbd.sock`,
      script: remoteScript(
        remoteDir,
        args,
        options.image,
        options.imageInfo
          ? [
              'info',
              '--output=json',
              '--backing-chain',
              '-U',
              ...(options.format ? ['-f', options.format] : []),
              options.image,
            ]
          : undefined,
      ),
    });
    const server = new RemoteQemuNbd(session, dir, socketPath, options);
    signal?.addEventListener('abort', server.onAbort, { once: true });
    try {
      await server.waitReady(options.startTimeoutMs ?? 60_000);
    } catch (err) {
      await server.stop();
      throw signal?.aborted ? signal.reason : err;
    }
    return server;
  }

  get target(): { socketPath: string; exportName: string } {
    return { socketPath: this.socketPath, exportName: '' };
  }

  get running(): boolean {
    return this.session.running;
  }

  /** Ends the session (the remote qemu-nbd with it) and removes the local socket. Never throws. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        // Closing stdin ends the remote `cat`: the script stops qemu-nbd and cleans up.
        await this.session.end(this.options.stopTimeoutMs ?? 10_000);
      } finally {
        this.options.signal?.removeEventListener('abort', this.onAbort);
        await rm(this.dir, { recursive: true, force: true });
      }
    })();
    return this.stopping;
  }

  /** At once, synchronously (an abort): ssh is ended, which ends the remote script's stdin. */
  stopNow(): void {
    this.options.signal?.removeEventListener('abort', this.onAbort);
    this.session.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const timedOut = (stderr: string): Error =>
      new QemuNbdError(
        'QEMU_NBD_START_TIMEOUT',
        `qemu-nbd on ${describeSshTarget(this.options.ssh)} did not answer within ${timeoutMs} ms` +
          (stderr ? `: ${stderr.trim()}` : ''),
        { details: { image: this.options.image, stderr } },
      );
    const said = await this.session.waitForMarker(
      READY,
      timeoutMs,
      (code, stderr) => this.startFailure(code, stderr),
      timedOut,
    );
    if (this.options.imageInfo && said.trim() !== '') this.imageInfo = said;
    // The socket exists there; it may take a moment more to accept, and the forward with it.
    while (!(await probe(this.socketPath, Math.max(1, deadline - Date.now())))) {
      this.options.signal?.throwIfAborted();
      if (!this.running) throw this.startFailure(this.session.child.exitCode, this.session.stderr);
      if (Date.now() >= deadline) throw timedOut(this.session.stderr);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private startFailure(code: number | null, stderr: string): Error {
    const host = describeSshTarget(this.options.ssh);
    const image = this.options.image;
    const text = stderr.trim();
    const details = { image, host: this.options.ssh.host, stderr: text, exitCode: code };
    switch (code) {
      case SSH_OWN_FAILURE:
        return sshFailed(this.options.ssh, stderr);
      case EXIT_NO_QEMU_NBD:
        return new QemuNbdError(
          'QEMU_NBD_NOT_INSTALLED',
          `qemu-nbd is not installed on ${host} (it comes with QEMU: the qemu-utils or qemu-img package)`,
          { details },
        );
      case EXIT_NO_IMAGE:
        return new QemuNbdError('QEMU_NBD_IMAGE_NOT_FOUND', `image ${image} not found on ${host}`, {
          details,
        });
      default: {
        const locked = /\block\b/i.test(text);
        return new QemuNbdError(
          locked ? 'QEMU_NBD_IMAGE_LOCKED' : 'QEMU_NBD_START_FAILED',
          `qemu-nbd on ${host} could not export ${image}${locked ? ' (is a VM or another tool using it?)' : ''}: ${text || `exit code ${code}`}`,
          { details },
        );
      }
    }
  }
}

export type RemoteImageOptions = Omit<
  RemoteQemuNbdOptions,
  'ssh' | 'image' | 'readOnly' | 'allocationDepth'
> & {
  reader?: Omit<NbdDiskReaderOptions, 'onClose' | 'ownsClient' | 'dataClients'>;
  /**
   * NBD connections through the forward (default 2, at most 8: qemu-nbd's `--shared`).
   * Each is an ssh channel of its own, with its own flow-control window (2 MiB in OpenSSH):
   * one channel moved at most a window per round trip of window updates, which on a busy
   * machine (every hop a process waiting for a CPU) held the data path to about a third of
   * a local read (docs/benchmarks.md, "Cold backup over qemu+ssh://").
   */
  connections?: number;
};

/**
 * A remote image read over NBD through ssh, as openImageOverNbd() reads a local one; the
 * reader's close() ends the remote qemu-nbd.
 */
export async function openRemoteImageOverNbd(
  ssh: SshTarget,
  image: string,
  options: RemoteImageOptions = {},
): Promise<NbdDiskReader> {
  return (await openRemoteImage(ssh, image, { ...options, imageInfo: false })).reader;
}

/**
 * openRemoteImageOverNbd(), and with `imageInfo` what `qemu-img info` said about the image in
 * the same ssh session (undefined: not asked, or qemu-img could not say).
 */
export async function openRemoteImage(
  ssh: SshTarget,
  image: string,
  options: RemoteImageOptions = {},
): Promise<{ reader: NbdDiskReader; imageInfo: string | undefined }> {
  const server = await RemoteQemuNbd.start({
    ...options,
    ssh,
    image,
    readOnly: true,
    allocationDepth: true,
  });
  const extra = Math.max(0, Math.min(MAX_CONNECTIONS, options.connections ?? 2) - 1);
  // The main client (extents, reads) and the data-only ones, connected at once.
  const opened = await Promise.allSettled(
    Array.from({ length: 1 + extra }, (_, i) =>
      NbdClient.connect(
        i === 0
          ? { ...server.target, metaContexts: [CONTEXT_BASE_ALLOCATION, CONTEXT_ALLOCATION_DEPTH] }
          : server.target,
      ),
    ),
  );
  const failed = opened.find((o) => o.status === 'rejected');
  if (failed) {
    await Promise.all(
      opened.map((o) => (o.status === 'fulfilled' ? o.value.close() : undefined)),
    ).catch(() => undefined);
    await server.stop();
    throw failed.reason;
  }
  const [main, ...dataClients] = opened.map((o) => (o as PromiseFulfilledResult<NbdClient>).value);
  const reader = new NbdDiskReader(main!, {
    format: options.format ?? 'raw',
    ...options.reader,
    dataClients,
    onClose: () => server.stop(),
  });
  return { reader, imageInfo: server.imageInfo };
}
