/**
 * The system `ssh` as brankas runs it to reach another host: the options a
 * `qemu+ssh://` URI carries (port, user, key file, known hosts, host key
 * checking) turned into arguments, and one remote command run to its end.
 * The libvirt transport (src/libvirt/transport.ts) and the remote data path
 * (src/nbd/remote-qemu-nbd.ts, the engine's remote files) share it, so a
 * host reached for its daemon is reached the same way for its disks.
 *
 * ssh exits with 255 when it fails itself (refused key, unknown host,
 * no route); any other code is the remote command's. That is the line
 * between SSH_FAILED and whatever the caller makes of the command's exit.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrankasError, type ErrorOptionsFor } from './errors.js';

/** How to reach a host over ssh (the fields of a qemu+ssh:// URI's transport). */
export interface SshTarget {
  host: string;
  port: number | undefined;
  user: string | undefined;
  keyfile: string | undefined;
  knownHosts: string | undefined;
  noVerify: boolean;
  /** The ssh binary (default 'ssh'). */
  command: string;
}

export type SshErrorCode = 'SSH_FAILED';

/** ssh itself failed: the login was refused, the host is unknown or unreachable. */
export class SshError<C extends SshErrorCode = SshErrorCode> extends BrankasError<C> {
  override readonly name = 'SshError';
  constructor(code: C, message: string, ...options: ErrorOptionsFor<C>) {
    super(code, message, ...options);
  }
}

/** ssh's exit code for its own failures (the remote command's codes are passed through). */
export const SSH_OWN_FAILURE = 255;

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

const CIPHERS = [
  'aes128-gcm@openssh.com',
  'aes256-gcm@openssh.com',
  'chacha20-poly1305@openssh.com',
  'aes128-ctr',
  'aes192-ctr',
  'aes256-ctr',
].join(',');

let controlDirCache: string | null | undefined;

/**
 * The directory of ssh's connection-sharing sockets: `brankas-ssh-<uid>` in the temp dir, mode
 * 0700 and this user's own, else none (no sharing). Sharing one ssh connection per host makes
 * every session after the first (the disk reads, image facts, boot files of one command) cost
 * a channel instead of a key exchange (docs/remote-hosts.md).
 */
function controlDir(): string | null {
  if (controlDirCache !== undefined) return controlDirCache;
  const uid = process.getuid?.() ?? -1;
  const dir = join(tmpdir(), `brankas-ssh-${uid}`);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch {
    // Already there: used only if it is a real directory of ours that no one else may enter.
  }
  try {
    const st = lstatSync(dir);
    controlDirCache = st.isDirectory() && st.uid === uid && (st.mode & 0o077) === 0 ? dir : null;
  } catch {
    controlDirCache = null;
  }
  return controlDirCache;
}

/**
 * Longest control path ssh can use: a unix socket path holds 107 bytes, and the master first
 * listens on the path with a 17-character random suffix.
 */
const MAX_CONTROL_PATH = 107 - 17;

/**
 * The connection-sharing socket of a target in `dir`: shared only by sessions to the same
 * host, port and user with the same key and host keys. Null when the path would be too long
 * for a unix socket (a long $TMPDIR): then every session connects on its own, where ssh would
 * refuse to run at all.
 */
export function controlPath(dir: string, t: SshTarget): string | null {
  const key = createHash('sha256')
    .update(
      JSON.stringify([t.user, t.host, t.port, t.keyfile, t.knownHosts, t.noVerify, t.command]),
    )
    .digest('hex')
    .slice(0, 20);
  const path = `${dir}/${key}`;
  return Buffer.byteLength(path) <= MAX_CONTROL_PATH ? path : null;
}

/** Arguments before the host: batch mode (never a prompt), no escape character, the URI's options. */
export function sshOptions(t: SshTarget): string[] {
  const args = ['-T', '-e', 'none', '-o', 'BatchMode=yes'];
  const control = controlDir();
  const path = control === null ? null : controlPath(control, t);
  if (path) {
    // The first session becomes the master; it lingers 10 s after the last one ends.
    args.push('-o', 'ControlMaster=auto', '-o', `ControlPath=${path}`);
    args.push('-o', 'ControlPersist=10');
  }
  // OpenSSH's own ciphers, AES-GCM first: with AES instructions (any x86 server of the last
  // decade) it moves disk data faster than the default ChaCha20 (docs/benchmarks.md).
  args.push('-o', `Ciphers=${CIPHERS}`);
  if (t.port) args.push('-p', String(t.port));
  if (t.user) args.push('-l', t.user);
  if (t.keyfile) args.push('-i', t.keyfile);
  if (t.knownHosts) args.push('-o', `UserKnownHostsFile=${t.knownHosts}`);
  if (t.noVerify) args.push('-o', 'StrictHostKeyChecking=no');
  return args;
}

/** `user@host[:port]` for messages. */
export function describeSshTarget(t: SshTarget): string {
  return `${t.user ? `${t.user}@` : ''}${t.host}${t.port ? `:${t.port}` : ''}`;
}

/** The last meaningful line ssh wrote to stderr (its reason), without the warnings. */
export function sshReason(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^Warning: Permanently added/.test(l));
  return lines.at(-1) ?? 'ssh failed';
}

export function sshFailed(t: SshTarget, stderr: string, cause?: unknown): SshError {
  const reason = sshReason(stderr);
  const hint = /Permission denied|publickey/i.test(reason)
    ? ' (the host refused the key: check keyfile= and the remote authorized_keys)'
    : '';
  return new SshError('SSH_FAILED', `ssh to ${describeSshTarget(t)} failed: ${reason}${hint}`, {
    ...(cause === undefined ? {} : { cause }),
    details: { host: t.host, stderr },
  });
}

export interface SshExecResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs `command` (a shell command line) on the host, with `input` on its stdin (else none), and
 * collects its output. Rejects with
 * SSH_FAILED when ssh itself fails; the command's own exit code is the caller's to judge.
 */
export function sshExec(
  t: SshTarget,
  command: string,
  o: { signal?: AbortSignal | undefined; input?: Uint8Array } = {},
): Promise<SshExecResult> {
  return new Promise((resolve, reject) => {
    o.signal?.throwIfAborted();
    const child = spawn(t.command, [...sshOptions(t), '--', t.host, command], {
      stdio: [o.input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      ...(o.signal ? { signal: o.signal } : {}),
    });
    // A command that exits without reading all of it closes the pipe: its exit code tells.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(o.input);
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      if (stderr.length < 16384) stderr += s;
    });
    child.once('error', (err) => {
      if (o.signal?.aborted) reject(o.signal.reason);
      else reject(sshFailed(t, err.message, err));
    });
    child.once('close', (code) => {
      if (o.signal?.aborted) return reject(o.signal.reason);
      if (code === SSH_OWN_FAILURE) return reject(sshFailed(t, stderr));
      resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr });
    });
  });
}
