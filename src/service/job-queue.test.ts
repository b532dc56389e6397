/**
 * The job queue against libvirt's test driver and a real SQLite history in a temp state
 * directory: one job per VM (VM_BUSY, or waiting in line), the limit on jobs at once, cancel
 * through the signal, events to subscribers, and a history that outlives the process (jobs a
 * kill left running are marked interrupted).
 */
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '../libvirt/index.js';
import { isBrankasError } from '../util/errors.js';
import { JobHistory } from './job-history.js';
import { JobQueue, type JobEvent, type RepoJobWork } from './job-queue.js';
import { writeJournal, readJournal } from './journal.js';
import { lockHolder } from './lock.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/test-host.xml', import.meta.url));
const VM1 = 'brankas-test-web01';
const VM2 = 'brankas-test-db01';

let conn: Connection;
let dir: string;
let history: JobHistory;
let queue: JobQueue;

/** A piece of work that runs until released (or aborted), so a test decides when it ends. */
function gate(): {
  release: (v?: unknown) => void;
  started: Promise<void>;
  work: RepoJobWork;
} {
  let release!: (v?: unknown) => void;
  let markStarted!: () => void;
  const started = new Promise<void>((r) => (markStarted = r));
  const done = new Promise<unknown>((r) => (release = r));
  return {
    release,
    started,
    work: async ({ signal, progress }) => {
      markStarted();
      progress({ step: 1 });
      return await new Promise((resolve, reject) => {
        void done.then(resolve);
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    },
  };
}

before(async () => {
  conn = await Connection.open(`test://${FIXTURE}`);
});
after(async () => {
  await conn?.close();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'brankas-test-queue-'));
  history = JobHistory.open(dir);
  queue = new JobQueue({ stateDir: dir, history, connect: async () => conn, limit: 1 });
});
afterEach(async () => {
  await queue.close();
  history.close();
  await rm(dir, { recursive: true, force: true });
});

describe('JobQueue', () => {
  test('a second job for a busy VM is refused with VM_BUSY unless it waits, then runs after the first', async () => {
    const a = gate();
    const first = await queue.submit({ vm: VM1, kind: 'backup', work: a.work });
    await a.started;
    assert.equal((await lockHolder(dir, VM1))?.job, 'backup', 'the job holds the VM lock');
    await assert.rejects(
      queue.submit({ vm: VM1, kind: 'backup', work: gate().work }),
      (err) => isBrankasError(err) && err.code === 'VM_BUSY',
    );
    const b = gate();
    const second = await queue.submit({ vm: VM1, kind: 'backup', wait: true, work: b.work });
    assert.equal(queue.get(second.id).state, 'queued');
    a.release('one');
    assert.equal((await queue.settled(first.id)).state, 'succeeded');
    await b.started;
    b.release('two');
    const done = await queue.settled(second.id);
    assert.equal(done.state, 'succeeded');
    assert.equal(done.result, 'two');
    assert.equal(await lockHolder(dir, VM1), undefined, 'the lock is released');
  });

  test('jobs on other VMs wait for room under the limit', async () => {
    const a = gate();
    const first = await queue.submit({ vm: VM1, kind: 'backup', work: a.work });
    await a.started;
    const b = gate();
    const other = await queue.submit({ vm: VM2, kind: 'backup', work: b.work });
    assert.equal(queue.get(other.id).state, 'queued', 'limit 1: the other VM waits');
    a.release();
    await queue.settled(first.id);
    await b.started;
    assert.equal(queue.get(other.id).state, 'running');
    b.release();
    await queue.settled(other.id);
  });

  test('cancel stops a running job through its signal, and a queued one never starts', async () => {
    const a = gate();
    const running = await queue.submit({ vm: VM1, kind: 'backup', work: a.work });
    await a.started;
    let ran = false;
    const queued = await queue.submit({
      vm: VM2,
      kind: 'backup',
      work: async () => {
        ran = true;
      },
    });
    assert.equal(queue.cancel(queued.id).state, 'cancelled');
    queue.cancel(running.id);
    const ended = await queue.settled(running.id);
    assert.equal(ended.state, 'cancelled');
    assert.equal(ran, false);
  });

  test('a subscriber gets the state, the progress and the end, and a failure keeps its code', async () => {
    const a = gate();
    const job = await queue.submit({ vm: VM1, kind: 'backup', work: a.work });
    const events: JobEvent[] = [];
    queue.subscribe(job.id, (e) => events.push(e));
    await a.started;
    await queue.cancel(job.id);
    await queue.settled(job.id);
    assert.ok(events.some((e) => e.type === 'progress'));
    const last = events.at(-1)!;
    assert.equal(last.type === 'state' && last.job.state, 'cancelled');

    const failing = await queue.submit({
      vm: VM2,
      kind: 'backup',
      work: async () => {
        await conn.lookupDomain('brankas-test-no-such-vm');
      },
    });
    const failed = await queue.settled(failing.id);
    assert.equal(failed.state, 'failed');
    assert.equal(failed.error?.code, 'LIBVIRT_NO_DOMAIN');
  });

  test('the history outlives the process, and a job a kill left running is marked interrupted', async () => {
    const a = gate();
    const job = await queue.submit({ vm: VM1, kind: 'backup', work: a.work });
    await a.started;
    // A second service on the same state directory, as after a kill of the first.
    const reopened = JobHistory.open(dir);
    try {
      const found = reopened.get(job.id);
      assert.equal(found?.state, 'interrupted');
      assert.equal(reopened.list({ vm: VM1 })[0]?.id, job.id);
    } finally {
      reopened.close();
    }
    a.release();
    await queue.settled(job.id);
  });

  test('at the start, a VM a killed backup left off is started again and the journal emptied', async () => {
    const vm = await conn.lookupDomain(VM2);
    if ((await vm.state()).state !== 'shutoff') await vm.destroy();
    await writeJournal(dir, {
      version: 1,
      vm: VM2,
      // This host, a pid that is not running: a gone owner.
      owner: { pid: 999_999_999, start: '1', boot: null, host: hostname(), job: 'backup' },
      changes: [
        {
          kind: 'powered-off',
          vm: VM2,
          uuid: vm.uuid,
          initial: 'running',
          at: '2026-12-06T04:00:00.000Z',
          job: 'backup',
          pid: 999_999_999,
        },
      ],
    });
    const seen: string[] = [];
    await queue.recoverLeftUndone((e) =>
      seen.push(e.kind === 'recovered' ? e.recovery.outcome : e.kind),
    );
    assert.deepEqual(seen, ['started']);
    assert.equal((await vm.state()).state, 'running');
    assert.equal(await readJournal(dir, VM2), undefined);
  });

  test('jobs on the repository have no VM and run one at a time, beside a VM job; a queued one cancelled never starts', async () => {
    const wide = new JobQueue({ stateDir: dir, history, connect: async () => conn, limit: 3 });
    try {
      const onVm = gate();
      const vmJob = await wide.submit({ vm: VM1, kind: 'backup', work: onVm.work });
      const a = gate();
      const verify = await wide.submit({ repo: true, kind: 'repo-verify', work: a.work });
      const b = gate();
      const gc = await wide.submit({ repo: true, kind: 'gc', work: b.work });
      const c = gate();
      const prune = await wide.submit({ repo: true, kind: 'prune', work: c.work });
      await Promise.all([onVm.started, a.started]);
      assert.equal(verify.vm, null);
      assert.equal(wide.get(verify.id).state, 'running', 'beside the VM job');
      assert.equal(wide.get(gc.id).state, 'queued', 'behind the other repository job');
      wide.cancel(prune.id);
      a.release({ ok: true });
      await b.started;
      b.release();
      onVm.release();
      assert.equal((await wide.settled(gc.id)).state, 'succeeded');
      assert.equal((await wide.settled(prune.id)).state, 'cancelled');
      assert.equal((await wide.settled(vmJob.id)).state, 'succeeded');
      const stored = history.get(verify.id)!;
      assert.equal(stored.vm, null, 'null again from the history');
      assert.deepEqual(stored.result, { ok: true });
      assert.equal(stored.kind, 'repo-verify');
      assert.ok(
        history.list({ vm: VM1 }).every((j) => j.vm === VM1),
        'a VM filter leaves them out',
      );
    } finally {
      await wide.close();
    }
  });

  test("a job's log keeps its states and notes after it ended, the newest up to the limit, and outlives the process", async () => {
    const small = JobHistory.open(join(dir, 'small'), new Date(), { logLimit: 4 });
    const q = new JobQueue({ stateDir: dir, history: small, connect: async () => conn });
    let open = true;
    try {
      const job = await q.submit({
        vm: VM1,
        kind: 'verify',
        work: async ({ note, progress }) => {
          for (let i = 1; i <= 5; i++) note({ step: `step ${i}` });
          progress({ done: 1, total: 1 }); // live only
          return null;
        },
      });
      await q.settled(job.id);
      const log = q.log(job.id);
      // queued, running, five notes, succeeded: the newest four.
      assert.deepEqual(
        log.map((l) => (l.type === 'state' ? l.data : (l.data as { step: string }).step)),
        ['step 3', 'step 4', 'step 5', 'succeeded'],
      );
      assert.ok(log.every((l) => !Number.isNaN(Date.parse(l.at))));
      await q.close();
      small.close();
      open = false;
      const again = JobHistory.open(join(dir, 'small'));
      try {
        assert.deepEqual(again.log(job.id), log);
      } finally {
        again.close();
      }
    } finally {
      await q.close();
      if (open) small.close();
    }
  });

  test('an unknown job id is JOB_NOT_FOUND', () => {
    assert.throws(
      () => queue.get('00000000-0000-0000-0000-000000000000'),
      (err) => isBrankasError(err) && err.code === 'JOB_NOT_FOUND',
    );
  });
});
