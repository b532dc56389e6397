/**
 * Consistency of live backups with a guest agent, on a real running TCG
 * guest. The tiny guest's stand-in agent answers guest-ping only: the backup
 * goes on crash-consistent and says the freeze failed. A stand-in that really
 * freezes /data (busybox fsfreeze, started through the serial console) makes
 * it application-consistent: frozen right before the backup point, thawed
 * right after, and thawed too when taking the point fails. A VM with
 * snapshots stays incremental.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { Connection } from '../src/libvirt/index.js';
import { TinyGuest } from '../src/engine/guest/tiny-guest.js';
import { LiveExport } from '../src/engine/backup/live/export.js';
import { planFreeze } from '../src/engine/backup/live/freeze.js';
import { testName } from './support/guest.js';
import { cli, initPlainRepo } from './support/cli.js';
import { agentConnected, startAgentStandIn } from './support/agent.js';

let conn: Connection;
let repoDir: string;
let guest: TinyGuest;
const env = (): NodeJS.ProcessEnv => ({ BRANKAS_REPO: repoDir });

before(async () => {
  conn = await Connection.open('qemu:///system');
  repoDir = await initPlainRepo();
  guest = await TinyGuest.launch(conn, { name: testName('live-agent'), agent: true });
});

after(async () => {
  await guest?.dispose();
  await conn?.close();
  if (repoDir) await rm(repoDir, { recursive: true, force: true });
});

describe('live backup with a guest agent', () => {
  test('an agent that cannot freeze: the backup goes on crash-consistent and says why', async () => {
    await agentConnected(guest);
    const r = await cli(['backup', guest.domain.name, '--json'], env());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.consistency, 'crash-consistent');
    assert.equal(result.consistencyReason, 'freeze-failed');
    assert.equal(result.manifest.consistency, 'crash-consistent');
    // A freeze was asked for (and a thaw), so the window is measured even though it failed.
    assert.equal(typeof result.frozenSeconds, 'number');

    // Asked for application consistency, the failed freeze fails the backup: nothing recorded.
    const cps = (await guest.domain.listCheckpoints()).map((c) => c.name);
    const count = async (): Promise<number> =>
      JSON.parse((await cli(['backups', guest.domain.name, '--json'], env())).stdout).backups
        .length;
    const n = await count();
    const strict = await cli(
      ['backup', guest.domain.name, '--consistency', 'application', '--json'],
      env(),
    );
    assert.equal(strict.code, 1, strict.stdout + strict.stderr);
    const error = JSON.parse(strict.stdout).error;
    assert.equal(error.code, 'BACKUP_LIVE_FREEZE_FAILED');
    assert.equal(error.reason, 'freeze-failed');
    const id = await cli(
      ['backup', guest.domain.name, '--consistency', 'application', '--lang', 'id'],
      env(),
    );
    assert.match(id.stderr, /tidak bisa membekukan filesystem-nya \(freeze-failed\)/);
    assert.equal(await count(), n);
    assert.deepEqual(
      (await guest.domain.listCheckpoints()).map((c) => c.name),
      cps,
    );
    assert.equal((await guest.domain.jobInfo()).type, 0);
    assert.equal((await guest.domain.state()).state, 'running');
  });

  test('an agent that freezes: frozen only around the backup point, application-consistent', async () => {
    const c = guest.console;
    // The stock stand-in gives way to one that freezes (both are this test's own guest's).
    await startAgentStandIn(guest);
    const r = await cli(['backup', guest.domain.name, '--json'], env());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.consistency, 'application-consistent');
    assert.equal(result.consistencyReason, null);
    assert.equal(result.manifest.consistency, 'application-consistent');
    assert.equal(await c.run('cat /tmp/agent.log'), 'freeze\nthaw\n');
    // How long the guest could have been frozen, as brankas measured it (freeze asked to thaw
    // answered): more than nothing, and within the backup.
    assert.ok(result.frozenSeconds > 0 && result.frozenSeconds < result.seconds, r.stdout);
    // Thawed: the filesystem takes writes again.
    await c.run('echo after > /data/after.txt; sync', 30_000);

    const text = await cli(['backups', guest.domain.name], env());
    assert.match(text.stdout, /live\s+application-consistent/);
  });

  test('the guest is thawed when taking the backup point fails', async () => {
    const c = guest.console;
    await c.run('rm -f /tmp/agent.log');
    await agentConnected(guest);
    const freeze = await planFreeze(guest.domain, await guest.domain.xml());
    // No disk vdz: libvirt refuses the job after the freeze.
    await assert.rejects(
      LiveExport.begin(guest.domain, {
        disks: [{ target: 'vdz' }],
        checkpoint: null,
        around: freeze.around,
      }),
      /no disk named 'vdz'/,
    );
    assert.equal(freeze.consistency, 'application-consistent', freeze.reason);
    assert.equal(await c.run('cat /tmp/agent.log'), 'freeze\nthaw\n');
    assert.ok((freeze.frozenSeconds ?? 0) > 0, 'the window is measured when the point fails too');
    await c.run('echo again > /data/again.txt; sync', 30_000);
  });

  test('a VM with snapshots stays incremental: no revert can pass a surviving checkpoint', async () => {
    const first = await cli(['backup', guest.domain.name, '--json'], env());
    assert.equal(JSON.parse(first.stdout).disks[0].read, 'incremental', first.stdout);
    const snap = await cli(['snapshot', 'create', guest.domain.name, 'before-change'], env());
    assert.equal(snap.code, 0, snap.stderr);
    const r = await cli(['backup', guest.domain.name, '--json'], env());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const vda = JSON.parse(r.stdout).disks[0];
    assert.deepEqual([vda.read, vda.reason], ['incremental', 'incremental']);
  });
});
