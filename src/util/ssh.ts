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

/** Arguments before the host: batch mode (never a prompt), no escape character, the URI's options. */
export function sshOptions(t: SshTarget): string[] {
  const args = ['-T', '-e', 'none', '-o', 'BatchMode=yes'];
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
