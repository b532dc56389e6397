/**
 * Jobs and signals with real processes on a real TCG guest: the real CLI
 * (`node dist/cli/brankas.js`) is killed, terminated and hung up on in the
 * middle of a cold backup. It talks to libvirtd through a loopback proxy
 * that can hold its requests, so each signal lands at a known step (the VM
 * asked to stop, or the backup committed) rather than at a moment a timer
 * guessed.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Connection, DomainUndefine, isNotFound } from '../src/libvirt/index.js';
import { GUEST_WORK_ROOT, TinyGuest } from '../src/engine/guest/tiny-guest.js';
import { run } from '../src/cli/run.js';
import { VmLock } from '../src/service/index.js';
import { makeScratchDir, testName } from './support/guest.js';
import { DaemonProxy } from './support/proxy.js';
import { cli, initPlainRepo } from './support/cli.js';
import { BRANKAS_MAIN } from './support/main-path.js';

let conn: Connection;
let proxy: DaemonProxy;
let repoDir: string;
let stateDir: string;
let guest: TinyGuest;
let vm: string;
const children = new Set<ChildProcess>();

const env = (): NodeJS.ProcessEnv => ({ BRANKAS_REPO: repoDir, BRANKAS_STATE_DIR: stateDir });
const viaProxy = (): string[] => ['-c', `qemu+tcp://127.0.0.1:${proxy.port}/system`];

before(async () => {
  conn = await Connection.open('qemu:///system');
  proxy = await DaemonProxy.start();
  repoDir = await initPlainRepo();
  stateDir = await mkdtemp(join(tmpdir(), 'brankas-test-state-'));
  vm = testName('jobs');
  guest = await TinyGuest.launch(conn, { name: vm });
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await guest?.dispose();
  await proxy?.close();
  await conn?.close();
  for (const d of [repoDir, stateDir]) if (d) await rm(d, { recursive: true, force: true });
});

beforeEach(async () => {
  proxy.release();
  // Each test starts from a running guest that answers a shutdown request at once.
  if ((await guest.domain.state()).state === 'shutoff') await guest.domain.start();
  await guest.reattach(120_000);
});

interface Child {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * The real CLI as a child process; `onStderr` sees its stderr as it comes, so a test can
 * hold the proxy in the same turn the child says it has reached a step.
 */
function spawnCli(args: string[], onStderr?: (text: string) => void): Child {
  const child = spawn(process.execPath, [BRANKAS_MAIN, ...args], {
    env: { ...process.env, ...env(), LANG: 'C' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    onStderr?.(err);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Waits for something another process does; the deadline only reports a hang. */
async function until(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Until the kernel has delivered every signal sent to `pid` (its handler has run). */
async function delivered(pid: number): Promise<void> {
  await until(`signals delivered to ${pid}`, async () => {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    return !/^(SigPnd|ShdPnd):\s*0*[1-9a-f]/m.test(status);
  });
}

const state = async (): Promise<string> => (await guest.domain.state()).state;

/** A backup through the proxy, held at its first libvirt call once it has asked the VM to stop. */
async function backupHeldAtShutdown(extra: string[] = []): Promise<Child> {
  let held = false;
  const c = spawnCli(['backup', vm, '--mode', 'cold', ...viaProxy(), ...extra], (err) => {
    if (!held && /Shutting \S+ down/.test(err)) {
      held = true;
      proxy.holdRequests();
    }
  });
  await until('the backup asks the VM to stop', () => held || c.child.exitCode !== null);
  assert.ok(held, `the backup ended first: ${c.stderr()}`);
  return c;
}

async function backupIds(): Promise<string[]> {
  const r = await cli(['backups', vm, '--json'], env());
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout).backups as { id: string }[]).map((b) => b.id);
}

describe('a killed backup', () => {
  test('SIGKILL while the VM is shut off: status warns, the next backup starts it again and says so', async () => {
    const killed = await backupHeldAtShutdown();
    killed.child.kill('SIGKILL');
    assert.equal((await killed.exited).signal, 'SIGKILL');
    proxy.release();
    await until('the guest to power off', async () => (await state()) === 'shutoff');

    const status = await cli(['status', vm], env());
    assert.equal(status.code, 0, status.stderr);
    assert.match(
      status.stdout,
      new RegExp(
        `warning: ${vm} was shut off by a backup that was interrupted \\(process ${killed.child.pid}, gone\\)`,
      ),
    );
    const json = JSON.parse((await cli(['status', vm, '--json'], env())).stdout);
    assert.deepEqual(
      json.jobs.leftUndone.map((c: { vm: string; initial: string }) => [c.vm, c.initial]),
      [[vm, 'running']],
    );

    const next = await cli(['backup', vm, '--mode', 'cold', '--json'], env());
    assert.equal(next.code, 0, next.stderr);
    assert.match(
      next.stderr,
      new RegExp(
        `VM ${vm} was shut off by a backup that was interrupted \\(process ${killed.child.pid}, gone\\) .* started it again now`,
      ),
    );
    // Started again first, so this backup found it running and put it back running.
    assert.equal(JSON.parse(next.stdout).power.initial, 'running');
    assert.equal(await state(), 'running');
    const after = await cli(['status', vm], env());
    assert.doesNotMatch(after.stdout, /interrupted/);
  });
});

describe('one job per VM', () => {
  test('a second backup of a VM being backed up is refused, or with --wait waits; they never overlap', async () => {
    const first = await backupHeldAtShutdown();
    const busy = await cli(['backup', vm, '--mode', 'cold', '--json'], env());
    assert.equal(busy.code, 1, busy.stdout + busy.stderr);
    const error = JSON.parse(busy.stdout).error;
    assert.equal(error.code, 'VM_BUSY');
    assert.equal(error.pid, first.child.pid);
    assert.equal(error.job, 'backup');
    const id = await cli(['backup', vm, '--mode', 'cold', '--lang', 'id'], env());
    assert.match(id.stderr, /sedang dipakai: backup \(proses \d+\)/);
    const status = await cli(['status', vm], env());
    assert.match(
      status.stdout,
      new RegExp(`${vm}: a backup is running \\(process ${first.child.pid}, since `),
    );

    // The waiting backup, in-process, watched as it says it waits.
    let said = '';
    const stderr = new PassThrough().on('data', (d: Buffer) => (said += d.toString()));
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (d: Buffer) => (out += d.toString()));
    const stdin = new PassThrough();
    stdin.end();
    const waiting = run(['backup', vm, '--mode', 'cold', '--wait', '--json'], {
      stdout,
      stderr,
      stdin,
      env: { LANG: 'C', ...env() },
    });
    await until('the second backup waits', () => /is busy: a backup/.test(said));
    proxy.release();
    assert.equal((await first.exited).code, 0, first.stderr());
    assert.equal(await waiting, 0, said);
    // It began once the first had put the VM back: it found it running.
    assert.equal(JSON.parse(out).power.initial, 'running');
    assert.equal(await state(), 'running');
  });
});

describe('one job per VM: restore and the restore test', () => {
  test('restore over the VM and verify --boot of its backup are refused while a job holds it', async () => {
    if ((await backupIds()).length === 0) {
      assert.equal((await cli(['backup', vm, '--mode', 'cold'], env())).code, 0);
      await guest.reattach(120_000);
    }
    const held = await VmLock.tryTake(stateDir, vm, 'backup');
    assert.ok(held instanceof VmLock);
    try {
      for (const args of [
        ['restore', vm, '--force', '--json'],
        ['verify', vm, '--boot', '--json'],
      ]) {
        const r = await cli(args, env());
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.equal(JSON.parse(r.stdout).error.code, 'VM_BUSY', args.join(' '));
      }
      assert.equal(await state(), 'running');
    } finally {
      await held.release();
    }
  });
});

describe('signals', () => {
  test('SIGTERM after the backup was committed: recorded, said, exit 0', async () => {
    const before = await backupIds();
    const c = await backupHeldAtShutdown();
    await until('the guest to power off', async () => (await state()) === 'shutoff');
    // Its question "is it off?" goes through; the copy and the commit need no libvirt, and
    // the next call (starting the VM again) waits in the proxy.
    proxy.flush();
    await until('the backup is committed', async () => (await backupIds()).length > before.length);
    c.child.kill('SIGTERM');
    await delivered(c.child.pid!);
    proxy.release();
    const end = await c.exited;
    assert.equal(end.code, 0, c.stderr());
    const id = (await backupIds()).find((x) => !before.includes(x))!;
    assert.match(
      c.stderr(),
      new RegExp(`came after the backup was committed: backup ${id} is recorded`),
    );
    assert.match(c.stdout(), new RegExp(`Backup ${id} of ${vm}`));
    assert.equal(await state(), 'running');
  });

  test('SIGHUP (a closed terminal) during a cold backup stops it cleanly: VM running again, nothing recorded', async () => {
    const before = await backupIds();
    const c = await backupHeldAtShutdown();
    await until('the guest to power off', async () => (await state()) === 'shutoff');
    c.child.kill('SIGHUP');
    await delivered(c.child.pid!);
    proxy.release();
    const end = await c.exited;
    assert.equal(end.signal, null, 'not killed by the signal');
    assert.equal(end.code, 130, c.stderr());
    assert.match(c.stderr(), /interrupted: no backup was recorded/);
    assert.equal(await state(), 'running');
    assert.deepEqual(await backupIds(), before);
    assert.equal(existsSync(join(stateDir, 'journal', `vm-${vm}.json`)), false);
  });
});

describe('a terminal closed while brankas cleans up', () => {
  test('SIGTERM, then SIGHUP during the cleanup: the cleanup goes on, the VM runs again', async () => {
    const c = await backupHeldAtShutdown();
    await until('the guest to power off', async () => (await state()) === 'shutoff');
    c.child.kill('SIGTERM');
    await delivered(c.child.pid!);
    c.child.kill('SIGHUP');
    await delivered(c.child.pid!);
    proxy.release();
    const end = await c.exited;
    assert.equal(end.code, 130, c.stderr());
    assert.match(c.stderr(), /interrupted: no backup was recorded/);
    assert.equal(await state(), 'running');
  });
});

describe('a signal while the guest shuts down', () => {
  test('SIGTERM before the guest is off: brankas sees it off, starts it again, and only then exits', async () => {
    // The guest's power button now waits for the test's go-ahead before powering off.
    await guest.console.run(
      `printf '#!/bin/sh\\nwhile [ ! -e /tmp/go ]; do sleep 1; done\\nsync\\npoweroff -f\\n' > /etc/acpi/poweroff.sh`,
    );
    const before = await backupIds();
    const firstRun = (await conn.lookupDomain(vm)).id;
    let asked = false;
    const c = spawnCli(
      ['backup', vm, '--mode', 'cold'],
      (err) => (asked ||= /Shutting \S+ down/.test(err)),
    );
    await until('the backup asks the VM to stop', () => asked || c.child.exitCode !== null);
    assert.ok(asked, c.stderr());
    c.child.kill('SIGTERM');
    await until(
      'brankas waits for the VM to be off, or ends',
      () => /waiting until it is off/.test(c.stderr()) || c.child.exitCode !== null,
    );
    await guest.console.run('touch /tmp/go');
    const end = await c.exited;
    assert.equal(end.code, 130, c.stderr());
    assert.match(c.stderr(), /interrupted: no backup was recorded/);
    await until('the VM is off, or on in a new run', async () => {
      const d = await conn.lookupDomain(vm);
      return d.id !== firstRun;
    });
    assert.equal(await state(), 'running', 'started again after it went off');
    assert.deepEqual(await backupIds(), before);
  });
});

describe('a closed pipe', () => {
  test('brankas demo | head: the closed stdout stops the demo cleanly; guest and files are removed', async () => {
    const parent = await makeScratchDir('demo-pipe');
    let demoVm: string | undefined;
    try {
      const c = spawnCli(['demo', '--skip-thin', '--dir', parent.path]);
      await until(
        'the demo guest is up',
        () => /Guest (\S+) is up/.test(c.stdout()) || c.child.exitCode !== null,
      );
      demoVm = /Guest (\S+) is up/.exec(c.stdout())?.[1];
      assert.ok(demoVm, c.stdout() + c.stderr());
      // What `head` does once it has its lines: the reading end closes.
      c.child.stdout!.destroy();
      const end = await c.exited;
      assert.equal(end.signal, null, c.stderr());
      assert.equal(end.code, 130, c.stderr());
      assert.doesNotMatch(c.stderr(), /EPIPE|\n\s+at /);
      await assert.rejects(conn.lookupDomain(demoVm), (e: unknown) => isNotFound(e));
      assert.ok(!existsSync(join(GUEST_WORK_ROOT, demoVm)));
      assert.deepEqual(await readdir(parent.path), []);
    } finally {
      if (demoVm) {
        const d = await conn.lookupDomain(demoVm).catch(() => undefined);
        if (d) {
          await d.destroy().catch(() => undefined);
          await d
            .undefine(DomainUndefine.SNAPSHOTS_METADATA | DomainUndefine.CHECKPOINTS_METADATA)
            .catch(() => undefined);
        }
        await rm(join(GUEST_WORK_ROOT, demoVm), { recursive: true, force: true });
      }
      await parent.remove();
    }
  });
});
