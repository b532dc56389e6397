/**
 * The job queue of `brankas serve`: jobs on VMs run at most `limit` at a time and one at a time
 * per VM (in this process by the queue, against other processes by the VM's lock: each job runs
 * inside a VmJob). A request for a busy VM is refused with VM_BUSY, or waits in line when asked.
 * Jobs on the repository (verify, prune, gc) have a key of their own: one at a time, each
 * waiting in line behind the other; beside backups they are kept safe by the repository's locks.
 * A job is cancelled through its AbortSignal (the engine puts the VM back), its progress goes
 * to whoever subscribed, and every change of state is written to the job history (SQLite), with
 * the job's notes and states in its bounded log there.
 */
import { randomUUID } from 'node:crypto';
import { errorCode, errorMessage, isBrankasError } from '../util/errors.js';
import { ServiceError } from './errors.js';
import {
  FINAL_STATES,
  type JobHistory,
  type JobLogEntry,
  type JobRecord,
  type RepoJobKind,
} from './job-history.js';
import { VmJob, type DomainLookup, type VmJobEvent } from './job.js';
import { lockHolder, type JobKind } from './lock.js';
import { jobsState } from './state.js';

/** What a job does, given its VmJob (for the engine's onPowerChange), signal and reporters. */
export type JobWork = (ctx: {
  job: VmJob;
  signal: AbortSignal;
  progress: (p: unknown) => void;
  note: (e: unknown) => void;
}) => Promise<unknown>;

export interface VmJobRequest {
  vm: string;
  kind: JobKind;
  /** Wait in line behind a job on the same VM instead of VM_BUSY. */
  wait?: boolean;
  work: JobWork;
}

/** Work on the repository: no VM, so no VmJob (and nothing to put back). */
export type RepoJobWork = (ctx: {
  signal: AbortSignal;
  progress: (p: unknown) => void;
  note: (e: unknown) => void;
}) => Promise<unknown>;

/** A job on the repository; it always waits in line behind another such job. */
export interface RepoJobRequest {
  repo: true;
  kind: RepoJobKind;
  work: RepoJobWork;
}

export type JobRequest = VmJobRequest | RepoJobRequest;

/** The key jobs run one at a time on: the VM's name, or the repository's (never a VM name). */
const keyOf = (r: JobRecord): string => (r.vm === null ? 'repository' : `vm:${r.vm}`);

export type JobEvent =
  | { type: 'state'; job: JobRecord }
  | { type: 'progress'; progress: unknown }
  | { type: 'note'; note: unknown };

export interface JobQueueOptions {
  stateDir: string;
  history: JobHistory;
  /** The libvirt connection recovery uses (a VM a killed job left off is started again). */
  connect: () => Promise<DomainLookup>;
  /** Jobs running at once (default 2). */
  limit?: number;
}

interface Entry {
  record: JobRecord;
  request: JobRequest;
  abort: AbortController;
  listeners: Set<(e: JobEvent) => void>;
  done: Promise<void>;
  finish: () => void;
}

export class JobQueue {
  private readonly entries = new Map<string, Entry>();
  private readonly waiting: Entry[] = [];
  private readonly running = new Set<Entry>();
  private closed = false;

  constructor(private readonly o: JobQueueOptions) {}

  get limit(): number {
    return this.o.limit ?? 2;
  }

  /** Queues a job; VM_BUSY at once when the VM is busy and the request does not wait. */
  async submit(request: JobRequest): Promise<JobRecord> {
    if (this.closed) throw new Error('the job queue is closed');
    const vm = 'repo' in request ? null : request.vm;
    if (vm !== null && !('repo' in request) && !request.wait) {
      const mine = [...this.running, ...this.waiting].find((e) => e.record.vm === vm);
      const holder = mine ? undefined : await lockHolder(this.o.stateDir, vm);
      if (mine || holder) {
        const job = mine?.record.kind ?? holder!.job;
        const pid = mine ? process.pid : holder!.pid;
        const since = mine ? (mine.record.startedAt ?? mine.record.createdAt) : holder!.since;
        throw new ServiceError(
          'VM_BUSY',
          `VM '${vm}' is busy: a ${job} (process ${pid}) has worked on it since ` +
            `${since}; try again when it has finished, or add --wait`,
          { details: { vm, job, pid, since } },
        );
      }
    }
    let finish!: () => void;
    const done = new Promise<void>((r) => (finish = r));
    const entry: Entry = {
      record: {
        id: randomUUID(),
        vm,
        kind: request.kind,
        state: 'queued',
        createdAt: new Date().toISOString(),
        startedAt: null,
        endedAt: null,
        result: null,
        error: null,
      },
      request,
      abort: new AbortController(),
      listeners: new Set(),
      done,
      finish,
    };
    this.entries.set(entry.record.id, entry);
    this.o.history.put(entry.record);
    this.o.history.appendLog(entry.record.id, 'state', 'queued');
    this.waiting.push(entry);
    this.pump();
    return { ...entry.record };
  }

  /** A job of this process's queue or, failing that, of the history. */
  get(id: string): JobRecord {
    const live = this.entries.get(id)?.record;
    const found = live ? { ...live } : this.o.history.get(id);
    if (!found) {
      throw new ServiceError('JOB_NOT_FOUND', `no job with id '${id}'`, { details: { job: id } });
    }
    return found;
  }

  list(o: { vm?: string; limit?: number } = {}): JobRecord[] {
    return this.o.history.list(o);
  }

  /**
   * Follows a job: `fn` gets its state now, then every event until it ends. Returns the
   * function that stops following (undefined when the job had already ended).
   */
  subscribe(id: string, fn: (e: JobEvent) => void): (() => void) | undefined {
    const job = this.get(id);
    fn({ type: 'state', job });
    const entry = this.entries.get(id);
    if (!entry || FINAL_STATES.includes(entry.record.state)) return undefined;
    entry.listeners.add(fn);
    return () => entry.listeners.delete(fn);
  }

  /** Cancels a job: a queued one never starts, a running one is stopped through its signal. */
  cancel(id: string): JobRecord {
    const job = this.get(id);
    const entry = this.entries.get(id);
    if (!entry || FINAL_STATES.includes(job.state)) return job;
    if (entry.record.state === 'queued') {
      this.waiting.splice(this.waiting.indexOf(entry), 1);
      this.end(entry, 'cancelled', null, null);
    } else {
      entry.abort.abort();
    }
    return { ...entry.record };
  }

  /** Resolves when the job has ended (at once for a job of the history). */
  async settled(id: string): Promise<JobRecord> {
    await this.entries.get(id)?.done;
    return this.get(id);
  }

  /**
   * At the start of a service: puts right what jobs that are gone (a killed brankas) left
   * undone, at once rather than at the next job on each VM (a VM a killed backup left off is
   * started again). A VM another process holds now is left to it. Reports what it found.
   */
  async recoverLeftUndone(onEvent: (e: VmJobEvent) => void): Promise<void> {
    const left = (await jobsState(this.o.stateDir)).leftUndone;
    for (const vm of new Set(left.map((c) => c.vm))) {
      const kind = left.find((c) => c.vm === vm)!.job;
      try {
        const job = await VmJob.begin(await this.o.connect(), {
          stateDir: this.o.stateDir,
          vm,
          kind,
          recovery: 'restart',
          onEvent,
        });
        await job.end();
      } catch (err) {
        if (errorCode(err) !== 'VM_BUSY') throw err;
      }
    }
  }

  /** Cancels every job and waits until the running ones have put their VMs back. */
  async close(): Promise<void> {
    this.closed = true;
    for (const e of [...this.waiting]) this.cancel(e.record.id);
    for (const e of this.running) e.abort.abort();
    await Promise.all([...this.running].map((e) => e.done));
  }

  /** The job's log as kept in the history (its notes and changes of state, bounded). */
  log(id: string): JobLogEntry[] {
    this.get(id); // JOB_NOT_FOUND for an unknown id
    return this.o.history.log(id);
  }

  private emit(entry: Entry, e: JobEvent): void {
    // Progress is live only (many a second); notes and states are kept in the job's log. A log
    // that cannot be written (a busy database) loses a line, never the job.
    try {
      if (e.type === 'note') this.o.history.appendLog(entry.record.id, 'note', e.note);
      if (e.type === 'state') this.o.history.appendLog(entry.record.id, 'state', e.job.state);
    } catch {
      // The live subscribers below still get it.
    }
    for (const fn of entry.listeners) {
      try {
        fn(e);
      } catch {
        // A subscriber that fails (a closed stream) does not stop the job.
      }
    }
  }

  private setState(entry: Entry, patch: Partial<JobRecord>): void {
    Object.assign(entry.record, patch);
    this.o.history.put(entry.record);
    this.emit(entry, { type: 'state', job: { ...entry.record } });
  }

  /** Starts waiting jobs while there is room, never two on one VM. */
  private pump(): void {
    for (let i = 0; i < this.waiting.length && this.running.size < this.limit;) {
      const entry = this.waiting[i]!;
      const key = keyOf(entry.record);
      const busy = [...this.running].some((r) => keyOf(r.record) === key);
      if (busy) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      this.running.add(entry);
      void this.run(entry);
    }
  }

  private async run(entry: Entry): Promise<void> {
    const signal = entry.abort.signal;
    this.setState(entry, { state: 'running', startedAt: new Date().toISOString() });
    const { request } = entry;
    const reporters = {
      signal,
      progress: (p: unknown) => this.emit(entry, { type: 'progress', progress: p }),
      note: (n: unknown) => this.emit(entry, { type: 'note', note: n }),
    };
    try {
      if ('repo' in request) {
        const result = await request.work(reporters);
        this.end(entry, 'succeeded', result ?? null, null);
        return;
      }
      const vmJob = await VmJob.begin(await this.o.connect(), {
        stateDir: this.o.stateDir,
        vm: request.vm,
        kind: request.kind,
        // Another process may hold the VM: a request that waits waits for it too.
        wait: request.wait === true,
        signal,
        recovery: 'restart',
        onEvent: (e: VmJobEvent) => this.emit(entry, { type: 'note', note: e }),
      });
      let result: unknown;
      try {
        result = await request.work({ job: vmJob, ...reporters });
      } finally {
        await vmJob.end();
      }
      // Stopped too late to undo: the work is done and recorded, so it succeeded.
      this.end(entry, 'succeeded', result ?? null, null);
    } catch (err) {
      const error = {
        code: errorCode(err) ?? 'INTERNAL',
        message: errorMessage(err),
        details: isBrankasError(err) ? err.details : {},
      };
      this.end(entry, signal.aborted ? 'cancelled' : 'failed', null, error);
    } finally {
      this.running.delete(entry);
      if (!this.closed) this.pump();
    }
  }

  private end(
    entry: Entry,
    state: JobRecord['state'],
    result: unknown,
    error: JobRecord['error'],
  ): void {
    this.setState(entry, { state, endedAt: new Date().toISOString(), result, error });
    entry.listeners.clear();
    entry.finish();
  }
}
