/**
 * A killed service (issue #14): `brankas serve` (the real process) runs a scheduled cold backup
 * of a tiny TCG guest, is killed with SIGKILL while the VM is shut off for the copy, and is
 * started again: the VM runs again and the job is "interrupted" in the history.
 *
 * The policy's time has passed (its last run is set a year back), so serve runs it once at its
 * start: the missed-run rule, with no wait for a clock. serve talks to libvirtd through a
 * loopback proxy that holds its requests, so the kill lands at a known step: serve has recorded
 * in its journal that it powers the VM off, its requests are let through until the guest is
 * off, then held; nothing can start the VM again before the kill.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '../src/libvirt/index.js';
import { TinyGuest } from '../src/engine/guest/tiny-guest.js';
import { readJournal, ScheduleRuns } from '../src/service/index.js';
import { cli, initPlainRepo } from './support/cli.js';
import { testName } from './support/guest.js';
import { DaemonProxy } from './support/proxy.js';
import { BRANKAS_MAIN } from './support/main-path.js';

const MAIN = BRANKAS_MAIN;

let conn: Connection;
let proxy: DaemonProxy;
let repoDir: string;
let stateDir: string;
let guest: TinyGuest;
let vm: string;
const children = new Set<ChildProcess>();

before(async () => {
  conn = await Connection.open('qemu:///system');
  proxy = await DaemonProxy.start();
  repoDir = await initPlainRepo();
  stateDir = await mkdtemp(join(tmpdir(), 'brankas-test-state-'));
  vm = testName('sched');
  guest = await TinyGuest.launch(conn, { name: vm });
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  proxy?.release();
  await guest?.dispose();
  await proxy?.close();
  await conn?.close();
  for (const d of [repoDir, stateDir]) if (d) await rm(d, { recursive: true, force: true });
});

interface Served {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `brankas serve` on a free loopback port; resolves once it says where it listens. */
function serve(uri: string): Promise<Served> {
  const child = spawn(process.execPath, [MAIN, 'serve', '-c', uri, '--listen', '127.0.0.1:0'], {
    env: { ...process.env, BRANKAS_STATE_DIR: stateDir, BRANKAS_REPO: repoDir, LANG: 'C' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let err = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('exit', (code, signal) => {
      children.delete(child);
      r({ code, signal });
    }),
  );
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listens on (\S+) /.exec(err);
      if (m) resolve({ child, url: m[1]!, stderr: () => err, exited });
    });
    void exited.then((e) => reject(new Error(`serve exited ${e.code ?? e.signal}: ${err}`)));
  });
}

/** Waits for something another process does; the deadline only reports a hang. */
async function until(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + 240_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function getJson(url: string, path: string, token: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), {
      headers: { host: 'localhost', authorization: `Bearer ${token}` },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(JSON.parse(body)));
    });
    req.on('error', reject);
    req.end();
  });
}

const state = async (): Promise<string> => (await guest.domain.state()).state;

describe('a killed service', () => {
  test('SIGKILL during a scheduled cold backup: on restart the VM runs again and the job is interrupted', async () => {
    await writeFile(
      join(stateDir, 'schedules.conf'),
      `[policy yearly]\nvms = ${vm}\nwhen = 0 0 1 1 *\nmode = cold\ntimezone = UTC\n\n` +
        // Never run by serve (new to it, next due on 1 January): run by hand below.
        `[policy tested]\nvms = brankas-test-nomatch ${vm.slice(0, -2)}??\nwhen = 0 0 1 1 *\n` +
        `mode = cold\nkeep-last = 1\nrestore-test-days = 7\n`,
    );
    // Its last run a year and a half back: this year's run was missed, so it runs at the start.
    const runs = ScheduleRuns.open(stateDir);
    runs.setLastRun('yearly', new Date(Date.now() - 550 * 86_400_000));
    runs.close();
    assert.equal(await state(), 'running');

    const viaProxy = `qemu+tcp://127.0.0.1:${proxy.port}/system`;
    const first = await serve(viaProxy);
    // serve journals the power-off before it asks for it: from then on its requests are held,
    // and let through only until the guest is off.
    await until(
      'serve records that it powers the VM off',
      async () => ((await readJournal(stateDir, vm))?.changes.length ?? 0) > 0,
    );
    proxy.holdRequests();
    await until('the guest is off', async () => {
      if ((await state()) === 'shutoff') return true;
      proxy.flush();
      return false;
    });
    assert.match(first.stderr(), /Schedule: policy yearly runs now .*not running/);
    first.child.kill('SIGKILL');
    assert.equal((await first.exited).signal, 'SIGKILL');
    proxy.release();
    assert.equal(await state(), 'shutoff', 'the kill came while the VM was off for the copy');

    // Started again (straight to libvirtd): the VM runs again before the API answers.
    const second = await serve('qemu:///system');
    try {
      assert.equal(await state(), 'running');
      assert.match(
        second.stderr(),
        new RegExp(`VM ${vm} was shut off by a backup .* started it again`),
      );
      const token = (await readFile(join(stateDir, 'api-token'), 'utf8')).trim();
      const { jobs } = (await getJson(second.url, `/api/v1/jobs?vm=${vm}`, token)) as {
        jobs: { kind: string; state: string; endedAt: string | null }[];
      };
      assert.equal(jobs.length, 1, JSON.stringify(jobs));
      assert.equal(jobs[0]!.kind, 'backup');
      assert.equal(jobs[0]!.state, 'interrupted');
      assert.ok(jobs[0]!.endedAt);
      // The missed run ran once: the restart does not run it again.
      const sched = (await getJson(second.url, '/api/v1/schedules', token)) as {
        policies: { id: string; nextRun: string }[];
      };
      assert.ok(Date.parse(sched.policies[0]!.nextRun) > Date.now());
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });

  test('schedule run: a backup, the retention of that VM, and the restore test with boot when it is due', async () => {
    // Off: a cold backup copies at once (no shutdown to wait for) and leaves it off.
    if ((await state()) !== 'shutoff') await guest.domain.destroy();
    const env = { BRANKAS_STATE_DIR: stateDir, BRANKAS_REPO: repoDir };
    const first = await cli(['schedule', 'run', 'tested', '--json'], env);
    assert.equal(first.code, 0, first.stderr + first.stdout);
    const one = JSON.parse(first.stdout) as {
      vms: string[];
      jobs: { kind: string; state: string; result: Record<string, unknown> }[];
    };
    assert.deepEqual(one.vms, [vm]);
    assert.deepEqual(
      one.jobs.map((j) => [j.kind, j.state]),
      [
        ['backup', 'succeeded'],
        ['verify', 'succeeded'],
      ],
    );
    const backupA = one.jobs[0]!.result['backup'] as string;
    assert.deepEqual(one.jobs[0]!.result['retention'], {
      removed: [],
      deletedPacks: 0,
      deletedBytes: 0,
    });
    assert.equal(one.jobs[1]!.result['backup'], backupA);
    assert.equal(one.jobs[1]!.result['how'], 'boot');
    assert.equal(one.jobs[1]!.result['passed'], true, JSON.stringify(one.jobs[1]!.result));

    // Again: the test is not due for 7 days; keep-last 1 forgets the first backup.
    const second = await cli(['schedule', 'run', 'tested', '--json'], env);
    assert.equal(second.code, 0, second.stderr + second.stdout);
    const two = JSON.parse(second.stdout) as typeof one;
    assert.deepEqual(
      two.jobs.map((j) => [j.kind, j.state]),
      [['backup', 'succeeded']],
    );
    assert.deepEqual((two.jobs[0]!.result['retention'] as { removed: string[] }).removed, [
      backupA,
    ]);
    const backups = await cli(['backups', vm, '--json'], env);
    assert.deepEqual(
      (JSON.parse(backups.stdout).backups as { id: string }[]).map((b) => b.id),
      [two.jobs[0]!.result['backup']],
    );
  });
});
