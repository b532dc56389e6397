/**
 * A live backup's private job directory on another host, reached over ssh:
 * one ssh session runs a small POSIX shell script there that makes
 * `/var/tmp/brankas-live-<random>` (mode 0700, owned by the user QEMU runs
 * as when the login is root, with the job's marker, as the local path makes
 * it: backup/live/export.ts), and the same session forwards a local unix
 * socket (in a private local directory) to the NBD socket QEMU will create
 * there (`ssh -L LOCAL:REMOTE`, unix to unix, as the cold path's remote
 * qemu-nbd does: src/nbd/remote-qemu-nbd.ts; both through
 * src/util/ssh-session.ts). libvirt is handed the remote
 * paths; the project's NBD client reads the local socket.
 *
 * Lifetime: the script waits on its stdin (`cat`); when brankas closes it,
 * or the ssh session dies (brankas killed), it removes the directory (an
 * EXIT trap), scratch files with it. The backup job a killed brankas left
 * running is found by the next backup through libvirt (leftovers.ts).
 */
import { randomBytes } from 'node:crypto';
import { access, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  describeSshTarget,
  shellQuote,
  sshExec,
  sshFailed,
  SSH_OWN_FAILURE,
  type SshTarget,
} from '../../util/ssh.js';
import { privateTempDir } from '../../util/private-temp.js';
import { ForwardedScriptSession } from '../../util/ssh-session.js';
import { EngineError } from '../errors.js';

/** Where the directory is made on the host (QEMU must reach it), and its name's prefix. */
export const REMOTE_WORK_ROOT = '/var/tmp';
export const REMOTE_DIR_PREFIX = 'brankas-live-';
const READY = 'brankas-live-dir-ready';
/** A deadline for ssh and the script together, never a measure of speed. */
const START_DEADLINE_MS = 120_000;
const STOP_DEADLINE_MS = 30_000;

/** What a live export needs of its job directory, wherever it is. */
export interface JobDirHandle {
  /** The directory as QEMU sees it (scratch files and the NBD socket go here). */
  dir: string;
  /** The unix socket this process reads the NBD export through. */
  socket: string;
  /** Removes the directory (and ends whatever reaches it). Never throws. */
  remove(): Promise<void>;
}

/** The script run (by `sh -c`) on the host. */
export function jobDirScript(
  remoteDir: string,
  marker: string,
  owner: { uid: number; gid: number } | undefined,
): string {
  const d = shellQuote(remoteDir);
  return [
    'umask 077',
    `mkdir ${d} || exit 90`,
    `trap 'rm -rf ${d}' EXIT`,
    // A hang-up (the session gone) ends the script through its EXIT trap.
    "trap 'exit 1' HUP INT TERM",
    `printf '%s\\n' ${shellQuote(marker)} > ${d}/job.json || exit 91`,
    // As the local path: private to root and to the user QEMU runs as (it creates the socket).
    ...(owner
      ? [`if [ "$(id -u)" = 0 ]; then chown ${owner.uid}:${owner.gid} ${d} || exit 92; fi`]
      : []),
    `chmod 700 ${d} || exit 92`,
    `echo ${READY}`,
    'cat >/dev/null',
    'exit 0',
  ].join('\n');
}

export class RemoteJobDir implements JobDirHandle {
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly session: ForwardedScriptSession,
    private readonly ssh: SshTarget,
    private readonly localDir: string,
    readonly dir: string,
    readonly socket: string,
  ) {}

  /** Makes the directory on the host and the forward to its socket; resolves once both stand. */
  static async start(
    ssh: SshTarget,
    marker: object,
    owner: { uid: number; gid: number } | undefined,
  ): Promise<RemoteJobDir> {
    const localDir = await privateTempDir('brankas-rlive-');
    const socket = join(localDir, 'nbd.sock');
    const dir = `${REMOTE_WORK_ROOT}/${REMOTE_DIR_PREFIX}${randomBytes(8).toString('hex')}`;
    const script = jobDirScript(dir, JSON.stringify(marker), owner);
    const session = ForwardedScriptSession.spawn({
      ssh,
      localSocket: socket,
      remoteSocket: `${dir}/nbd.sock`,
      script,
    });
    const jd = new RemoteJobDir(session, ssh, localDir, dir, socket);
    try {
      await jd.waitReady();
    } catch (err) {
      await jd.remove();
      throw err;
    }
    return jd;
  }

  private get running(): boolean {
    return this.session.running;
  }

  private async waitReady(): Promise<void> {
    await this.session.waitForMarker(
      READY,
      START_DEADLINE_MS,
      (code, stderr) => this.startFailure(code, stderr),
      (stderr) => this.startFailure(null, stderr || 'no answer before the deadline'),
    );
    // The local end of the forward is made before the session runs; checked, not assumed.
    const deadline = Date.now() + START_DEADLINE_MS;
    while (
      !(await access(this.socket).then(
        () => true,
        () => false,
      ))
    ) {
      if (!this.running) throw this.startFailure(this.session.child.exitCode, this.session.stderr);
      if (Date.now() > deadline) throw this.startFailure(null, 'no forwarded socket');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private startFailure(code: number | null, stderr: string): Error {
    if (code === SSH_OWN_FAILURE) return sshFailed(this.ssh, stderr);
    const host = describeSshTarget(this.ssh);
    const reason = stderr.trim() || `exit code ${code}`;
    return new EngineError(
      'REMOTE_COMMAND_FAILED',
      `cannot make the live backup's directory ${this.dir} on ${host}: ${reason}`,
      { details: { path: this.dir, host: this.ssh.host } },
    );
  }

  /** Ends the session: the script removes the directory; the local socket goes too. */
  remove(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        await this.session.end(STOP_DEADLINE_MS);
      } finally {
        await rm(this.localDir, { recursive: true, force: true });
      }
    })();
    return this.stopping;
  }
}

/** Removes job directories on the host (a killed backup's, should its session have left them). */
export async function removeRemoteDirs(ssh: SshTarget, dirs: string[]): Promise<void> {
  const ours = dirs.filter((d) =>
    new RegExp(`^${REMOTE_WORK_ROOT}/${REMOTE_DIR_PREFIX}[A-Za-z0-9]+$`).test(d),
  );
  if (ours.length === 0) return;
  await sshExec(ssh, `rm -rf ${ours.map(shellQuote).join(' ')}`).catch(() => undefined);
}
