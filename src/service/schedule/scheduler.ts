/**
 * The scheduler: decides when each policy runs and hands the run to `fire` (which submits jobs
 * to the job queue). It owns no process and no clock of its own: time and timers come from an
 * injected `Clock`, so tests move time by hand. It re-reads the policies at every tick (at least
 * once a minute), so a file edited by hand, the CLI or the API is followed without a restart.
 *
 * Missed runs (docs/schedule-format.md): per policy it keeps the last moment it considered it;
 * when the first run of `when` after that moment has passed, the policy runs once now, however
 * many runs were missed.
 */
import { cronOf, type Policy } from './format.js';
import type { ScheduleRuns } from './runs.js';

export interface Clock {
  now(): Date;
  /** Calls `fn` after `ms`; returns the function that cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
}

export const systemClock: Clock = {
  now: () => new Date(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, ms);
    // A service's timer must not keep the process alive once everything else has stopped.
    t.unref();
    return () => clearTimeout(t);
  },
};

export type SchedulerEvent =
  | { kind: 'fired'; policy: string; at: string; missed: boolean }
  | { kind: 'error'; policy: string | null; error: unknown };

export interface SchedulerOptions {
  runs: Pick<ScheduleRuns, 'lastRun' | 'setLastRun' | 'keepOnly'>;
  /** The policies now (the schedule file, validated). */
  load: () => Promise<Policy[]>;
  /** Runs a policy (submits its jobs); awaited before the next policy is looked at. */
  fire: (policy: Policy) => Promise<unknown>;
  clock?: Clock;
  onEvent?: (e: SchedulerEvent) => void;
  /** Longest sleep between ticks, in ms (default one minute): how soon an edit is noticed. */
  maxSleepMs?: number;
}

export class Scheduler {
  private readonly clock: Clock;
  private cancelTimer: (() => void) | undefined;
  private chain: Promise<void> = Promise.resolve();
  private stopped = true;
  /** The policies of the last good read: a file made invalid by hand does not stop them. */
  private policies: Policy[] = [];

  constructor(private readonly o: SchedulerOptions) {
    this.clock = o.clock ?? systemClock;
  }

  /** Starts ticking; the first tick (missed runs among it) happens at once. */
  start(): Promise<void> {
    this.stopped = false;
    return this.tick();
  }

  /** Looks at the policies now (after a change of the file); resolves when that tick is done. */
  tick(): Promise<void> {
    this.chain = this.chain.then(() => this.tickNow());
    return this.chain;
  }

  /** Resolves when the tick under way (if any) has finished. */
  idle(): Promise<void> {
    return this.chain;
  }

  /** Stops ticking; resolves when a tick under way has finished. Jobs submitted run on. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    await this.chain;
  }

  /** When a policy runs next (undefined when `when` never matches again). */
  nextRun(policy: Policy): Date | undefined {
    const since = this.o.runs.lastRun(policy.id) ?? this.clock.now();
    return cronOf(policy).nextRun(since) ?? undefined;
  }

  private emit(e: SchedulerEvent): void {
    try {
      this.o.onEvent?.(e);
    } catch {
      // A listener that fails does not stop the scheduler.
    }
  }

  private async tickNow(): Promise<void> {
    if (this.stopped) return;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    try {
      this.policies = await this.o.load();
      this.o.runs.keepOnly(this.policies.map((p) => p.id));
    } catch (error) {
      this.emit({ kind: 'error', policy: null, error });
    }
    let earliest = Infinity;
    for (const policy of this.policies) {
      const now = this.clock.now();
      const last = this.o.runs.lastRun(policy.id);
      if (last === undefined) this.o.runs.setLastRun(policy.id, now);
      const next = cronOf(policy).nextRun(last ?? now);
      if (next && next.getTime() <= now.getTime()) {
        this.o.runs.setLastRun(policy.id, now);
        // More than a minute late: the service (or host) was down when it was due.
        const missed = now.getTime() - next.getTime() >= 60_000;
        this.emit({ kind: 'fired', policy: policy.id, at: now.toISOString(), missed });
        try {
          await this.o.fire(policy);
        } catch (error) {
          this.emit({ kind: 'error', policy: policy.id, error });
        }
        const after = cronOf(policy).nextRun(now);
        if (after) earliest = Math.min(earliest, after.getTime());
      } else if (next) {
        earliest = Math.min(earliest, next.getTime());
      }
    }
    if (this.stopped) return;
    const max = this.o.maxSleepMs ?? 60_000;
    const wait = Math.max(0, Math.min(max, earliest - this.clock.now().getTime()));
    this.cancelTimer = this.clock.setTimer(() => void this.tick(), wait);
  }
}
