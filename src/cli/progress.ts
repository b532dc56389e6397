/**
 * One progress line per disk for long copies on a TTY: percentage, rate and
 * time left, redrawn in place at most five times a second.
 */
import { formatBytes } from './format.js';

export interface ProgressSample {
  disk: string;
  doneBytes: number;
  totalBytes: number;
  /** Extra text after the figures (e.g. bytes newly stored). */
  extra?: string;
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s < 60) return `${Math.ceil(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** The line for one sample, given when its disk started (ms since epoch) and now. */
export function progressLine(p: ProgressSample, startedMs: number, nowMs: number): string {
  const pct = p.totalBytes ? Math.floor((100 * p.doneBytes) / p.totalBytes) : 100;
  const secs = (nowMs - startedMs) / 1000;
  const rate = secs > 0 ? p.doneBytes / secs : 0;
  const eta = rate > 0 ? formatSeconds((p.totalBytes - p.doneBytes) / rate) : '?';
  const extra = p.extra ? `, ${p.extra}` : '';
  return `${p.disk}: ${pct}% of ${formatBytes(p.totalBytes)}, ${formatBytes(rate)}/s, ETA ${eta}${extra}`;
}

/** Draws samples on a stream with carriage returns; end() finishes the line. */
export class ProgressMeter {
  private started = new Map<string, number>();
  private lastDraw = -Infinity;
  private drawn = false;

  constructor(
    private readonly out: { write(s: string): unknown },
    private readonly now: () => number = Date.now,
  ) {}

  update(p: ProgressSample): void {
    const t = this.now();
    if (!this.started.has(p.disk)) this.started.set(p.disk, t);
    this.show(() => progressLine(p, this.started.get(p.disk)!, t), p.doneBytes >= p.totalBytes);
  }

  /** Any one-line status, throttled like the byte counts; `final` always draws. */
  show(line: () => string, final = false): void {
    const t = this.now();
    if (t - this.lastDraw < 200 && !final) return;
    this.lastDraw = t;
    this.out.write(`\r  ${line()}\x1b[K`);
    this.drawn = true;
  }

  end(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
