/**
 * Cold backup end to end on real TCG guests: a running VM is shut down,
 * stored and started again; a shut-off VM stays off and its disk comes back
 * byte for byte from the repository; an unchanged VM's second backup reads
 * nothing and adds almost nothing, a changed disk is read again; a guest that ignores ACPI hits the timeout (VM left
 * running, nothing recorded) unless --force-off-after-timeout.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Connection, readDomainXml } from '../src/libvirt/index.js';
import { TinyGuest } from '../src/engine/guest/tiny-guest.js';
import { openImage } from '../src/image/index.js';
import { LocalBackend } from '../src/repo/backend/local.js';
import { Repository } from '../src/repo/repository.js';
import { BackupDisk } from '../src/repo/reader.js';
import { BOOT_TIMEOUT_MS, testName } from './support/guest.js';
import { cli, initPlainRepo } from './support/cli.js';

let conn: Connection;
let repoDir: string;
let guest: TinyGuest;
const env = (): NodeJS.ProcessEnv => ({ BRANKAS_REPO: repoDir });

const run = promisify(execFile);

async function hashOf(r: { virtualSize: number; read(o: number, n: number): Promise<Buffer> }) {
  const h = createHash('sha256');
  const step = 4 * 1024 * 1024;
  for (let off = 0; off < r.virtualSize; off += step) {
    h.update(await r.read(off, Math.min(step, r.virtualSize - off)));
  }
  return h.digest('hex');
}

async function imageHash(path: string): Promise<string> {
  const image = await openImage(path);
  try {
    return await hashOf(image);
  } finally {
    await image.close();
  }
}

async function backupHash(id: string): Promise<string> {
  const repo = await Repository.open(new LocalBackend(repoDir));
  try {
    const backed = await BackupDisk.open(repo, id, 'vda');
    try {
      return await hashOf(backed);
    } finally {
      await backed.close();
    }
  } finally {
    await repo.close();
  }
}

async function backupsOf(vm: string): Promise<{ id: string; dataBytes: number }[]> {
  const r = await cli(['backups', vm, '--json'], env());
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).backups;
}

before(async () => {
  conn = await Connection.open('qemu:///system');
  repoDir = await initPlainRepo();
  guest = await TinyGuest.launch(conn, { name: testName('backup') });
});

after(async () => {
  await guest?.dispose();
  await conn?.close();
  if (repoDir) await rm(repoDir, { recursive: true, force: true });
});

describe('cold backup', () => {
  test('a running VM is shut down, stored, and started again', async () => {
    await guest.console.run('echo brankas > /data/testfile_awal.txt; sync');
    const r = await cli(['backup', guest.domain.name, '--mode', 'cold', '--json'], env());
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.power.initial, 'running');
    assert.equal(result.power.action, 'shutdown');
    assert.deepEqual(
      result.manifest.disks.map((d: { name: string }) => d.name),
      ['vda', 'boot-kernel', 'boot-initrd'],
    );
    const vda = result.manifest.disks[0];
    assert.equal(vda.format, 'qcow2');
    assert.equal(vda.formatOptions.clusterSize, 65536);
    assert.match(result.manifest.domainXml, new RegExp(`<name>${guest.domain.name}</name>`));
    assert.equal((await guest.domain.state()).state, 'running');
    await guest.reattach(BOOT_TIMEOUT_MS);
    assert.equal(await guest.console.run('cat /data/testfile_awal.txt'), 'brankas\n');
  });

  test('a guest that ignores ACPI: timeout leaves it running and records nothing; force-off works', async () => {
    await guest.console.run('killall acpid; true');
    const before = (await backupsOf(guest.domain.name)).length;
    const r = await cli(
      ['backup', guest.domain.name, '--mode', 'cold', '--shutdown-timeout', '3s', '--json'],
      env(),
    );
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.stdout).error.code, 'BACKUP_SHUTDOWN_TIMEOUT');
    assert.equal((await guest.domain.state()).state, 'running');
    assert.equal((await backupsOf(guest.domain.name)).length, before);

    const f = await cli(
      [
        'backup',
        guest.domain.name,
        '--mode',
        'cold',
        '--shutdown-timeout',
        '3s',
        '--force-off-after-timeout',
        '--json',
      ],
      env(),
    );
    assert.equal(f.code, 0, f.stderr);
    assert.equal(JSON.parse(f.stdout).power.action, 'forced-off');
    assert.equal((await guest.domain.state()).state, 'running');
    assert.equal((await backupsOf(guest.domain.name)).length, before + 1);
  });

  test('a shut-off VM stays off and reads back byte for byte; an unchanged disk is not read again, a changed one is', async () => {
    await guest.domain.destroy();
    // libvirt relabels the disk as the VM stops; a file changed within a second of being looked
    // at is always read again (racy timestamps), so the files settle before the first backup.
    await sleep(1100);
    const first = await cli(['backup', guest.domain.name, '--json'], env());
    assert.equal(first.code, 0, first.stderr);
    const r1 = JSON.parse(first.stdout);
    assert.equal(r1.power.action, 'none');
    assert.equal((await guest.domain.state()).state, 'shutoff');
    // The disk was used (and relabelled by libvirt) since the first test's backup: read.
    assert.ok(!r1.unchangedDisks.includes('vda'), JSON.stringify(r1.unchangedDisks));

    // The first backup left a new bitmap in the image (docs/offline-incremental.md): the file
    // changed, but its bitmap says nothing was written: nothing is read, the image is not touched.
    await sleep(1100);
    const second = await cli(['backup', guest.domain.name, '--json'], env());
    const r2 = JSON.parse(second.stdout);
    assert.equal(r2.parent, r1.manifest.id);
    assert.deepEqual(
      r2.disks.map((d: { target: string; read: string }) => [d.target, d.read]),
      [['vda', 'incremental']],
    );
    assert.equal(r2.readBytes, 0);
    assert.ok(r2.newStoredBytes < 1024 * 1024, `second backup stored ${r2.newStoredBytes} bytes`);

    // Nothing touched the files since: nothing is read, everything is taken over.
    const third = await cli(['backup', guest.domain.name, '--json'], env());
    const r3 = JSON.parse(third.stdout);
    assert.equal(r3.parent, r2.manifest.id);
    assert.ok(r3.unchangedDisks.includes('vda'), JSON.stringify(r3.unchangedDisks));
    assert.equal(r3.readBytes, 0);
    // All of the VM's data (disk and boot files), taken over without reading.
    const all = r3.unchangedBytes;
    assert.ok(all > 1024 * 1024, `unchanged ${all}`);
    const text = await cli(['backup', guest.domain.name], env());
    assert.match(text.stdout, /Unchanged since backup \S+ \(files not modified\): vda/);

    // --reread reads it all again: all of it already in the repository.
    const again = JSON.parse(
      (await cli(['backup', guest.domain.name, '--reread', '--json'], env())).stdout,
    );
    assert.deepEqual(again.unchangedDisks, []);
    assert.equal(again.readBytes, all);
    assert.equal(again.dedupBytes, again.readBytes);

    // The backup made without reading holds the disk byte for byte.
    const source = readDomainXml(await guest.domain.xml()).disks[0]!.source!;
    assert.equal(await backupHash(r2.manifest.id), await imageHash(source));

    // A write to the file while the VM is off: read again, and the change is in the backup.
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 1M 64k', source]);
    const changed = JSON.parse((await cli(['backup', guest.domain.name, '--json'], env())).stdout);
    assert.ok(!changed.unchangedDisks.includes('vda'), JSON.stringify(changed.unchangedDisks));
    assert.ok(changed.readBytes > 0 && changed.newStoredBytes > 0);
    assert.equal(await backupHash(changed.manifest.id), await imageHash(source));
  });

  test('an unknown VM is a clear error', async () => {
    const r = await cli(['backup', 'brankas-test-nope', '--json'], env());
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.stdout).error.code, 'VM_NOT_FOUND');
  });
});
