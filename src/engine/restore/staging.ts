/**
 * Files a restore writes, staged so that nothing at a final path changes
 * until every new file is complete: each is written under a hidden temporary
 * name in the same directory (same file system, so a rename can place it),
 * synced, and only then renamed into place. A file it replaces (--force) is
 * kept under a second hidden name until the caller says the restore
 * succeeded, so a failure at any point puts the originals back. Block
 * devices cannot be renamed over: they are written in place.
 *
 * The hidden names carry the writing process's pid, so a later restore into
 * the same directory can tell the leftovers of a process that died (killed,
 * or the host lost power) from a restore still running, and clean them
 * (`cleanLeftovers`): a partial new file goes; a set-aside original comes
 * back when its final path is empty, and is never deleted otherwise unless
 * it is the very same file.
 */
import { randomBytes } from 'node:crypto';
import { lstatSync } from 'node:fs';
import { link, lstat, open, readdir, rename, rmdir, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { errorCode } from '../../util/errors.js';
import { EngineError } from '../errors.js';

interface Entry {
  final: string;
  /** Where the bytes are written: a temporary name, or the final path itself (block devices). */
  write: string;
  /** The replaced original, set aside during commit. */
  previous?: string;
  /** Renamed into place. */
  placed: boolean;
}

function hiddenName(final: string, what: 'new' | 'old'): string {
  return join(
    dirname(final),
    `.${basename(final)}.brankas-${what}-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
}

const HIDDEN = /^\.(.+)\.brankas-(new|old)-(\d+)-[0-9a-f]{8}$/;

/** The final path a hidden staging name stands for (for messages), or the path itself. */
export function finalPathOf(path: string): string {
  const m = HIDDEN.exec(basename(path));
  return m ? join(dirname(path), m[1]!) : path;
}

/** Whether a process with this pid exists (EPERM: it does, as another user). */
function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errorCode(err) === 'EPERM';
  }
}

/**
 * Removes what restores into `dir` left behind when their process died: its
 * partial new files are deleted; an original it had set aside is put back
 * when nothing is at its final path, deleted when it is the same file as
 * the one there (a second name only), and otherwise kept. Files of live
 * processes are untouched. Returns the paths removed or put back.
 */
export async function cleanLeftovers(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const cleaned: string[] = [];
  for (const name of names) {
    const m = HIDDEN.exec(name);
    if (!m || alive(Number(m[3]))) continue;
    const path = join(dir, name);
    const final = join(dir, m[1]!);
    if (m[2] === 'new') {
      await unlink(path).catch(() => undefined);
      cleaned.push(path);
      continue;
    }
    const now = await lstat(final).catch(() => undefined);
    const old = await lstat(path).catch(() => undefined);
    if (!old) continue;
    if (!now) {
      await rename(path, final);
      cleaned.push(path);
    } else if (now.ino === old.ino && now.dev === old.dev) {
      await unlink(path);
      cleaned.push(path);
    }
  }
  return cleaned;
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export class Staging {
  private readonly entries: Entry[] = [];

  constructor(
    /** Replace existing files (--force); otherwise an existing file is never overwritten. */
    private readonly replace: boolean,
  ) {}

  /**
   * Where to write the file meant for `final`: a new temporary file, or, for
   * a block device, the device itself (`inPlace`: it must not be created or
   * removed).
   */
  add(final: string): { path: string; inPlace: boolean } {
    const st = lstatSync(final, { throwIfNoEntry: false });
    const inPlace = st !== undefined && st.isBlockDevice();
    const write = inPlace ? final : hiddenName(final, 'new');
    this.entries.push({ final, write, placed: inPlace });
    return { path: write, inPlace };
  }

  /**
   * Puts every written file at its final path. Files are written and synced
   * by then (the image writers and writeSynced do), so only the renames and
   * the directories need syncing.
   */
  async commit(): Promise<void> {
    const dirs = new Set<string>();
    for (const e of this.entries) {
      if (e.placed) continue;
      const exists = lstatSync(e.final, { throwIfNoEntry: false }) !== undefined;
      if (exists && !this.replace) {
        throw new EngineError(
          'RESTORE_FILE_EXISTS',
          `${e.final} exists; brankas does not overwrite files without --force (or restore --to another directory)`,
          { details: { path: e.final } },
        );
      }
      if (exists) {
        // A second name for the original keeps it until the restore has succeeded.
        const previous = hiddenName(e.final, 'old');
        await link(e.final, previous).catch(() => rename(e.final, previous));
        e.previous = previous;
        await rename(e.write, e.final);
      } else {
        // No file may appear at the final path meanwhile: link fails rather than replace it.
        try {
          await link(e.write, e.final);
          await unlink(e.write);
        } catch (err) {
          if (errorCode(err) === 'EEXIST') {
            throw new EngineError(
              'RESTORE_FILE_EXISTS',
              `${e.final} appeared while restoring; brankas does not overwrite files without --force`,
              { details: { path: e.final } },
            );
          }
          // A file system without hard links.
          await rename(e.write, e.final);
        }
      }
      e.placed = true;
      dirs.add(dirname(e.final));
    }
    for (const d of dirs) await syncDir(d);
  }

  /** After success: the replaced originals go. */
  async finish(): Promise<void> {
    for (const e of this.entries) {
      if (e.previous) await unlink(e.previous).catch(() => undefined);
      e.previous = undefined;
    }
  }

  /** After failure: temporary files go, originals come back, new files at final paths go. */
  async rollback(): Promise<void> {
    for (const e of [...this.entries].reverse()) {
      if (e.write === e.final) continue;
      if (!e.placed) {
        await unlink(e.write).catch(() => undefined);
        // Set aside, but the new file never took its place.
        if (e.previous && lstatSync(e.final, { throwIfNoEntry: false })) {
          await unlink(e.previous).catch(() => undefined);
        } else if (e.previous) {
          await rename(e.previous, e.final).catch(() => undefined);
        }
      } else if (e.previous) {
        await rename(e.previous, e.final).catch(() => undefined);
      } else {
        await unlink(e.final).catch(() => undefined);
      }
    }
  }
}

/**
 * Removes the directories a failed restore created (`first`, what a
 * recursive mkdir returned, down to `deepest`), deepest first; never one
 * that is not empty.
 */
export async function removeCreatedDirs(first: string | undefined, deepest: string): Promise<void> {
  if (first === undefined) return;
  const top = resolve(first);
  for (let d = resolve(deepest); ; d = dirname(d)) {
    try {
      await rmdir(d);
    } catch {
      return;
    }
    if (d === top || dirname(d) === d) return;
  }
}
