/**
 * Private directories in the temp dir for a process's sockets (the local ends of ssh
 * forwards: nbd/remote-qemu-nbd.ts, engine/remote/job-dir.ts) or elsewhere (a live backup's job
 * directory: engine/backup/live), named `<prefix><pid>-<random>`
 * and made mode 0700. A process killed outright cannot remove its own; the next one that makes
 * a directory of the same prefix removes those whose process is gone (issue #12: what a dead
 * process left is cleaned at the next run). A live process's, another user's (no signal may
 * reach it) and anything not named so are left alone.
 */
import { chmod, mkdtemp, readdir, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PrivateDirOptions {
  /** Where (default: the temp dir). */
  root?: string;
  /**
   * Remove only the empty directories of processes that are gone: what is in one may still be
   * in use by another program (a live backup's scratch files, by QEMU; engine/backup/live).
   */
  emptyOnly?: boolean;
}

/** A fresh private directory `<root>/<prefix><pid>-XXXXXX`, after removing dead processes' ones. */
export async function privateTempDir(prefix: string, o: PrivateDirOptions = {}): Promise<string> {
  const root = o.root ?? tmpdir();
  await removeDeadOnes(root, prefix, o.emptyOnly ?? false);
  const dir = await mkdtemp(join(root, `${prefix}${process.pid}-`));
  await chmod(dir, 0o700);
  return dir;
}

async function removeDeadOnes(root: string, prefix: string, emptyOnly: boolean): Promise<void> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return;
  }
  const pattern = new RegExp(
    `^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\d+)-[A-Za-z0-9]{6}$`,
  );
  for (const name of names) {
    const m = pattern.exec(name);
    if (!m || !processGone(Number(m[1]))) continue;
    const path = join(root, name);
    // rmdir removes a directory only when it is empty.
    await (emptyOnly ? rmdir(path) : rm(path, { recursive: true, force: true })).catch(
      () => undefined,
    );
  }
}

/** True only when no process has this pid (ESRCH); EPERM means one runs as another user. */
function processGone(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0); // signal 0: only asks whether the process exists
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
