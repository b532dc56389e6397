/**
 * `backup` with a mode: live (the VM keeps running: live/), cold (shut down,
 * copied, started again: cold.ts), or auto, the default: live when the VM is
 * running or paused, cold when it is shut off. `consistency: 'shutdown'`
 * backs a running VM up with a cold backup's consistency and one reboot's
 * downtime (shutdown-point.ts); a shut-off VM is backed up cold.
 */
import type { Connection } from '../../libvirt/index.js';
import type { Repository } from '../../repo/repository.js';
import { findVm } from '../snapshot/tree.js';
import { coldBackup, type ColdBackupOptions, type ColdBackupResult } from './cold.js';
import { liveBackup, type LiveBackupOptions, type LiveBackupResult } from './live/live.js';
import { shutdownConsistentBackup } from './shutdown-point.js';

export type BackupMode = 'live' | 'cold' | 'auto';

export type BackupOptions = ColdBackupOptions &
  Omit<LiveBackupOptions, 'consistency'> & {
    mode?: BackupMode;
    /**
     * `application`: fail rather than back up crash-consistent; `shutdown`: shut down, start
     * paused, take the point, resume, read while it runs. A cold backup is shut-down anyway.
     */
    consistency?: 'auto' | 'application' | 'shutdown';
  };

export type BackupResult = LiveBackupResult | (ColdBackupResult & { mode: 'cold' });

export async function backupVm(
  conn: Connection,
  repo: Repository,
  vmName: string,
  o: BackupOptions = {},
): Promise<BackupResult> {
  let mode = o.mode ?? 'auto';
  if (mode === 'auto') {
    const { state } = await (await findVm(conn, vmName)).state();
    mode = state === 'running' || state === 'paused' ? 'live' : 'cold';
  }
  const { consistency, ...rest } = o;
  if (mode === 'live' && consistency === 'shutdown') {
    return shutdownConsistentBackup(conn, repo, vmName, rest);
  }
  if (mode === 'live') {
    return liveBackup(conn, repo, vmName, {
      ...rest,
      ...(consistency === 'application' ? { consistency } : {}),
    });
  }
  return { ...(await coldBackup(conn, repo, vmName, o)), mode: 'cold' };
}
