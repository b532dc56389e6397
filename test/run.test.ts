/**
 * `brankas run` (instant recovery) end to end on a real TCG guest: a cold
 * backup of the tiny guest, then a new VM booted straight from it over the
 * backup's NBD export served by a detached brankas process; the guest reads
 * the files written before the backup. Then the run managed across calls
 * (--list, --stop refused while the VM depends on it) and the serving
 * process killed: the VM pauses at its next read of the backup (no I/O error
 * in the guest), --list says broken, --resume serves it again and the read
 * completes. A `brankas run` killed (SIGKILL) right after its serving process
 * started leaves that process listed and stoppable; --persist waits for no one
 * and is refused (VM_BUSY) while another job holds the VM.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import {
  Connection,
  DomainUndefine,
  DomainXml,
  isNotFound,
  type Domain,
} from '../src/libvirt/index.js';
import { SerialConsole } from '../src/engine/guest/serial-console.js';
import { TinyGuest } from '../src/engine/guest/tiny-guest.js';
import { isAlive, VmLock, type ProcessIdentity } from '../src/service/index.js';
import { BOOT_TIMEOUT_MS, testName } from './support/guest.js';
import { cli, initPlainRepo, TEST_STATE_DIR } from './support/cli.js';
import { serverRunning } from '../src/cli/commands/run-server.js';
import { rm } from 'node:fs/promises';
import { BRANKAS_MAIN } from './support/main-path.js';

let conn: Connection;
let repoDir: string;
let guest: TinyGuest;
let sums: string;
const copyName = testName('run');
const killedName = testName('run-killed');
let copy: Domain | undefined;
let copyConsole: SerialConsole | undefined;
let server: ProcessIdentity | undefined;
const run = promisify(execFile);
const env = (): NodeJS.ProcessEnv => ({ BRANKAS_REPO: repoDir });

/** Waits, by a deadline, until the VM's state satisfies `ok`. */
async function waitState(
  domain: Domain,
  ok: (s: { state: string; reason: number }) => boolean,
): Promise<{ state: string; reason: number }> {
  const deadline = Date.now() + BOOT_TIMEOUT_MS;
  for (;;) {
    const s = await domain.state();
    if (ok(s)) return s;
    if (Date.now() > deadline) throw new Error(`VM state stayed ${s.state} (${s.reason})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

before(async () => {
  conn = await Connection.open('qemu:///system');
  repoDir = await initPlainRepo();
  guest = await TinyGuest.launch(conn, { name: testName('run-src') });
  await guest.console.run(
    'echo penting > /data/testfile_awal.txt; dd if=/dev/urandom of=/data/blob bs=1M count=4 2>/dev/null; sync',
    BOOT_TIMEOUT_MS,
  );
  sums = await guest.console.run('md5sum /data/testfile_awal.txt /data/blob');
  const b = await cli(['backup', guest.domain.name, '--mode', 'cold'], env());
  assert.equal(b.code, 0, b.stderr);
  // The original stays defined (the copy's host access is judged against it) but not running.
  await guest.domain.destroy();
});

after(async () => {
  try {
    copyConsole?.close();
    const vm = await conn
      .lookupDomain(copyName)
      .catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
    if (vm) {
      if (await vm.isActive()) await vm.destroy();
      await vm.undefine(DomainUndefine.SNAPSHOTS_METADATA | DomainUndefine.CHECKPOINTS_METADATA);
    }
    await cli(['run', '--stop', copyName, '--force'], env());
    await cli(['run', '--stop', killedName, '--force'], env());
    if (server && isAlive(server)) process.kill(server.pid, 'SIGKILL');
  } finally {
    await guest?.dispose();
    await conn?.close();
    if (repoDir) await rm(repoDir, { recursive: true, force: true });
  }
});

describe('brankas run', () => {
  test('--dry-run shows the overlay XML and creates nothing; a name in use is refused', async () => {
    const d = await cli(['run', guest.domain.name, '--as', copyName, '--dry-run', '--json'], env());
    assert.equal(d.code, 0, d.stdout + d.stderr);
    const plan = JSON.parse(d.stdout);
    assert.equal(plan.vm, copyName);
    assert.match(plan.xml, /<source protocol="nbd"><host transport="unix" socket="[^"]+-vda.sock"/);
    assert.match(plan.xml, /error_policy="stop"/);
    assert.equal(existsSync(plan.disks[0].overlay), false);
    assert.equal(existsSync(plan.disks[0].socket), false);
    assert.deepEqual(JSON.parse((await cli(['run', '--list', '--json'], env())).stdout), []);
    await assert.rejects(conn.lookupDomain(copyName), (e: unknown) => isNotFound(e));

    const taken = await cli(['run', guest.domain.name, '--as', guest.domain.name, '--json'], env());
    assert.equal(taken.code, 1);
    assert.equal(JSON.parse(taken.stdout).error.code, 'RESTORE_VM_EXISTS');
  });

  test('a run killed right after starting its serving process leaves that process listed, and --stop stops it', async () => {
    // The real executable, killed with SIGKILL by its test hook between starting the serving
    // process and defining the VM: before, the record was written there, so nothing listed it.
    const child = spawn(
      process.execPath,
      [BRANKAS_MAIN, 'run', guest.domain.name, '--as', killedName],
      {
        env: {
          ...process.env,
          ...env(),
          BRANKAS_STATE_DIR: TEST_STATE_DIR,
          BRANKAS_TEST_KILL_AT: 'run:server-started',
        },
        stdio: 'ignore',
      },
    );
    const signal = await new Promise((r) => child.once('exit', (_code, sig) => r(sig)));
    assert.equal(signal, 'SIGKILL');
    const l = await cli(['run', '--list', '--json'], env());
    const row = JSON.parse(l.stdout).find((x: { vm: string }) => x.vm === killedName);
    assert.ok(row, `the run is listed: ${l.stdout}`);
    assert.equal(row.serverAlive, true);
    assert.equal(row.defined, false, 'killed before the VM was defined');
    const served = row.server as ProcessIdentity;
    assert.ok(isAlive(served));
    const s = await cli(['run', '--stop', killedName, '--json'], env());
    assert.equal(s.code, 0, s.stdout + s.stderr);
    // Its parent was killed: nothing may reap it at once, so a zombie counts as stopped.
    assert.equal(serverRunning(served), false, 'the serving process has stopped');
    assert.equal(existsSync(row.disks[0].socket), false, 'its socket is gone');
  });

  test('boots a new VM straight from the backup and the guest reads the files written before it', async () => {
    const r = await cli(['run', guest.domain.name, '--as', copyName, '--start', '--json'], env());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const result = JSON.parse(r.stdout);
    server = result.server;
    assert.equal(result.vm, copyName);
    assert.equal(result.started, true);
    assert.ok(isAlive(result.server), 'the serving process runs on after the command');
    copy = await conn.lookupDomain(copyName);
    assert.equal((await copy.state()).state, 'running');
    // The disk is an overlay whose backing store is the export, nothing copied.
    const xml = await copy.xml();
    assert.match(
      xml,
      /<backingStore type='network'[^>]*>\s*<format type='raw'\/>\s*<source protocol='nbd'/,
    );
    assert.ok(xml.includes(`socket='${result.disks[0].socket}'`));
    assert.ok(existsSync(result.disks[0].overlay));
    const sock = /<serial type='unix'>\s*<source mode='bind' path='([^']+)'/.exec(xml)?.[1];
    assert.ok(sock, 'the copy has a serial socket of its own');
    copyConsole = await SerialConsole.connect(sock!, { timeoutMs: 10_000 });
    await copyConsole.waitReady(BOOT_TIMEOUT_MS);
    assert.equal(await copyConsole.run('md5sum /data/testfile_awal.txt /data/blob'), sums);
  });

  test('--list shows it serving, and --stop is refused while the VM reads from the export', async () => {
    const l = await cli(['run', '--list', '--json'], env());
    assert.equal(l.code, 0, l.stderr);
    const row = JSON.parse(l.stdout).find((x: { vm: string }) => x.vm === copyName);
    assert.equal(row.state, 'serving');
    assert.equal(row.dependsOnExport, true);
    assert.equal(row.vmState, 'running');

    const s = await cli(['run', '--stop', copyName, '--json'], env());
    assert.equal(s.code, 1);
    assert.equal(JSON.parse(s.stdout).error.code, 'RUN_VM_DEPENDS');
    assert.ok(isAlive(server!), 'the serving process still runs');
  });

  test('the serving process killed: the VM pauses at its next read of the backup, --list says broken, --resume lets the read complete', async () => {
    process.kill(server!.pid, 'SIGKILL');
    const deadline = Date.now() + 60_000;
    while (isAlive(server!) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    // A read of blocks the VM has not read yet (page cache bypassed) must go to the export.
    const read = copyConsole!.exec(
      'dd if=/dev/vda of=/dev/null bs=64k count=16 skip=600 iflag=direct 2>/dev/null && echo read-ok',
      BOOT_TIMEOUT_MS,
    );
    const paused = await waitState(copy!, (s) => s.state === 'paused');
    assert.equal(paused.reason, 5, 'paused for an I/O error (VIR_DOMAIN_PAUSED_IOERROR)');

    const l = await cli(['run', '--list', '--json'], env());
    const row = JSON.parse(l.stdout).find((x: { vm: string }) => x.vm === copyName);
    assert.equal(row.state, 'broken');
    assert.equal(row.serverAlive, false);
    assert.equal(row.pausedForIoError, true);

    const r = await cli(['run', '--resume', copyName, '--json'], env());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const resumed = JSON.parse(r.stdout);
    assert.equal(resumed.resumedVm, true);
    server = (
      JSON.parse((await cli(['run', '--list', '--json'], env())).stdout) as {
        vm: string;
        server: ProcessIdentity;
      }[]
    ).find((x) => x.vm === copyName)!.server;
    assert.equal(server.pid, resumed.pid);
    const out = await read;
    assert.equal(out.exitCode, 0, out.output);
    assert.match(out.output, /read-ok/);
    assert.equal(await copyConsole!.run('cat /data/testfile_awal.txt'), 'penting\n');
  });

  test('--persist is refused while another job holds the VM', async () => {
    const lock = await VmLock.tryTake(TEST_STATE_DIR, copyName, 'backup');
    assert.ok(lock instanceof VmLock);
    try {
      const r = await cli(['run', '--persist', copyName, '--json'], env());
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.equal(JSON.parse(r.stdout).error.code, 'VM_BUSY');
    } finally {
      await lock.release();
    }
  });

  test('--persist moves the running VM onto a local disk equal to the backup plus its writes, and stops serving', async () => {
    await copyConsole!.run('echo sesudah > /data/after.txt; sync');
    const r = await cli(['run', '--persist', copyName, '--json'], env());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.live, true);
    const local = result.disks[0].path as string;
    assert.equal((await copy!.state()).state, 'running', 'the VM ran on through the copy');
    for (const xml of [await copy!.xml(), await copy!.xml(DomainXml.INACTIVE)]) {
      assert.ok(xml.includes(`<source file='${local}'`), xml);
      assert.doesNotMatch(xml, /protocol='nbd'/);
    }
    const info = JSON.parse(
      (await run('qemu-img', ['info', '-U', '--output=json', local])).stdout,
    ) as Record<string, unknown>;
    assert.equal(info['backing-filename'], undefined, 'the local disk stands alone');
    const deadline = Date.now() + 60_000;
    while (isAlive(server!) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(isAlive(server!), false, 'the serving process has stopped');
    // With the export gone, everything the guest reads comes from the local disk.
    await copyConsole!.run('echo 3 > /proc/sys/vm/drop_caches');
    assert.equal(await copyConsole!.run('md5sum /data/testfile_awal.txt /data/blob'), sums);
    assert.equal(await copyConsole!.run('cat /data/after.txt'), 'sesudah\n');
    assert.match(
      await copyConsole!.run(
        'dd if=/dev/vda of=/dev/null bs=64k count=16 skip=700 iflag=direct 2>/dev/null && echo read-ok',
      ),
      /read-ok/,
    );
    const l = JSON.parse((await cli(['run', '--list', '--json'], env())).stdout);
    assert.equal(l.find((x: { vm: string }) => x.vm === copyName).state, 'persisted');
    const s = await cli(['run', '--stop', copyName], env());
    assert.equal(s.code, 0, s.stderr);
  });
});
