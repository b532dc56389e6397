/**
 * Files that have not changed since the last backup are not read again, as
 * restic and git decide it: the same path, inode, size, modification time
 * and change time (nanoseconds) as recorded by the previous backup of the
 * same VM. The change time cannot be set from user space, and libvirt's
 * relabelling of a disk at VM start and stop changes it, so a disk a VM
 * has used since is always read. A file changed less than a second before
 * the previous backup looked at it is read again: a later change within the
 * same timestamp tick could otherwise leave every field equal (the "racy
 * timestamp" case git guards against). A backup that skips a file takes the
 * previous backup's chunk ids for it (the writer's changed-ranges path with
 * no ranges): logically full all the same.
 */
import { stat } from 'node:fs/promises';
import type { Manifest, ManifestDisk } from '../../repo/manifest.js';
import type { Repository } from '../../repo/repository.js';

export interface FileState {
  path: string;
  ino: string;
  size: string;
  mtimeNs: string;
  ctimeNs: string;
  /** When it was looked at (wall clock, ns). */
  seenNs: string;
}

/** How long before it was looked at a file must have last changed to be trusted unread. */
const SETTLED_NS = 1_000_000_000n;

/** The states of regular files (undefined when any is not one: block devices are always read). */
export async function fileStates(paths: string[]): Promise<FileState[] | undefined> {
  const states: FileState[] = [];
  for (const path of paths) {
    const st = await stat(path, { bigint: true }).catch(() => undefined);
    if (!st?.isFile()) return undefined;
    states.push({
      path,
      ino: String(st.ino),
      size: String(st.size),
      mtimeNs: String(st.mtimeNs),
      ctimeNs: String(st.ctimeNs),
      seenNs: String(BigInt(Date.now()) * 1_000_000n),
    });
  }
  return states;
}

/** The recorded change had settled when it was recorded (see the module comment). */
function settled(o: Partial<FileState>): boolean {
  try {
    return BigInt(o.ctimeNs ?? '') + SETTLED_NS <= BigInt(o.seenNs ?? '');
  } catch {
    return false;
  }
}

function sameStates(a: FileState[], b: unknown): boolean {
  if (!Array.isArray(b) || a.length !== b.length || a.length === 0) return false;
  return a.every((s, i) => {
    const o = b[i] as Partial<FileState> | null;
    return (
      o !== null &&
      typeof o === 'object' &&
      o.path === s.path &&
      o.ino === s.ino &&
      o.size === s.size &&
      o.mtimeNs === s.mtimeNs &&
      o.ctimeNs === s.ctimeNs &&
      settled(o)
    );
  });
}

/** Whether `disk` of the previous backup was made from exactly these files, unmodified. */
export function unchangedSince(
  previous: Manifest | undefined,
  name: string,
  states: FileState[] | undefined,
): ManifestDisk | undefined {
  if (!previous || !states) return undefined;
  const d = previous.disks.find((x) => x.name === name);
  const recorded = (d?.formatOptions as { fileState?: unknown } | null | undefined)?.fileState;
  return d && sameStates(states, recorded) ? d : undefined;
}

/** The latest complete backup of this VM (same name and, when known, UUID). */
export async function previousBackup(
  repo: Repository,
  vm: { name: string; uuid: string },
): Promise<Manifest | undefined> {
  // Listed oldest first, manifests read and checked.
  const { backups } = await repo.listBackups();
  return backups
    .filter((b) => b.manifest.vm.name === vm.name && (b.manifest.vm.uuid ?? vm.uuid) === vm.uuid)
    .at(-1)?.manifest;
}
