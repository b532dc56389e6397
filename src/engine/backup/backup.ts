/**
 * `backup` with a mode: live (the VM keeps running: live/), cold (shut down,
 * copied, started again: cold.ts), or auto, the default: live when the VM is
 * running or paused, cold when it is shut off.
 */
import type { Connection } from '../../libvirt/index.js';
import type { Repository } from '../../repo/repository.js';
import { findVm } from '../snapshot/tree.js';
import { EngineError } from '../errors.js';
import { dataHostOf } from '../remote/host.js';
import { coldBackup, type ColdBackupOptions, type ColdBackupResult } from './cold.js';
import { liveBackup, type LiveBackupOptions, type LiveBackupResult } from './live/live.js';

export type BackupMode = 'live' | 'cold' | 'auto';

export type BackupOptions = ColdBackupOptions & LiveBackupOptions & { mode?: BackupMode };

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
  if (mode === 'live') {
    // The live path hands QEMU a local socket directory and reads it here: on a remote host it
    // would be a path of this machine (docs/remote-hosts.md). Not yet over ssh.
    if (dataHostOf(conn).kind !== 'local') {
      throw new EngineError(
        'REMOTE_UNSUPPORTED',
        'a live backup (of a running VM) is not supported for a VM on a remote host yet; shut it down or use --mode cold',
        {
          details: {
            what: 'a live backup (of a running VM; use --mode cold, which shuts it down and starts it again)',
          },
        },
      );
    }
    return liveBackup(conn, repo, vmName, o);
  }
  return { ...(await coldBackup(conn, repo, vmName, o)), mode: 'cold' };
}
