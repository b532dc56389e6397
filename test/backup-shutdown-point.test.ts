/**
 * `brankas backup --consistency shutdown` on a real running TCG guest: shut
 * down gracefully (what the guest had not yet written reaches the disk),
 * started again paused, backup point taken, resumed, read while it runs.
 * The restore equals the disk at the point (copied while QEMU waited paused,
 * before any guest code ran); the manifest and `brankas backups` say
 * `shut-down`; through the CLI it says so and leaves no journal behind.
 * Interrupted once started paused, or while reading, the VM
 * ends running and nothing is recorded. (Interrupted during the shutdown is
 * the cold path's ensureShutOff, tested in backup-cold.test.ts; a process
 * killed while the VM is paused: src/service/job.test.ts.)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '../src/libvirt/index.js';
import { backupVm } from '../src/engine/backup/backup.js';
import type { PowerEvent } from '../src/engine/backup/power.js';
import { TinyGuest } from '../src/engine/guest/tiny-guest.js';
import { readJournal } from '../src/service/journal.js';
import { LocalBackend, Repository } from '../src/repo/index.js';
import { testName } from './support/guest.js';
import { cli, initPlainRepo, TEST_STATE_DIR } from './support/cli.js';

const run = promisify(execFile);

let conn: Connection;
let guest: TinyGuest;
let repoDir: string;
const env = (): NodeJS.ProcessEnv => ({ BRANKAS_REPO: repoDir });

async function withRepo<T>(f: (repo: Repository) => Promise<T>): Promise<T> {
  const repo = await Repository.open(new LocalBackend(repoDir));
  try {
    return await f(repo);
  } finally {
    await repo.close();
  }
}

async function count(): Promise<number> {
  const r = await cli(['backups', guest.domain.name, '--json'], env());
  return (JSON.parse(r.stdout) as { backups: unknown[] }).backups.length;
}

before(async () => {
  conn = await Connection.open('qemu:///system');
  repoDir = await initPlainRepo();
  guest = await TinyGuest.launch(conn, { name: testName('shutpoint') });
});

after(async () => {
  try {
    await guest?.dispose();
  } finally {
    await conn?.close();
    if (repoDir) await rm(repoDir, { recursive: true, force: true });
  }
});

describe('backup --consistency shutdown', () => {
  test('one clean reboot: the point is the shut-down disk, restored exact, listed as shut-down', async () => {
    // Not synced: only a clean shutdown writes it.
    await guest.console.run('echo unsynced > /data/late.txt');
    const disk = join(guest.dir, 'vda.qcow2');
    const reference = join(guest.dir, 'point.qcow2');
    const events: PowerEvent['kind'][] = [];
    const before = guest.domain.id;
    const r = await withRepo((repo) =>
      backupVm(conn, repo, guest.domain.name, {
        consistency: 'shutdown',
        onPower: (e) => {
          events.push(e.kind);
          // QEMU waits paused, no guest code has run: the disk as the backup point has it.
          if (e.kind === 'started-paused') execFileSync('cp', [disk, reference]);
        },
      }),
    );
    assert.equal(r.mode, 'live');
    assert.equal(r.mode === 'live' && r.consistency, 'shut-down');
    assert.deepEqual(events, ['shutdown-requested', 'shut-off', 'started-paused', 'started']);
    assert.equal((await guest.domain.state()).state, 'running');
    assert.notEqual((await conn.lookupDomain(guest.domain.name)).id, before);

    const to = join(guest.dir, 'restored.qcow2');
    const res = await cli(['restore', r.manifest.id, '--disk', 'vda', '--to', to, '--json'], env());
    assert.equal(res.code, 0, res.stdout + res.stderr);
    await run('qemu-img', ['compare', '-f', 'qcow2', '-F', 'qcow2', to, reference]);
    await rm(to);
    await rm(reference);

    await guest.reattach();
    assert.equal(await guest.console.run('cat /data/late.txt'), 'unsynced\n');
    const listed = await cli(['backups', guest.domain.name], env());
    assert.match(listed.stdout, /live\s+shut-down/);
    const json = await cli(['backups', guest.domain.name, '--json'], env());
    const row = (
      JSON.parse(json.stdout) as { backups: { id: string; consistency: string }[] }
    ).backups.find((b) => b.id === r.manifest.id)!;
    assert.equal(row.consistency, 'shut-down');
  });

  for (const phase of ['started-paused', 'reading'] as const) {
    test(`interrupted ${phase === 'reading' ? 'while reading' : 'once started paused'}: the VM ends running, nothing recorded`, async () => {
      const n = await count();
      const ac = new AbortController();
      await assert.rejects(
        withRepo((repo) =>
          backupVm(conn, repo, guest.domain.name, {
            consistency: 'shutdown',
            signal: ac.signal,
            onPower: (e) => {
              if (phase === 'started-paused' && e.kind === 'started-paused') ac.abort();
            },
            onProgress: () => {
              if (phase === 'reading') ac.abort();
            },
          }),
        ),
        (err: Error) => ac.signal.aborted && err === ac.signal.reason,
      );
      assert.equal((await guest.domain.state()).state, 'running');
      assert.equal(await count(), n);
      await guest.reattach();
      assert.equal(await guest.console.run('echo alive'), 'alive\n');
    });
  }

  test('through the CLI: says how the point was taken, the journal empty and the VM running after', async () => {
    const r = await cli(['backup', guest.domain.name, '--consistency', 'shutdown'], env());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stderr, /started again paused: the backup point is taken before the guest runs/);
    assert.match(
      r.stdout,
      /backup point taken, shut-down consistent \(the guest shut down cleanly/,
    );
    assert.match(r.stdout, /vda: incremental since checkpoint/);
    assert.equal((await guest.domain.state()).state, 'running');
    assert.equal(await readJournal(TEST_STATE_DIR, guest.domain.name), undefined);
    await guest.reattach();
  });

  test('the CLI refuses what makes no sense, as a usage error', async () => {
    const bad = await cli(['backup', guest.domain.name, '--consistency', 'warm'], env());
    assert.equal(bad.code, 2);
    const cold = await cli(
      ['backup', guest.domain.name, '--mode', 'cold', '--consistency', 'shutdown'],
      env(),
    );
    assert.equal(cold.code, 2);
    assert.match(cold.stderr, /a cold backup is one already/);
  });
});
