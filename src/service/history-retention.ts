/**
 * Keeps the job history of `brankas serve` bounded: prunes it (JobHistory.prune) when the
 * service starts and then once a day. Owns no process and no clock: the timer is the injected
 * `Clock` (the scheduler's), so a test moves the day by hand; what it did or what failed goes to
 * callbacks (a full disk must not stop the service).
 */
import type { HistoryKeep, JobHistory } from './job-history.js';
import { systemClock, type Clock } from './schedule/scheduler.js';

export const DAY_MS = 86_400_000;

export interface HistoryRetentionOptions {
  history: Pick<JobHistory, 'prune'>;
  keep: HistoryKeep;
  clock?: Clock;
  /** After each prune: how many jobs it deleted. */
  onPruned?: (deleted: number) => void;
  onError?: (err: unknown) => void;
}

export class HistoryRetention {
  private readonly clock: Clock;
  private cancelTimer: (() => void) | undefined;
  private stopped = true;

  constructor(private readonly o: HistoryRetentionOptions) {
    this.clock = o.clock ?? systemClock;
  }

  /** Prunes now, then every day until `stop()`. */
  start(): void {
    this.stopped = false;
    this.pruneNow();
  }

  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  private pruneNow(): void {
    if (this.stopped) return;
    try {
      this.o.onPruned?.(this.o.history.prune(this.o.keep, this.clock.now()));
    } catch (err) {
      this.o.onError?.(err);
    }
    this.cancelTimer = this.clock.setTimer(() => this.pruneNow(), DAY_MS);
  }
}
