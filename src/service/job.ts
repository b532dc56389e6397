/**
 * A job on one VM: holds the VM's lock for as long as it runs, first puts
 * right what a job before it left undone (its journal), and keeps its own
 * outstanding changes in the journal while it runs. The CLI runs every
 * command that changes a VM through it, and `brankas serve` will too.
 */
import type { PowerChange } from '../engine/index.js';
import { untilAborted } from '../util/abort.js';
import { selfIdentity } from './process-identity.js';
import { VmLock, type JobKind, type LockHolder } from './lock.js';
import { readJournal, writeJournal, type JournalChange, type JournalFile } from './journal.js';
import { recoverChange, type DomainLookup, type Recovery } from './recover.js';
import { ServiceError } from './errors.js';

export type { DomainLookup, Recovery } from './recover.js';

export interface VmJobOptions {
  stateDir: string;
  vm: string;
  kind: JobKind;
  /** Wait for a job that holds the VM instead of failing with VM_BUSY. */
  wait?: boolean;
  /** Stops the wait. */
  signal?: AbortSignal;
  /**
   * What to do with a VM a gone job left off: 'restart' it (backup, verify,
   * snapshot), or 'adopt' the change and let this job's outcome decide
   * (restore over it: a running VM cannot be restored over).
   */
  recovery?: 'restart' | 'adopt';
  onEvent?: (e: VmJobEvent) => void;
}

export type VmJobEvent =
  | { kind: 'waiting'; vm: string; holder: LockHolder }
  | { kind: 'recovered'; vm: string; change: JournalChange; recovery: Recovery };

const WAIT_POLL_MS = 500;

export class VmJob {
  private constructor(
    private readonly stateDir: string,
    private readonly lock: VmLock,
    private readonly journal: JournalFile,
  ) {}

  /** Takes the VM's lock (or fails with VM_BUSY, or waits), then recovers what was left undone. */
  static async begin(conn: DomainLookup, o: VmJobOptions): Promise<VmJob> {
    let told = false;
    let lock: VmLock | LockHolder;
    for (;;) {
      o.signal?.throwIfAborted();
      lock = await VmLock.tryTake(o.stateDir, o.vm, o.kind);
      if (lock instanceof VmLock) break;
      if (!o.wait) {
        throw new ServiceError(
          'VM_BUSY',
          `VM '${o.vm}' is busy: a ${lock.job} (process ${lock.pid}) has worked on it since ` +
            `${lock.since}; try again when it has finished, or add --wait`,
          { details: { vm: o.vm, job: lock.job, pid: lock.pid, since: lock.since } },
        );
      }
      if (!told) o.onEvent?.({ kind: 'waiting', vm: o.vm, holder: lock });
      told = true;
      await untilAborted(new Promise((r) => setTimeout(r, WAIT_POLL_MS)), o.signal);
    }
    try {
      const left = (await readJournal(o.stateDir, o.vm))?.changes ?? [];
      const job = new VmJob(o.stateDir, lock, {
        version: 1,
        vm: o.vm,
        owner: { ...selfIdentity(), job: o.kind },
        changes: [],
      });
      for (const change of left) {
        const recovery =
          o.recovery === 'adopt'
            ? ({ outcome: 'adopted' } as const)
            : await recoverChange(conn, change);
        o.onEvent?.({ kind: 'recovered', vm: o.vm, change, recovery });
        if (recovery.outcome === 'adopted' || recovery.outcome === 'failed') {
          job.journal.changes.push(change);
        }
      }
      // Written under this job's name even when unchanged: a left-over file names a gone owner.
      await writeJournal(o.stateDir, job.journal);
      return job;
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  /** Changes left by a gone job that this one took over and has not settled. */
  get outstanding(): readonly JournalChange[] {
    return this.journal.changes;
  }

  /** For the engine's onPowerChange: written before the VM stops, dropped once it is back. */
  readonly powerChange = async (c: PowerChange): Promise<void> => {
    if (c.kind === 'starting-paused') {
      // The same change, now also to be resumed when found paused.
      for (const x of this.journal.changes) if (x.uuid === c.uuid) x.startedPaused = true;
      await writeJournal(this.stateDir, this.journal);
      return;
    }
    const others = this.journal.changes.filter((x) => x.uuid !== c.uuid);
    if (c.kind === 'stopping') {
      others.push({
        kind: 'powered-off',
        vm: c.vm,
        uuid: c.uuid,
        initial: c.initial,
        at: new Date().toISOString(),
        job: this.lock.holder.job,
        pid: this.lock.holder.pid,
      });
    }
    this.journal.changes = others;
    await writeJournal(this.stateDir, this.journal);
  };

  /** The job's outcome decides the VM's state now (a restore that succeeded): nothing is left to undo. */
  async settle(): Promise<void> {
    this.journal.changes = [];
    await writeJournal(this.stateDir, this.journal);
  }

  /**
   * Ends the job: the lock is released; changes not undone stay in the
   * journal for the next job (which finds their owner gone).
   */
  async end(): Promise<void> {
    try {
      await writeJournal(this.stateDir, this.journal);
    } finally {
      await this.lock.release();
    }
  }
}
