/**
 * `brankas doctor --fix`: carries out a doctor plan (plan.ts), finding by
 * finding, in an order that keeps the guest safe: thawed first, then the
 * backup job aborted (which ends its NBD export), then its directory removed,
 * then the checkpoints deleted, then the bitmaps no checkpoint names. A
 * finding that cannot be fixed is reported and the others still are. The caller holds each VM's job lock; VMs left
 * shut off are the service's to start again (it also clears its journal),
 * so they are not handled here.
 */
import type { Connection } from '../../libvirt/index.js';
import { errorMessage } from '../../util/errors.js';
import { abortJob } from '../backup/live/leftovers.js';
import { removeOrphanBitmap } from './bitmaps.js';
import { jobDirHost, removeJobDir } from './job-dirs.js';
import type { DoctorFinding } from './plan.js';

export interface DoctorFixResult {
  finding: DoctorFinding;
  outcome: 'fixed' | 'failed';
  message?: string;
}

const ORDER: Record<DoctorFinding['kind'], number> = {
  'frozen-guest': 0,
  'backup-job': 1,
  'work-dir': 2,
  'orphan-checkpoint': 3,
  // After the checkpoints: deleting one of those takes its bitmaps with it.
  'orphan-bitmap': 4,
  'left-shut-off': 5,
};

export async function fixFindings(
  conn: Connection,
  findings: DoctorFinding[],
  signal?: AbortSignal,
): Promise<DoctorFixResult[]> {
  const sorted = findings
    .filter((f) => f.kind !== 'left-shut-off')
    .sort((a, b) => ORDER[a.kind] - ORDER[b.kind]);
  const results: DoctorFixResult[] = [];
  for (const f of sorted) {
    signal?.throwIfAborted();
    try {
      await fixOne(conn, f);
      results.push({ finding: f, outcome: 'fixed' });
    } catch (err) {
      results.push({ finding: f, outcome: 'failed', message: errorMessage(err) });
    }
  }
  return results;
}

async function fixOne(conn: Connection, f: DoctorFinding): Promise<void> {
  switch (f.kind) {
    case 'frozen-guest':
      await (await conn.lookupDomain(f.vm)).fsThaw();
      return;
    case 'backup-job':
      await abortJob(await conn.lookupDomain(f.vm));
      return;
    case 'work-dir':
      await removeJobDir(jobDirHost(conn), f.path);
      return;
    case 'orphan-checkpoint':
      await (await (await conn.lookupDomain(f.vm)).lookupCheckpoint(f.checkpoint)).delete();
      return;
    case 'orphan-bitmap':
      await removeOrphanBitmap(await conn.lookupDomain(f.vm), jobDirHost(conn), f);
      return;
    case 'left-shut-off':
      return;
  }
}
