/**
 * Putting right what a gone job left undone: a VM it powered off and never
 * started again is started again (and paused again when it was found
 * paused; one it started paused and left so is resumed), unless it is running again already, is gone, or is another VM
 * by now (same name, other UUID).
 */
import { isNotFound, type Connection, type Domain } from '../libvirt/index.js';
import { errorMessage } from '../util/errors.js';
import type { JournalChange } from './journal.js';

/** What recovery needs of a libvirt connection. */
export type DomainLookup = Pick<Connection, 'lookupDomain'>;

export type Recovery =
  | { outcome: 'started' }
  | { outcome: 'not-needed'; reason: 'running' | 'gone' | 'replaced' }
  | { outcome: 'adopted' }
  | { outcome: 'failed'; message: string };

async function lookup(conn: DomainLookup, name: string): Promise<Domain | undefined> {
  try {
    return await conn.lookupDomain(name);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export async function recoverChange(conn: DomainLookup, change: JournalChange): Promise<Recovery> {
  try {
    const vm = await lookup(conn, change.vm);
    if (!vm) return { outcome: 'not-needed', reason: 'gone' };
    if (vm.uuid !== change.uuid) return { outcome: 'not-needed', reason: 'replaced' };
    const { state } = await vm.state();
    if (state === 'paused' && change.startedPaused && change.initial !== 'paused') {
      await vm.resume();
      return { outcome: 'started' };
    }
    if (state !== 'shutoff') return { outcome: 'not-needed', reason: 'running' };
    await vm.start();
    if (change.initial === 'paused') await vm.suspend();
    return { outcome: 'started' };
  } catch (err) {
    return { outcome: 'failed', message: errorMessage(err) };
  }
}
