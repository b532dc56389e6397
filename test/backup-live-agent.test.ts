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
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '../src/libvirt/index.js';
import { BOOT_TIMEOUT_MS, TinyGuest } from '../src/engine/guest/tiny-guest.js';
import { LiveExport } from '../src/engine/backup/live/export.js';
import { planFreeze } from '../src/engine/backup/live/freeze.js';
import { testName } from './support/guest.js';
import { cli, initPlainRepo } from './support/cli.js';

let conn: Connection;
let repoDir: string;
let guest: TinyGuest;
const env = (): NodeJS.ProcessEnv => ({ BRANKAS_REPO: repoDir });

/**
 * A guest agent stand-in that also answers guest-fsfreeze-freeze and -thaw by
 * freezing and thawing /data for real, logging each to /tmp/agent.log. It keeps
 * the port open across end-of-file (no host side yet): closing and reopening it
 * at once, as the stock stand-in does, can race libvirt's reconnection forever.
 */
const FREEZING_AGENT = `#!/bin/sh
dev=
for p in /sys/class/virtio-ports/*; do
  [ "$(cat "$p/name" 2>/dev/null)" = org.qemu.guest_agent.0 ] && dev=/dev/\${p##*/}
done
exec 3<>"$dev"
while true; do
  while IFS= read -r line <&3; do
    id=$(printf '%s\\n' "$line" | sed -n 's/.*"id"[^0-9]*\\([0-9][0-9]*\\).*/\\1/p')
    case "$line" in
      *guest-sync-delimited*) printf '\\377{"return": %s}\\n' "$id" ;;
      *guest-sync*) printf '{"return": %s}\\n' "$id" ;;
      *guest-ping*) printf '{"return": {}}\\n' ;;
      *guest-fsfreeze-freeze*)
        if fsfreeze --freeze /data; then echo freeze >>/tmp/agent.log; printf '{"return": 1}\\n'
        else printf '{"error": {"class": "GenericError", "desc": "freeze failed"}}\\n'; fi ;;
      *guest-fsfreeze-thaw*)
        fsfreeze --unfreeze /data; echo thaw >>/tmp/agent.log; printf '{"return": 1}\\n' ;;
      *) printf '{"error": {"class": "CommandNotFound", "desc": "no"}}\\n' ;;
    esac >&3
  done
  sleep 0.2
done
`;

/**
 * libvirt learns that the guest opened the agent's port from a QEMU event: until then it
 * says the agent is not connected. Polled (a wait for readiness, not a decision).
 */
async function agentConnected(timeoutMs = BOOT_TIMEOUT_MS): Promise<void> {
  // By a deadline, as long as a TCG boot may take on a loaded machine by default.
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await guest.domain.agentCommand(JSON.stringify({ execute: 'guest-ping' }), 5);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
}

/** Polls until libvirt reports the agent gone (a wait for a state, not a decision). */
async function agentGone(): Promise<void> {
  const deadline = Date.now() + BOOT_TIMEOUT_MS;
  for (;;) {
    try {
      await guest.domain.agentCommand(JSON.stringify({ execute: 'guest-ping' }), 1);
    } catch {
      return;
    }
    if (Date.now() > deadline)
      throw new Error('the guest agent still answers after it was stopped');
    await sleep(100);
  }
}

/**
 * Replaces the guest's agent stand-in with FREEZING_AGENT. libvirt reconnects to the agent when
 * QEMU reports the guest opened its port; a reopening it misses leaves the agent "not
 * connected", so the swap is tried again (up to three times) before the test gives up.
 */
async function startFreezingAgent(): Promise<void> {
  const c = guest.console;
  await c.run(
    `echo ${Buffer.from(FREEZING_AGENT).toString('base64')} | base64 -d > /tmp/agent2.sh`,
  );
  for (let attempt = 1; ; attempt++) {
    await c.run(
      'for p in /proc/[0-9]*; do grep -qE "agent2?\\.sh" $p/cmdline 2>/dev/null && kill ${p#/proc/}; done; true',
    );
    // libvirt must see the port closed before it is opened again.
    await agentGone();
    await c.run('(sh /tmp/agent2.sh </dev/null >/dev/null 2>&1 &); true');
    try {
      // A missed reopening shows within seconds; the last try waits as long as a boot may.
      await agentConnected(attempt < 3 ? 10_000 * attempt : BOOT_TIMEOUT_MS);
      return;
    } catch (err) {
      if (attempt >= 3) {
        throw new Error(`the freezing agent never connected; guest: ${await c.run('ps; true')}`, {
          cause: err,
        });
      }
    }
  }
}

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
    await agentConnected();
    const r = await cli(['backup', guest.domain.name, '--json'], env());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.consistency, 'crash-consistent');
    assert.equal(result.consistencyReason, 'freeze-failed');
    assert.equal(result.manifest.consistency, 'crash-consistent');

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
    await startFreezingAgent();
    const r = await cli(['backup', guest.domain.name, '--json'], env());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.consistency, 'application-consistent');
    assert.equal(result.consistencyReason, null);
    assert.equal(result.manifest.consistency, 'application-consistent');
    assert.equal(await c.run('cat /tmp/agent.log'), 'freeze\nthaw\n');
    // Thawed: the filesystem takes writes again.
    await c.run('echo after > /data/after.txt; sync', 30_000);

    const text = await cli(['backups', guest.domain.name], env());
    assert.match(text.stdout, /live\s+application-consistent/);
  });

  test('the guest is thawed when taking the backup point fails', async () => {
    const c = guest.console;
    await c.run('rm -f /tmp/agent.log');
    await agentConnected();
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
