/**
 * Jobs on a VM against libvirt's test driver (a private instance per
 * connection): the lock, the journal a job leaves when it cannot undo what
 * it did, and what the next job does with it.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection, type Domain } from '../libvirt/index.js';
import { VmJob, type VmJobEvent } from './job.js';
import { readJournal, writeJournal } from './journal.js';
import { VmLock } from './lock.js';
import { jobsState } from './state.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/test-host.xml', import.meta.url));
const VM = 'brankas-test-web01';

let conn: Connection;
let vm: Domain;
let dir: string;

before(async () => {
  conn = await Connection.open(`test://${FIXTURE}`);
  vm = await conn.lookupDomain(VM);
});
after(async () => {
  await conn?.close();
});
beforeEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = await mkdtemp(join(tmpdir(), 'brankas-test-job-'));
  const { state } = await vm.state();
  if (state === 'paused') await vm.resume();
  else if (state !== 'running') await vm.start();
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A journal as a backup that was killed while VM was off leaves it. */
async function leftByKilledBackup(initial = 'running'): Promise<void> {
  await writeJournal(dir, {
    version: 1,
    vm: VM,
    owner: { pid: 999_999_999, start: '1', boot: null, host: 'x', job: 'backup' },
    changes: [
      {
        kind: 'powered-off',
        vm: VM,
        uuid: vm.uuid,
        initial,
        at: '2026-12-06T04:00:00.000Z',
        job: 'backup',
        pid: 999_999_999,
      },
    ],
  });
}

describe('a job on a VM', () => {
  test('a VM a killed job left off is started again by the next job, which says so', async () => {
    await vm.destroy();
    await leftByKilledBackup();
    assert.equal((await jobsState(dir)).leftUndone.length, 0, 'its owner looks alive elsewhere');
    const events: VmJobEvent[] = [];
    const job = await VmJob.begin(conn, {
      stateDir: dir,
      vm: VM,
      kind: 'backup',
      onEvent: (e) => events.push(e),
    });
    assert.equal((await vm.state()).state, 'running');
    assert.equal(events.length, 1);
    assert.equal(events[0]!.kind === 'recovered' && events[0]!.recovery.outcome, 'started');
    assert.equal(await readJournal(dir, VM), undefined, 'nothing is left to undo');
    await job.end();
  });

  test('status sees what a gone job left undone, and a running job', async () => {
    await writeJournal(dir, {
      version: 1,
      vm: VM,
      owner: {
        pid: 999_999_999,
        start: '1',
        boot: null,
        host: (await import('node:os')).hostname(),
        job: 'backup',
      },
      changes: [
        {
          kind: 'powered-off',
          vm: VM,
          uuid: vm.uuid,
          initial: 'running',
          at: 'T',
          job: 'backup',
          pid: 999_999_999,
        },
      ],
    });
    const state = await jobsState(dir);
    assert.equal(state.leftUndone.length, 1);
    assert.deepEqual(state.running, []);
    const lock = await VmLock.tryTake(dir, VM, 'verify');
    assert.ok(lock instanceof VmLock);
    assert.deepEqual(
      (await jobsState(dir)).running.map((h) => [h.vm, h.job, h.pid]),
      [[VM, 'verify', process.pid]],
    );
    await lock.release();
  });

  test('a paused VM left off comes back paused', async () => {
    await vm.destroy();
    await leftByKilledBackup('paused');
    const job = await VmJob.begin(conn, { stateDir: dir, vm: VM, kind: 'snapshot' });
    assert.equal((await vm.state()).state, 'paused');
    await job.end();
  });

  test('a VM running again needs nothing and nothing is said', async () => {
    await leftByKilledBackup();
    const events: VmJobEvent[] = [];
    const job = await VmJob.begin(conn, {
      stateDir: dir,
      vm: VM,
      kind: 'backup',
      onEvent: (e) => events.push(e),
    });
    assert.equal(events[0]!.kind === 'recovered' && events[0]!.recovery.outcome, 'not-needed');
    await job.end();
    assert.equal(await readJournal(dir, VM), undefined);
  });

  test('a restore takes the change over: the VM stays off, and the change stays unless the restore settles it', async () => {
    await vm.destroy();
    await leftByKilledBackup();
    const failed = await VmJob.begin(conn, {
      stateDir: dir,
      vm: VM,
      kind: 'restore',
      recovery: 'adopt',
    });
    assert.equal((await vm.state()).state, 'shutoff');
    await failed.end();
    assert.equal((await readJournal(dir, VM))?.changes.length, 1, 'a failed restore leaves it');
    const ok = await VmJob.begin(conn, {
      stateDir: dir,
      vm: VM,
      kind: 'restore',
      recovery: 'adopt',
    });
    await ok.settle();
    await ok.end();
    assert.equal(await readJournal(dir, VM), undefined);
    assert.equal((await vm.state()).state, 'shutoff');
  });

  test('a change a job made and did not undo stays in the journal for the next job', async () => {
    const job = await VmJob.begin(conn, { stateDir: dir, vm: VM, kind: 'backup' });
    await job.powerChange({ kind: 'stopping', vm: VM, uuid: vm.uuid, initial: 'running' });
    const written = await readJournal(dir, VM);
    assert.equal(written?.changes[0]?.kind, 'powered-off');
    assert.equal(written?.owner.pid, process.pid);
    await vm.destroy();
    await job.end();
    assert.ok(existsSync(join(dir, 'journal', `vm-${VM}.json`)));
    const next = await VmJob.begin(conn, { stateDir: dir, vm: VM, kind: 'backup' });
    assert.equal((await vm.state()).state, 'running');
    await next.end();
  });

  test('a VM a killed job left paused after starting it paused is resumed by the next job', async () => {
    // backup --consistency shutdown: shut down, started paused, killed before the resume.
    const job = await VmJob.begin(conn, { stateDir: dir, vm: VM, kind: 'backup' });
    await job.powerChange({ kind: 'stopping', vm: VM, uuid: vm.uuid, initial: 'running' });
    await vm.destroy();
    await job.powerChange({ kind: 'starting-paused', vm: VM, uuid: vm.uuid });
    assert.equal((await readJournal(dir, VM))?.changes[0]?.startedPaused, true);
    await vm.start();
    await vm.suspend();
    await job.end();
    const events: VmJobEvent[] = [];
    const next = await VmJob.begin(conn, {
      stateDir: dir,
      vm: VM,
      kind: 'backup',
      onEvent: (e) => events.push(e),
    });
    assert.equal((await vm.state()).state, 'running');
    assert.equal(events[0]!.kind === 'recovered' && events[0]!.recovery.outcome, 'started');
    await next.end();
    assert.equal(await readJournal(dir, VM), undefined);
  });

  test('a VM found paused that the job did not start paused is left paused', async () => {
    const job = await VmJob.begin(conn, { stateDir: dir, vm: VM, kind: 'backup' });
    await job.powerChange({ kind: 'stopping', vm: VM, uuid: vm.uuid, initial: 'running' });
    await vm.suspend();
    await job.end();
    const next = await VmJob.begin(conn, { stateDir: dir, vm: VM, kind: 'backup' });
    assert.equal((await vm.state()).state, 'paused');
    await next.end();
  });

  test('a change undone is dropped from the journal', async () => {
    const job = await VmJob.begin(conn, { stateDir: dir, vm: VM, kind: 'backup' });
    await job.powerChange({ kind: 'stopping', vm: VM, uuid: vm.uuid, initial: 'running' });
    await job.powerChange({ kind: 'restored', vm: VM, uuid: vm.uuid });
    assert.equal(await readJournal(dir, VM), undefined);
    await job.end();
  });

  test('a busy VM: VM_BUSY naming the holder; --wait waits until it is free, and a signal stops the wait', async () => {
    const held = await VmLock.tryTake(dir, VM, 'backup');
    assert.ok(held instanceof VmLock);
    await assert.rejects(
      VmJob.begin(conn, { stateDir: dir, vm: VM, kind: 'restore' }),
      (err: Error & { code?: string; details?: Record<string, unknown> }) => {
        assert.equal(err.code, 'VM_BUSY');
        assert.equal(err.details?.['pid'], process.pid);
        assert.equal(err.details?.['job'], 'backup');
        return true;
      },
    );

    const stop = new AbortController();
    const stopped = VmJob.begin(conn, {
      stateDir: dir,
      vm: VM,
      kind: 'restore',
      wait: true,
      signal: stop.signal,
    });
    stop.abort(new Error('stop'));
    await assert.rejects(stopped, /stop/);

    let waiting = false;
    let begun = false;
    const waiter = VmJob.begin(conn, {
      stateDir: dir,
      vm: VM,
      kind: 'restore',
      wait: true,
      onEvent: (e) => (waiting ||= e.kind === 'waiting'),
    }).then((j) => {
      begun = true;
      return j;
    });
    while (!waiting) await new Promise((r) => setTimeout(r, 10));
    assert.equal(begun, false);
    await held.release();
    const job = await waiter;
    await job.end();
  });
});
