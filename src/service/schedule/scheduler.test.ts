/**
 * The scheduler against a clock moved by hand and its real last-run store (SQLite in a temp
 * state directory): a policy runs when `when` says, a run missed while the service was down
 * runs once at the next start, a file made invalid keeps the last good policies, and the
 * scheduler never sleeps longer than its limit (an edit is followed).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSchedule, type Policy } from './format.js';
import { ScheduleRuns } from './runs.js';
import { Scheduler, type Clock, type SchedulerEvent } from './scheduler.js';

class HandClock implements Clock {
  private timers: { at: number; fn: () => void }[] = [];
  constructor(public t: number) {}
  now(): Date {
    return new Date(this.t);
  }
  setTimer(fn: () => void, ms: number): () => void {
    const e = { at: this.t + ms, fn };
    this.timers.push(e);
    return () => {
      this.timers = this.timers.filter((x) => x !== e);
    };
  }
  get pending(): number[] {
    return this.timers.map((x) => x.at);
  }
  /** Moves time to `at`, firing each timer due on the way (and waiting for its tick). */
  async advanceTo(at: number, s: Scheduler): Promise<void> {
    for (;;) {
      const due = [...this.timers].sort((a, b) => a.at - b.at)[0];
      if (!due || due.at > at) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
      await s.idle();
    }
    this.t = at;
  }
}

const T0 = Date.parse('2026-12-06T10:00:30Z');
const HOURLY = `[policy hourly]\nvms = web*\nwhen = 0 * * * *\ntimezone = UTC\n`;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'brankas-test-scheduler-'));
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function setup(stateDir: string, clock: HandClock, text: () => string) {
  const runs = ScheduleRuns.open(stateDir);
  const fired: { policy: string; at: string }[] = [];
  const events: SchedulerEvent[] = [];
  const s = new Scheduler({
    runs,
    clock,
    load: async () => parseSchedule(text(), 'test.conf'),
    fire: async (p: Policy) => {
      fired.push({ policy: p.id, at: clock.now().toISOString() });
    },
    onEvent: (e) => events.push(e),
    maxSleepMs: 600_000,
  });
  return { runs, s, fired, events };
}

describe('scheduler', () => {
  test('a new policy waits for its time, then runs at each time of its cron expression', async () => {
    const clock = new HandClock(T0);
    const { runs, s, fired } = setup(join(dir, 'a'), clock, () => HOURLY);
    try {
      await s.start();
      assert.equal(fired.length, 0, 'not at first sight');
      await clock.advanceTo(Date.parse('2026-12-06T10:59:59Z'), s);
      assert.equal(fired.length, 0);
      await clock.advanceTo(Date.parse('2026-12-06T12:30:00Z'), s);
      assert.deepEqual(
        fired.map((f) => f.at),
        ['2026-12-06T11:00:00.000Z', '2026-12-06T12:00:00.000Z'],
      );
    } finally {
      await s.stop();
      runs.close();
    }
  });

  test('runs missed while the service was down run once at the next start, then the schedule goes on', async () => {
    const stateDir = join(dir, 'b');
    const clock = new HandClock(T0);
    let first = setup(stateDir, clock, () => HOURLY);
    await first.s.start();
    await first.s.stop();
    first.runs.close();
    // Down for three hours and a bit: three runs were missed.
    clock.t = Date.parse('2026-12-06T13:20:00Z');
    first = setup(stateDir, clock, () => HOURLY);
    try {
      await first.s.start();
      assert.deepEqual(first.fired, [{ policy: 'hourly', at: '2026-12-06T13:20:00.000Z' }]);
      const fired = first.events.find((e) => e.kind === 'fired');
      assert.ok(fired && fired.kind === 'fired' && fired.missed);
      // Next at 14:00, but it looks again after its ten-minute limit first.
      assert.deepEqual(clock.pending, [Date.parse('2026-12-06T13:30:00Z')]);
      await clock.advanceTo(Date.parse('2026-12-06T14:00:00Z'), first.s);
      assert.equal(first.fired.length, 2);
    } finally {
      await first.s.stop();
      first.runs.close();
    }
  });

  test('a file made invalid keeps the last good policies and says why; a removed policy is forgotten', async () => {
    const clock = new HandClock(T0);
    let text = HOURLY + '\n[policy daily]\nvms = db01\nwhen = 0 3 * * *\n';
    const { runs, s, fired, events } = setup(join(dir, 'c'), clock, () => text);
    try {
      await s.start();
      assert.ok(runs.lastRun('daily'));
      text = '[policy hourly]\nvms = web*\nwhen = sometimes\n';
      await s.tick();
      const err = events.find((e) => e.kind === 'error');
      assert.ok(err && err.kind === 'error');
      assert.equal((err.error as { code: string }).code, 'SCHEDULE_BAD_CRON');
      await clock.advanceTo(Date.parse('2026-12-06T11:00:00Z'), s);
      assert.deepEqual(
        fired.map((f) => f.policy),
        ['hourly'],
      );
      text = HOURLY;
      await s.tick();
      assert.equal(runs.lastRun('daily'), undefined);
      assert.ok(runs.lastRun('hourly'));
    } finally {
      await s.stop();
      runs.close();
    }
  });

  test('it never sleeps longer than its limit, so an edit of the file is followed', async () => {
    const clock = new HandClock(T0);
    const runs = ScheduleRuns.open(join(dir, 'd'));
    const s = new Scheduler({
      runs,
      clock,
      load: async () => parseSchedule('[policy y]\nvms = a\nwhen = 0 0 1 1 *\n', 'x'),
      fire: async () => undefined,
      maxSleepMs: 60_000,
    });
    try {
      await s.start();
      assert.deepEqual(clock.pending, [T0 + 60_000]);
      await s.stop();
      assert.deepEqual(clock.pending, [], 'stop cancels the timer');
    } finally {
      runs.close();
    }
  });
});
