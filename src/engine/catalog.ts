/**
 * Which backups there are, damaged ones included, and which one a reference means: a backup id,
 * or a VM name for that VM's newest backup. A damaged manifest is never passed over in silence:
 * the listing names it, and choosing by VM name refuses when the newest backup is damaged
 * unless the caller asks for the newest intact one (and is told which ones it skipped).
 */
import type { BackupListing, Repository } from '../repo/repository.js';
import type { Manifest } from '../repo/manifest.js';
import { EngineError } from './errors.js';

export interface DamagedBackup {
  id: string;
  /** The VM's name as the damaged manifest gives it (unauthenticated), or null if unreadable. */
  vm: string | null;
  /** Its start time (from the manifest if readable, else from the backup id). */
  startedAt: string;
  /** Why it is damaged. */
  message: string;
}

export interface BackupCatalogue {
  /** Intact backups, oldest first. */
  backups: BackupListing[];
  damaged: DamagedBackup[];
}

export interface BackupChoice {
  manifest: Manifest;
  /** Damaged backups newer than the one chosen that could have been this VM's (skipDamaged). */
  skippedDamaged: DamagedBackup[];
}

export interface ChooseOptions {
  /**
   * When the VM's newest backups are damaged, take the newest intact one instead of refusing
   * (the choice names what it skipped).
   */
  skipDamaged?: boolean;
}

export async function listBackupCatalogue(repo: Repository): Promise<BackupCatalogue> {
  const { backups, damaged } = await repo.listBackups();
  const out: DamagedBackup[] = [];
  for (const e of damaged) {
    const id = e.where.backup ?? '?';
    const seen = await repo.peekDamaged(id);
    out.push({ id, vm: seen.vm, startedAt: seen.startedAt, message: e.message });
  }
  out.sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.id.localeCompare(b.id));
  return { backups, damaged: out };
}

/** The damaged backups that may belong to VM `name` (those whose VM cannot be read too). */
export function damagedOf(c: BackupCatalogue, name: string): DamagedBackup[] {
  return c.damaged.filter((d) => d.vm === null || d.vm === name);
}

/** A backup by id, or a VM name meaning that VM's newest backup; see the module comment. */
export async function chooseBackup(
  repo: Repository,
  ref: string,
  o: ChooseOptions = {},
): Promise<BackupChoice> {
  const c = await listBackupCatalogue(repo);
  const byId = c.backups.find((b) => b.id === ref);
  if (byId) return { manifest: byId.manifest, skippedDamaged: [] };
  const named = c.damaged.find((d) => d.id === ref);
  if (named) {
    throw new EngineError('BACKUP_DAMAGED', `backup ${ref} is damaged: ${named.message}`, {
      details: { backup: ref, reason: named.message },
    });
  }
  const latest = c.backups.filter((b) => b.manifest.vm.name === ref).at(-1);
  const after = latest?.manifest.startedAt ?? '';
  const newer = damagedOf(c, ref).filter((d) => d.startedAt > after);
  // Damaged backups whose VM cannot be read count only if the VM has backups or named ones.
  const relevant = latest || newer.some((d) => d.vm === ref) ? newer : [];
  if (!latest) {
    if (relevant.length) {
      throw new EngineError(
        'BACKUP_DAMAGED',
        `every backup of VM '${ref}' is damaged (${relevant.map((d) => d.id).join(', ')}): ${relevant.at(-1)!.message}`,
        {
          details: { vm: ref, backup: relevant.map((d) => d.id), reason: relevant.at(-1)!.message },
        },
      );
    }
    throw new EngineError(
      'BACKUP_NOT_FOUND',
      `no backup with id '${ref}' and no backup of a VM named '${ref}'`,
      { details: { backup: ref } },
    );
  }
  if (relevant.length && !o.skipDamaged) {
    const ids = relevant.map((d) => d.id);
    throw new EngineError(
      'BACKUP_LATEST_DAMAGED',
      `the newest backup of VM '${ref}' is damaged (${ids.join(', ')}: ${relevant.at(-1)!.message}); ` +
        `the newest intact one is ${latest.id}: name it, or pass --skip-damaged to take it`,
      { details: { vm: ref, damaged: ids, previous: latest.id } },
    );
  }
  return { manifest: latest.manifest, skippedDamaged: relevant };
}

/**
 * The backup `ref` names (as chooseBackup) and the name of its disk `disk`, or its first disk
 * when none is named; MOUNT_DISK_NOT_FOUND, listing the disks it has, otherwise. What `mount`
 * serves and `files` reads.
 */
export async function chooseBackupDisk(
  repo: Repository,
  ref: string,
  o: ChooseOptions & { disk?: string } = {},
): Promise<{ manifest: Manifest; disk: string }> {
  const { manifest } = await chooseBackup(repo, ref, o);
  const name = o.disk ?? manifest.disks[0]?.name;
  if (!name || !manifest.disks.some((d) => d.name === name)) {
    throw new EngineError(
      'MOUNT_DISK_NOT_FOUND',
      `backup ${manifest.id} has no disk ${name ?? '(none)'}`,
      {
        details: {
          backup: manifest.id,
          vm: manifest.vm.name,
          disk: name ?? '',
          disks: manifest.disks.map((d) => d.name).join(', ') || '-',
        },
      },
    );
  }
  return { manifest, disk: name };
}
