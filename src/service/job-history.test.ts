/**
 * The job history kept bounded (issue #14): an ended job goes with its log once it is older
 * than the days kept and beyond the newest jobs of its VM; a running job and a VM's last jobs
 * stay however old. The retention prunes at its start and then daily, on an injected clock.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HistoryRetention, DAY_MS } from './history-retention.js';
import { JobHistory, type JobRecord, type JobState } from './job-history.js';
import type { Clock } from './schedule/scheduler.js';

const NOW = new Date('2026-12-06T12:00:00Z');
const daysAgo = (d: number, minutes = 0): string =>
  new Date(NOW.getTime() - d * DAY_MS + minutes * 60_000).toISOString();

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'brankas-test-history-'));
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function job(id: string, vm: string | null, age: number, state: JobState = 'succeeded'): JobRecord {
  const at = daysAgo(age);
  return {
    id,
    vm,
    kind: vm === null ? 'gc' : 'backup',
    state,
    createdAt: at,
    startedAt: at,
    endedAt: state === 'running' ? null : at,
    result: null,
    error: null,
  };
}

describe('job history retention', () => {
  test('ended jobs older than the days kept and beyond the newest per VM go, with their logs; the rest stay', () => {
    const h = JobHistory.open(join(dir, 'prune'), NOW);
    try {
      const jobs = [
        job('a-new', 'web', 1),
        job('a-old1', 'web', 100),
        job('a-old2', 'web', 200),
        job('a-old3', 'web', 300),
        job('b-old1', 'db', 400), // db's newest two: kept however old
        job('b-old2', 'db', 500),
        job('r-old1', null, 100), // the repository's jobs count as one VM
        job('r-old2', null, 200),
        job('c-new', 'app', 1),
        job('c-mid', 'app', 2),
        job('c-running', 'app', 400, 'running'), // never deleted while it runs
      ];
      for (const j of jobs) {
        h.put(j);
        h.appendLog(j.id, 'state', j.state);
      }
      // web keeps a-new and a-old1; a-old2 and a-old3 go. db and the repository keep their two.
      assert.equal(h.prune({ days: 30, perVm: 2 }, NOW), 2);
      const left = h
        .list({ limit: 1000 })
        .map((j) => j.id)
        .sort();
      assert.deepEqual(left, [
        'a-new',
        'a-old1',
        'b-old1',
        'b-old2',
        'c-mid',
        'c-new',
        'c-running',
        'r-old1',
        'r-old2',
      ]);
      for (const gone of ['a-old2', 'a-old3']) assert.deepEqual(h.log(gone), []);
      assert.equal(h.log('a-old1').length, 1);
      // Young jobs stay whatever their number.
      assert.equal(h.prune({ days: 1000, perVm: 0 }, NOW), 0);
      assert.equal(h.prune({ days: 3, perVm: 0 }, NOW), 5);
      assert.deepEqual(
        h
          .list()
          .map((j) => j.id)
          .sort(),
        ['a-new', 'c-mid', 'c-new', 'c-running'],
      );
    } finally {
      h.close();
    }
  });

  test('the retention prunes at its start and then once a day until stopped; a failure is reported, not thrown', () => {
    let now = NOW;
    const timers: { fn: () => void; ms: number; cancelled: boolean }[] = [];
    const clock: Clock = {
      now: () => now,
      setTimer(fn, ms) {
        const t = { fn, ms, cancelled: false };
        timers.push(t);
        return () => (t.cancelled = true);
      },
    };
    const calls: Date[] = [];
    const pruned: number[] = [];
    const errors: unknown[] = [];
    const r = new HistoryRetention({
      history: {
        prune: (keep, at) => {
          assert.deepEqual(keep, { days: 7, perVm: 3 });
          calls.push(at!);
          if (calls.length === 2) throw new Error('disk full');
          return calls.length;
        },
      },
      keep: { days: 7, perVm: 3 },
      clock,
      onPruned: (n) => pruned.push(n),
      onError: (err) => errors.push(err),
    });
    r.start();
    assert.deepEqual(calls, [NOW], 'at once');
    assert.equal(timers.length, 1);
    assert.equal(timers[0]!.ms, DAY_MS);
    now = new Date(NOW.getTime() + DAY_MS);
    timers[0]!.fn();
    assert.equal(calls.length, 2);
    assert.equal((errors[0] as Error).message, 'disk full');
    timers[1]!.fn();
    assert.deepEqual(pruned, [1, 3]);
    r.stop();
    assert.ok(timers[2]!.cancelled, 'stop cancels the next day');
  });
});
