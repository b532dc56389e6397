/**
 * Files a restore writes on a remote host (the connection is `qemu+ssh://`),
 * staged there as staging.ts stages them here: each is written under a
 * hidden temporary name in its target directory and takes its place only
 * once every file is complete; a file --force replaces is kept under a
 * second hidden name (a hard link) until the caller says the restore
 * succeeded, so a failure at any point puts the originals back. Every step
 * is a short shell command over ssh. The hidden names carry no pid (one of
 * this machine would mean nothing on that host): `.NAME.brankas-remote-<hex>`
 * for a new file, `.NAME.brankas-remote-old-<hex>` for a replaced one.
 *
 * Block devices on the host (an LVM volume as a VM's disk) are not written
 * over: that is refused before anything is written (`remoteKind`).
 */
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { describeSshTarget, shellQuote, sshExec, type SshTarget } from '../../util/ssh.js';
import { remoteRun } from '../remote/disk-sink.js';
import { EngineError } from '../errors.js';

/** What is at a path on the host: nothing, a block device, or anything else. */
export type RemoteKind = 'none' | 'block' | 'other';

/** Exit code of the placing script when the final path is taken. */
const TAKEN = 17;

export async function remoteKind(
  ssh: SshTarget,
  path: string,
  signal?: AbortSignal,
): Promise<RemoteKind> {
  const p = shellQuote(path);
  const out = await remoteRun(
    ssh,
    `if [ -b ${p} ]; then echo block; elif [ -e ${p} ] || [ -L ${p} ]; then echo other; else echo none; fi`,
    `looking at ${path}`,
    { signal },
  );
  const kind = out.trim();
  return kind === 'block' || kind === 'other' ? kind : 'none';
}

/** Refuses a block device on the host as a target of --force (written in place only locally). */
export function blockDeviceRefused(ssh: SshTarget, path: string): EngineError {
  return new EngineError(
    'REMOTE_UNSUPPORTED',
    `restoring over the block device ${path} on ${describeSshTarget(ssh)} is not supported on a remote host yet`,
    { details: { what: `restoring over the block device ${path}` } },
  );
}

interface Entry {
  final: string;
  tmp: string;
  /** The replaced original's second name, once set aside. */
  previous?: string;
  placed: boolean;
}

function hidden(final: string, what: 'new' | 'old'): string {
  const tag = what === 'new' ? 'brankas-remote' : 'brankas-remote-old';
  return join(dirname(final), `.${basename(final)}.${tag}-${randomBytes(8).toString('hex')}`);
}

export class RemoteStaging {
  private readonly entries: Entry[] = [];

  constructor(
    private readonly ssh: SshTarget,
    /** Replace existing files (--force); otherwise an existing file is never overwritten. */
    private readonly replace: boolean,
    private readonly signal?: AbortSignal,
  ) {}

  /** The temporary path to write the file meant for `final` to. */
  add(final: string): string {
    const tmp = hidden(final, 'new');
    this.entries.push({ final, tmp, placed: false });
    return tmp;
  }

  /** Puts every written file at its final path; a replaced file is kept under a second name. */
  async commit(): Promise<void> {
    const dirs = new Set<string>();
    for (const e of this.entries) {
      const f = shellQuote(e.final);
      const t = shellQuote(e.tmp);
      const previous = hidden(e.final, 'old');
      const o = shellQuote(previous);
      // `ln` never replaces: a path something took meanwhile is refused, not overwritten.
      // A directory is never replaced (as locally, where rename refuses it).
      const script = this.replace
        ? `if [ -d ${f} ] && [ ! -L ${f} ]; then echo 'is a directory' >&2; exit 1; fi; ` +
          `if [ -e ${f} ] || [ -L ${f} ]; then { ln ${f} ${o} 2>/dev/null || mv ${f} ${o}; } && mv -f ${t} ${f} && echo replaced; ` +
          `else ln ${t} ${f} && rm -f ${t} && echo placed; fi`
        : `if [ -e ${f} ] || [ -L ${f} ]; then exit ${TAKEN}; fi; ` +
          `if ln ${t} ${f}; then rm -f ${t}; echo placed; elif [ -e ${f} ]; then exit ${TAKEN}; else exit 1; fi`;
      const r = await sshExec(this.ssh, script, { signal: this.signal });
      if (r.code === TAKEN) {
        throw new EngineError(
          'RESTORE_FILE_EXISTS',
          `${e.final} appeared while restoring; brankas does not overwrite files without --force`,
          { details: { path: e.final } },
        );
      }
      const out = r.stdout.toString('utf8').trim();
      if (r.code !== 0 || (out !== 'placed' && out !== 'replaced')) {
        // A set-aside original whose replacement failed is put back by rollback().
        if (out !== 'placed') e.previous = previous;
        throw new EngineError(
          'REMOTE_COMMAND_FAILED',
          `placing ${e.final} on ${this.ssh.host} failed: ${r.stderr.trim() || `exit code ${r.code}`}`,
          { details: { host: this.ssh.host, exitCode: r.code, stderr: r.stderr } },
        );
      }
      if (out === 'replaced') e.previous = previous;
      e.placed = true;
      dirs.add(dirname(e.final));
    }
    // The renames are durable once their directories are synced (coreutils' sync takes paths).
    await sshExec(this.ssh, `sync ${[...dirs].map(shellQuote).join(' ')}`, {
      signal: this.signal,
    }).catch(() => undefined);
  }

  /** After success: the replaced originals go. */
  async finish(): Promise<void> {
    const old = this.entries.filter((e) => e.previous !== undefined).map((e) => e.previous!);
    this.entries.forEach((e) => delete e.previous);
    if (old.length > 0) {
      await sshExec(this.ssh, `rm -f ${old.map(shellQuote).join(' ')}`).catch(() => undefined);
    }
  }

  /**
   * After failure: temporary files go, originals come back, new files at final paths go. One
   * command, never aborted by the caller's signal (the cleanup must run when it fired).
   */
  async rollback(): Promise<void> {
    const steps: string[] = [];
    for (const e of [...this.entries].reverse()) {
      const f = shellQuote(e.final);
      steps.push(`rm -f ${shellQuote(e.tmp)}`);
      if (e.previous !== undefined) {
        const o = shellQuote(e.previous);
        // Set aside: back in its place, whatever this restore put there.
        steps.push(`if [ -e ${o} ]; then mv -f ${o} ${f}; fi`);
      } else if (e.placed) {
        steps.push(`rm -f ${f}`);
      }
    }
    if (steps.length > 0)
      await sshExec(this.ssh, `${steps.join('; ')}; true`).catch(() => undefined);
  }
}

/**
 * `mkdir -p DIR` on the host; returns the topmost directory it created (to remove them again
 * on failure), or undefined when DIR existed.
 */
export async function remoteMkdirs(
  ssh: SshTarget,
  dir: string,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const d = shellQuote(dir);
  const out = await remoteRun(
    ssh,
    `d=${d}; top=; while [ ! -e "$d" ]; do top=$d; d=$(dirname "$d"); done; ` +
      `mkdir -p ${d} && printf %s "$top"`,
    `creating ${dir}`,
    { signal },
  );
  return out === '' ? undefined : out;
}

/** Removes the directories remoteMkdirs created, deepest first; never one that is not empty. */
export async function remoteRemoveCreatedDirs(
  ssh: SshTarget,
  top: string | undefined,
  deepest: string,
): Promise<void> {
  if (top === undefined) return;
  await sshExec(
    ssh,
    `d=${shellQuote(deepest)}; while rmdir "$d" 2>/dev/null; do ` +
      `[ "$d" = ${shellQuote(top)} ] && break; d=$(dirname "$d"); done; true`,
  ).catch(() => undefined);
}
