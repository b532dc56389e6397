/**
 * The seed's snapshot story on a VM that is backed up live, end to end on a
 * real running TCG guest: snapshots beside the checkpoints keep backups
 * incremental; a revert retires brankas's checkpoints, says the next backup
 * reads whole, and that backup does so with its reason; a shut-off VM's
 * snapshots are taken and deleted the same way; another tool's checkpoint is
 * refused before anything changes, and `brankas status` says so. Then the
 * line after its checkpoints were touched by hand: a checkpoint deleted
 * (read whole), the VM undefined and defined again (checkpoint metadata gone,
 * bitmaps kept: redefined, still incremental). Each backup taken here is
 * restored and compared with the VM's disk at its backup point (the VM paused
 * across the backup, qemu-img compare against the disk).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Connection, DomainUndefine, DomainXml, type Domain } from '../src/libvirt/index.js';
import { TinyGuest } from '../src/engine/guest/tiny-guest.js';
import { testName } from './support/guest.js';
import { cli, initPlainRepo } from './support/cli.js';

const run = promisify(execFile);

let conn: Connection;
let guest: TinyGuest;
let vm: Domain;
let repoDir: string;
const env = (): NodeJS.ProcessEnv => ({ BRANKAS_REPO: repoDir });

interface Backup {
  manifest: { id: string };
  checkpoint: string;
  disks: { target: string; read: string; reason: string }[];
}

async function brankas(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const r = await cli(args, env());
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r;
}

async function checkpoints(): Promise<string[]> {
  return (await vm.listCheckpoints()).map((c) => c.name).sort();
}

/**
 * A live backup with the VM paused across it, restored and compared with the disk as it is at
 * the backup point; returns the backup and how vda was read.
 */
async function backupAndCompare(): Promise<{ backup: Backup; vda: [string, string] }> {
  await vm.suspend();
  try {
    const backup = JSON.parse((await brankas(['backup', vm.name, '--json'])).stdout) as Backup;
    const to = join(guest.dir, `restored-${backup.manifest.id}.qcow2`);
    try {
      await brankas(['restore', backup.manifest.id, '--disk', 'vda', '--to', to, '--json']);
      const disk = join(guest.dir, 'vda.qcow2');
      await run('qemu-img', ['compare', '-U', '-f', 'qcow2', '-F', 'qcow2', to, disk]);
    } finally {
      await rm(to, { force: true });
    }
    const d = backup.disks.find((x) => x.target === 'vda')!;
    return { backup, vda: [d.read, d.reason] };
  } finally {
    await vm.resume();
  }
}

async function write(name: string): Promise<void> {
  await guest.console.run(`dd if=/dev/urandom of=/data/${name} bs=64k count=8 2>/dev/null; sync`);
}

before(async () => {
  conn = await Connection.open('qemu:///system');
  repoDir = await initPlainRepo();
  guest = await TinyGuest.launch(conn, { name: testName('snapcp') });
  vm = guest.domain;
});

after(async () => {
  try {
    await guest?.dispose();
  } finally {
    await conn?.close();
    if (repoDir) await rm(repoDir, { recursive: true, force: true });
  }
});

describe('snapshots on a VM backed up live', () => {
  test('a snapshot beside the checkpoint leaves the next backup incremental and exact', async () => {
    await write('a');
    const first = await backupAndCompare();
    assert.deepEqual(first.vda, ['full', 'first']);
    const made = await brankas(['snapshot', 'create', vm.name, 's1', '--json']);
    assert.deepEqual(JSON.parse(made.stdout).retiredCheckpoints, []);
    assert.deepEqual(await checkpoints(), [first.backup.checkpoint]);
    await write('b');
    const next = await backupAndCompare();
    assert.deepEqual(next.vda, ['incremental', 'incremental']);
  });

  test('a revert retires the checkpoints and says so; the next backup reads whole, exact', async () => {
    await write('c');
    const cp = await checkpoints();
    assert.equal(cp.length, 1);
    const r = await brankas(['snapshot', 'revert', vm.name, 's1', '--yes']);
    assert.match(r.stderr, new RegExp(`has brankas checkpoints \\(${cp[0]}\\)`));
    assert.match(r.stderr, new RegExp(`Checkpoints retired: ${cp[0]}\\. The next backup`));
    assert.equal((await vm.state()).state, 'running');
    assert.deepEqual(await checkpoints(), []);
    await guest.reattach();
    // As at s1: what was written after it is gone.
    assert.equal(await guest.console.run('ls /data/b /data/c 2>/dev/null; echo end'), 'end\n');

    const after = await backupAndCompare();
    assert.deepEqual(after.vda, ['full', 'checkpoint-missing']);
    await write('d');
    const next = await backupAndCompare();
    assert.deepEqual(next.vda, ['incremental', 'incremental']);
  });

  test('the whole snapshot story works on a shut-off VM with checkpoints; it stays shut off', async () => {
    assert.equal((await checkpoints()).length, 1);
    // SIGTERM: QEMU stores its bitmaps in the qcow2 file as it exits.
    await vm.destroy();
    const made = await brankas(['snapshot', 'create', vm.name, 'off1', '--lang', 'id']);
    assert.match(
      made.stderr,
      /Checkpoint dipensiunkan: brankas-[0-9a-f]{8}-\d+\. Backup berikutnya/,
    );
    assert.equal((await vm.state()).state, 'shutoff');
    assert.deepEqual(await checkpoints(), []);
    const list = await brankas(['snapshot', 'list', vm.name]);
    assert.match(list.stdout, /off1 \*/);
    await brankas(['snapshot', 'revert', vm.name, 'off1', '--yes']);
    await brankas(['snapshot', 'delete', vm.name, 'off1']);
    assert.equal((await vm.state()).state, 'shutoff');
    await vm.start();
    await guest.reattach();
    const next = await backupAndCompare();
    assert.deepEqual(next.vda, ['full', 'checkpoint-missing']);
  });

  test('a shut-off VM with a saved memory state: refused, the saved state kept', async () => {
    const cp = await checkpoints();
    assert.equal(cp.length, 1);
    await run('virsh', ['-c', 'qemu:///system', 'managedsave', vm.name]);
    try {
      const r = await cli(['snapshot', 'create', vm.name, 'saved1', '--json'], env());
      assert.equal(r.code, 1);
      assert.equal(JSON.parse(r.stdout).error.code, 'SNAPSHOT_CHECKPOINTS_MANAGED_SAVE');
      assert.equal(await vm.hasManagedSaveImage(), true);
      assert.deepEqual(await checkpoints(), cp);
    } finally {
      await vm.start();
    }
    // Resumed from the saved state: the same shell, no boot.
    await guest.reattach();
    assert.equal(await guest.console.run('echo resumed'), 'resumed\n');
  });

  test("another tool's checkpoint: the revert is refused before anything changes, and status says so", async () => {
    await vm.createCheckpoint(
      `<domaincheckpoint><name>other-tool</name><disks><disk name='vda' checkpoint='bitmap'/></disks></domaincheckpoint>`,
    );
    try {
      const before = await checkpoints();
      const r = await cli(['snapshot', 'revert', vm.name, 's1', '--yes', '--json'], env());
      assert.equal(r.code, 1);
      const err = JSON.parse(r.stdout).error;
      assert.equal(err.code, 'SNAPSHOT_FOREIGN_CHECKPOINTS');
      assert.deepEqual(err.checkpoints, ['other-tool']);
      assert.deepEqual(await checkpoints(), before);
      assert.equal((await vm.state()).state, 'running');
      const status = await brankas(['status', vm.name]);
      assert.match(status.stdout, /checkpoints that brankas did not make \(other-tool\)/);
      const id = await cli(['snapshot', 'revert', vm.name, 's1', '--yes', '--lang', 'id'], env());
      assert.match(id.stderr, /bukan buatan brankas \(other-tool\)/);
    } finally {
      await (await vm.lookupCheckpoint('other-tool')).delete();
    }
  });

  test("a running VM's snapshot is listed and deleted beside its checkpoint, which stays", async () => {
    const cp = await checkpoints();
    assert.equal(cp.length, 1);
    const list = await brankas(['snapshot', 'list', vm.name]);
    assert.match(list.stdout, /s1/);
    await brankas(['snapshot', 'delete', vm.name, 's1']);
    assert.deepEqual(await checkpoints(), cp);
    assert.equal(await vm.snapshotCount(), 0);
  });
});

describe('the line after its checkpoints were touched by hand', () => {
  test('a checkpoint deleted by hand: read whole with the reason, exact; then incremental again', async () => {
    await write('e');
    const before = await backupAndCompare();
    await (await vm.lookupCheckpoint(before.backup.checkpoint)).delete();
    await write('f');
    const r = await backupAndCompare();
    assert.deepEqual(r.vda, ['full', 'checkpoint-missing']);
    await write('g');
    assert.deepEqual((await backupAndCompare()).vda, ['incremental', 'incremental']);
  });

  test('undefined and defined again: the checkpoint is redefined from its bitmap, incremental and exact', async () => {
    const [cp] = await checkpoints();
    const xml = await vm.xml(DomainXml.INACTIVE);
    // Stopped (SIGTERM: QEMU stores its bitmaps), undefined with its checkpoints' metadata,
    // defined and started again: libvirt knows no checkpoint, the qcow2 file keeps the bitmap.
    await vm.destroy();
    await vm.undefine(DomainUndefine.CHECKPOINTS_METADATA | DomainUndefine.SNAPSHOTS_METADATA);
    await conn.defineDomain(xml);
    assert.deepEqual(await checkpoints(), []);
    await vm.start();
    await guest.reattach();
    await write('h');
    const r = await backupAndCompare();
    assert.deepEqual(r.vda, ['incremental', 'incremental']);
    assert.equal((r.backup as unknown as { parentCheckpoint: string }).parentCheckpoint, cp);
    assert.deepEqual(await checkpoints(), [r.backup.checkpoint]);
  });
});
