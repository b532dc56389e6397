/**
 * What a backup's record says to the faces: whether and how it was checked (read from the
 * manifest's `verify`, which the restore test writes and the repository does not interpret),
 * and the repository as the BackupCatalog status needs. The CLI, the HTTP API and the
 * dashboard all take both from here, so they count and badge backups the same way.
 */
import type { Manifest } from '../repo/manifest.js';
import type { Repository } from '../repo/repository.js';
import type { BackupCatalog } from './status.js';

/** A backup's last check, as recorded in its manifest. */
export interface BackupVerification {
  passed: boolean;
  /** `data`: every chunk read back; `boot`: also restored and booted. Null if not recorded. */
  how: 'data' | 'boot' | null;
  at: string | null;
  reason: string | null;
}

/** The manifest's verify record, or null when the backup was never checked. */
export function verificationOf(m: Pick<Manifest, 'verify'>): BackupVerification | null {
  const v = m.verify;
  if (v === null || v === undefined) return null;
  const r = (typeof v === 'object' ? v : {}) as Record<string, unknown>;
  return {
    passed: Boolean(r['passed']),
    how: r['how'] === 'data' || r['how'] === 'boot' ? r['how'] : null,
    at: typeof r['at'] === 'string' ? r['at'] : null,
    reason: typeof r['reason'] === 'string' ? r['reason'] : null,
  };
}

/** The repository as status reads it: a VM's backups by UUID or name, listed once. */
export function repoBackupCatalog(repo: Repository): BackupCatalog {
  let listing: ReturnType<Repository['listBackups']> | undefined;
  return {
    async backupsOf(vm) {
      listing ??= repo.listBackups();
      return (await listing).backups
        .filter((b) => b.manifest.vm.uuid === vm.uuid || b.manifest.vm.name === vm.name)
        .map((b) => ({
          id: b.id,
          time: b.manifest.startedAt,
          verified: verificationOf(b.manifest)?.passed,
        }));
    },
  };
}
