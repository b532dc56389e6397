/**
 * A guest agent that hangs or will not thaw, on a real running TCG guest with
 * a faulty agent stand-in (test/support/agent.ts) that freezes /data for real.
 * What libvirt does when the agent never answers the freeze, measured: under
 * an agent response timeout the call gives up (AGENT_UNRESPONSIVE) while the
 * late freeze stays until a thaw (libvirt's default, no timeout, blocks the
 * agent for ever: docs/live-backups.md "Faults"). The backup then goes on
 * crash-consistent (freeze-timeout) and thaws. A thaw that keeps failing
 * fails the backup clearly, and `brankas doctor` reports and thaws the guest.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { Connection } from '../src/libvirt/index.js';
import { TinyGuest } from '../src/engine/guest/tiny-guest.js';
import { testName } from './support/guest.js';
import { cli, initPlainRepo } from './support/cli.js';
import { startAgentStandIn } from './support/agent.js';

let conn: Connection;
let repoDir: string;
let scratch: string;
let guest: TinyGuest;
const env = (): NodeJS.ProcessEnv => ({ BRANKAS_REPO: repoDir });

async function agentStatus(): Promise<string> {
  const out = await guest.domain.agentCommand(
    JSON.stringify({ execute: 'guest-fsfreeze-status' }),
    5,
  );
  return (JSON.parse(out) as { return: string }).return;
}

/** The guest's /data takes writes (a frozen filesystem blocks them: by a deadline, not a guess). */
async function dataWritable(): Promise<void> {
  await guest.console.run('echo x > /data/probe.txt; sync', 60_000);
}

before(async () => {
  conn = await Connection.open('qemu:///system');
  repoDir = await initPlainRepo();
  // A job directory root of this test's own: doctor looks at nobody else's.
  scratch = await mkdtemp('/var/tmp/brankas-test-freeze-');
  await chmod(scratch, 0o755);
  guest = await TinyGuest.launch(conn, { name: testName('freeze-timeout'), agent: true });
  await startAgentStandIn(guest);
});

after(async () => {
  // A guest left frozen must not outlive the test: thawed through the console.
  await guest?.console.run('fsfreeze --unfreeze /data; true', 30_000).catch(() => undefined);
  await guest?.dispose();
  await conn?.close();
  if (repoDir) await rm(repoDir, { recursive: true, force: true });
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('a guest agent that never answers the freeze', () => {
  test('libvirt gives up after the agent response timeout; a late freeze stays until thawed', async () => {
    const c = guest.console;
    await c.run('rm -f /tmp/agent.log; touch /tmp/agent-freeze-hangs');
    const d = guest.domain;
    try {
      await d.agentSetResponseTimeout(2);
      await assert.rejects(
        d.fsFreeze([], { timeoutMs: 60_000 }),
        (err: Error & { code: string }) => {
          // libvirt's own answer, not our call's timeout (which would be LIBVIRT_TIMEOUT).
          assert.equal(err.code, 'LIBVIRT_AGENT_UNRESPONSIVE', err.message);
          return true;
        },
      );
      assert.equal(await agentStatus(), 'frozen');
      assert.equal(await d.fsThaw([], { timeoutMs: 60_000 }), 1);
      assert.equal(await agentStatus(), 'thawed');
      assert.equal(await c.run('cat /tmp/agent.log'), 'freeze-unanswered\nthaw\n');
    } finally {
      await d.agentSetResponseTimeout(-2);
    }
  });

  test('the backup goes on crash-consistent (freeze-timeout) and the guest is thawed', async () => {
    const c = guest.console;
    await c.run('rm -f /tmp/agent.log; touch /tmp/agent-freeze-hangs');
    const r = await cli(
      ['backup', guest.domain.name, '--freeze-timeout', '2s', '--scratch', scratch, '--json'],
      env(),
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.consistency, 'crash-consistent');
    assert.equal(result.consistencyReason, 'freeze-timeout');
    assert.equal(result.manifest.consistency, 'crash-consistent');
    assert.equal(await c.run('cat /tmp/agent.log'), 'freeze-unanswered\nthaw\n');
    assert.equal(await agentStatus(), 'thawed');
    await dataWritable();

    // Said in words too.
    await c.run('rm -f /tmp/agent.log');
    const text = await cli(
      ['backup', guest.domain.name, '--freeze-timeout', '2s', '--scratch', scratch],
      env(),
    );
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /did not answer the freeze in time/);
    assert.equal(await agentStatus(), 'thawed');
  });

  test('with --consistency application it fails, nothing recorded, and still thaws', async () => {
    const c = guest.console;
    await c.run('rm -f /tmp/agent.log; touch /tmp/agent-freeze-hangs');
    const count = async (): Promise<number> =>
      JSON.parse((await cli(['backups', guest.domain.name, '--json'], env())).stdout).backups
        .length;
    const n = await count();
    const r = await cli(
      [
        'backup',
        guest.domain.name,
        '--consistency',
        'application',
        '--freeze-timeout',
        '2s',
        '--scratch',
        scratch,
        '--json',
      ],
      env(),
    );
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const error = JSON.parse(r.stdout).error;
    assert.equal(error.code, 'BACKUP_LIVE_FREEZE_FAILED');
    assert.equal(error.reason, 'freeze-timeout');
    assert.equal(await count(), n);
    assert.equal(await c.run('cat /tmp/agent.log'), 'freeze-unanswered\nthaw\n');
    assert.equal(await agentStatus(), 'thawed');
    assert.equal((await guest.domain.jobInfo()).type, 0);
    await dataWritable();
  });
});

describe('a guest agent that freezes but will not thaw', () => {
  test('the thaw is retried, the backup fails clearly, and doctor reports and thaws the guest', async () => {
    const c = guest.console;
    await c.run('rm -f /tmp/agent.log /tmp/agent-freeze-hangs; touch /tmp/agent-thaw-fails');
    const r = await cli(
      ['backup', guest.domain.name, '--scratch', scratch, '--freeze-timeout', '5s', '--json'],
      env(),
    );
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const error = JSON.parse(r.stdout).error;
    assert.equal(error.code, 'BACKUP_LIVE_THAW_FAILED', r.stdout);
    assert.match(error.message, /may still be frozen/);
    assert.equal(
      await c.run('cat /tmp/agent.log'),
      'freeze\nthaw-refused\nthaw-refused\nthaw-refused\n',
    );
    assert.equal(await agentStatus(), 'frozen');
    assert.equal((await guest.domain.jobInfo()).type, 0);
    const id = await cli(
      ['backup', guest.domain.name, '--scratch', scratch, '--lang', 'id'],
      env(),
    );
    assert.match(id.stderr, /guest mungkin masih beku/);

    // doctor sees the frozen guest (the failed backup left a marked job directory for it).
    const doctor = async (...args: string[]) => {
      const d = await cli(
        ['doctor', guest.domain.name, '--scratch', scratch, ...args, '--json'],
        env(),
      );
      assert.equal(d.code, 0, d.stdout + d.stderr);
      return JSON.parse(d.stdout) as { findings: { kind: string; vm: string }[] };
    };
    const plan = await doctor();
    assert.ok(
      plan.findings.some((f) => f.kind === 'frozen-guest' && f.vm === guest.domain.name),
      JSON.stringify(plan.findings),
    );
    // Once the agent thaws again, doctor --fix thaws the guest and removes the directory.
    await c.run('rm -f /tmp/agent-thaw-fails');
    await doctor('--fix');
    assert.equal(await agentStatus(), 'thawed');
    await dataWritable();
    assert.deepEqual(await readdir(scratch), []);
  });
});
