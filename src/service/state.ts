/**
 * What the state directory says about the VMs, for `brankas status` (and the
 * dashboard later): jobs running now, and VMs a gone job left powered off.
 * Reads only; it takes no lock and changes nothing.
 */
import { join } from 'node:path';
import { isAlive } from './process-identity.js';
import { liveHolders, type LockHolder } from './lock.js';
import { readJournals, type JournalChange } from './journal.js';

/** The state directory: $BRANKAS_STATE_DIR, or /var/lib/brankas. */
export const DEFAULT_STATE_DIR = '/var/lib/brankas';

export function stateDirFrom(env: Record<string, string | undefined>): string {
  const dir = env['BRANKAS_STATE_DIR'];
  return dir ? join(dir) : DEFAULT_STATE_DIR;
}

export interface JobsState {
  /** Jobs holding a VM now. */
  running: LockHolder[];
  /** Changes of jobs that are gone and were not undone (the next job on the VM will). */
  leftUndone: JournalChange[];
}

export async function jobsState(stateDir: string): Promise<JobsState> {
  const running = await liveHolders(stateDir);
  const leftUndone = (await readJournals(stateDir))
    .filter((j) => !isAlive(j.owner))
    .flatMap((j) => j.changes);
  return { running, leftUndone };
}
