/**
 * The plan of a copy between repositories (docs/repo-copy.md): which backups of the source
 * are chosen (all, or by backup id, VM name or UUID), and for each whether the target must
 * receive it, already has it, or holds something else under its id. Nothing is written.
 */
import { RepoError, RepoIntegrityError } from '../errors.js';
import type { Manifest } from '../manifest.js';
import type { Repository } from '../repository.js';

export type CopyState = 'copy' | 'present' | 'conflict';

export interface CopyItem {
  id: string;
  vm: { name: string; uuid: string | null };
  startedAt: string;
  disks: string[];
  /** Bytes of data (not zero) in the backup's disks, as its manifest says. */
  dataBytes: number;
  state: CopyState;
  /** For a conflict: how the target's backup of that id differs. */
  reason?: string;
}

export interface CopyPlan {
  from: string;
  to: string;
  /** Whether a chunk has the same id in both (docs/repo-copy.md, "Chunk ids"). */
  sharedIds: boolean;
  items: CopyItem[];
  /** The chosen backups' source manifests, by id (what the copy needs; not rendered). */
  manifests: Map<string, Manifest>;
  /** Backups of the source whose manifests are damaged (never chosen, never copied). */
  damaged: string[];
}

/** Same chunk ids in both repositories: unkeyed, by the same hash, over the same slots. */
export function sharesIds(from: Repository, to: Repository): boolean {
  return (
    !from.encrypted &&
    !to.encrypted &&
    from.config.chunkHash === to.config.chunkHash &&
    from.config.chunkSize === to.config.chunkSize
  );
}

export async function planCopy(
  from: Repository,
  to: Repository,
  names: readonly string[] = [],
): Promise<CopyPlan> {
  from.requireKeys();
  const { backups, damaged } = await from.listBackups();
  const chosen = names.length
    ? backups.filter((b) =>
        names.some((n) => n === b.id || n === b.manifest.vm.name || n === b.manifest.vm.uuid),
      )
    : backups;
  for (const n of names) {
    if (!chosen.some((b) => n === b.id || n === b.manifest.vm.name || n === b.manifest.vm.uuid)) {
      throw new RepoError('REPO_COPY_NOTHING', `the source has no backup and no VM named ${n}`, {
        details: { location: from.location, name: n },
      });
    }
  }
  const items: CopyItem[] = [];
  const manifests = new Map<string, Manifest>();
  for (const b of chosen) {
    const m = b.manifest;
    manifests.set(b.id, m);
    const conflict = await targetHas(to, m);
    items.push({
      id: b.id,
      vm: m.vm,
      startedAt: m.startedAt,
      disks: m.disks.map((d) => d.name),
      dataBytes: m.disks.reduce((n, d) => n + d.dataBytes, 0),
      state: conflict === undefined ? 'copy' : conflict === '' ? 'present' : 'conflict',
      ...(conflict ? { reason: conflict } : {}),
    });
  }
  return {
    from: from.location,
    to: to.location,
    sharedIds: sharesIds(from, to),
    items,
    manifests,
    damaged: damaged.map((e) => e.where.backup ?? '').filter(Boolean),
  };
}

/**
 * What the target holds under the source backup's id: undefined (nothing), '' (the copy of
 * this backup), or why what it holds is another backup.
 */
export async function targetHas(to: Repository, m: Manifest): Promise<string | undefined> {
  let t: Manifest;
  try {
    t = (await to.manifest(m.id)).manifest;
  } catch (err) {
    if (err instanceof RepoError && err.code === 'REPO_BACKUP_NOT_FOUND') return undefined;
    if (err instanceof RepoIntegrityError) return `its manifest is damaged: ${err.message}`;
    throw err;
  }
  if (t.vm.name !== m.vm.name || t.vm.uuid !== m.vm.uuid) return `it is of VM ${t.vm.name}`;
  if (t.startedAt !== m.startedAt) return `it started at ${t.startedAt}`;
  const a = t.disks.map((d) => d.name).join(',');
  if (a !== m.disks.map((d) => d.name).join(',')) return `its disks are ${a}`;
  return '';
}
