/**
 * One long ssh session that runs a small shell script on another host and
 * forwards a local unix socket to a remote one (`ssh -L LOCAL:REMOTE`), as
 * the remote qemu-nbd (src/nbd/remote-qemu-nbd.ts) and a remote live
 * backup's job directory (src/engine/remote/job-dir.ts) both use it: the
 * script prints a marker once its side stands, then waits on its stdin
 * (`cat`) so that closing the session (or its death) ends it and its EXIT
 * trap cleans up. The callers keep their own scripts, exit codes and errors;
 * this is the spawning, the wait for the marker and the ending.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { shellQuote, sshFailed, sshOptions, type SshTarget } from './ssh.js';

const STDERR_KEEP = 16 * 1024;

export interface ForwardedScriptOptions {
  ssh: SshTarget;
  /** The local unix socket ssh listens on. */
  localSocket: string;
  /** The remote unix socket it forwards to. */
  remoteSocket: string;
  /** The POSIX shell script run there by `sh -c`. */
  script: string;
}

export class ForwardedScriptSession {
  /** Whatever the script or ssh wrote on stderr (the last 16 KiB). */
  stderr = '';
  /** Resolves when ssh has exited (or could not be started). */
  readonly exited: Promise<void>;

  private constructor(
    readonly child: ChildProcess,
    private readonly ssh: SshTarget,
  ) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      child.once('close', () => resolve());
      child.once('error', () => resolve());
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      this.stderr = (this.stderr + s).slice(-STDERR_KEEP);
    });
  }

  static spawn(o: ForwardedScriptOptions): ForwardedScriptSession {
    const child = spawn(
      o.ssh.command,
      [
        ...sshOptions(o.ssh),
        '-o',
        'ExitOnForwardFailure=yes',
        '-L',
        `${o.localSocket}:${o.remoteSocket}`,
        '--',
        o.ssh.host,
        `sh -c ${shellQuote(o.script)}`,
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    return new ForwardedScriptSession(child, o.ssh);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Resolves once the script printed `marker` on a line of its own, with what it printed
   * before that line (facts a script reports on its way, in the same session). Rejects with
   * SSH_FAILED when ssh cannot be run, with `failure(exit code, stderr)` when the session ends
   * first, and with `timeout(stderr)` when `timeoutMs` passes first (a deadline, not a
   * measure of speed).
   */
  async waitForMarker(
    marker: string,
    timeoutMs: number,
    failure: (code: number | null, stderr: string) => Error,
    timeout: (stderr: string) => Error,
  ): Promise<string> {
    const child = this.child;
    let stdout = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout!.setEncoding('utf8');
    const line = `${marker}\n`;
    const ready = new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (s: string) => {
        stdout += s;
        // A whole line: text printed before it (a file name, say) cannot end the wait early.
        const at = stdout.startsWith(line) ? 0 : stdout.indexOf(`\n${line}`);
        if (at >= 0) resolve(stdout.slice(0, at === 0 ? 0 : at + 1));
      });
      child.once('error', (err) => reject(sshFailed(this.ssh, err.message, err)));
      child.once('close', (code) => reject(failure(code, this.stderr)));
      timer = setTimeout(() => reject(timeout(this.stderr)), timeoutMs);
    });
    try {
      return await ready;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Ends the session by closing the script's stdin; ssh is killed if it has not
   * exited within `graceMs`. Never throws.
   */
  async end(graceMs: number): Promise<void> {
    if (!this.running) return;
    this.child.stdin?.end();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((r) => {
      timer = setTimeout(() => r(true), graceMs);
    });
    const tooLate = await Promise.race([this.exited.then(() => false), late]);
    clearTimeout(timer);
    if (tooLate && this.running) {
      this.child.kill('SIGTERM');
      await this.exited;
    }
  }

  /** At once (an abort): ssh is killed, which ends the remote script's stdin. */
  kill(): void {
    if (this.running) this.child.kill('SIGTERM');
  }
}
