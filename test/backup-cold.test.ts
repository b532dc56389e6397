/**
 * Cold backup end to end on real TCG guests: a running VM is shut down,
 * stored and started again; a shut-off VM stays off and its disk comes back
 * byte for byte from the repository; an unchanged VM's second backup adds
 * almost nothing; a guest that ignores ACPI hits the timeout (VM left
 * running, nothing recorded) unless --force-off-after-timeout.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection, readDomainXml } from '../src/libvirt/index.js';
import { TinyGuest } from '../src/engine/guest/tiny-guest.js';
import { openImage } from '../src/image/index.js';
import { LocalBackend } from '../src/repo/backend/local.js';
import { Repository } from '../src/repo/repository.js';
import { BackupDisk } from '../src/repo/reader.js';
import { testName } from './support/guest.js';
import { cli } from './support/cli.js';

let conn: Connection;
let repoDir: string;
let guest: TinyGuest;
const env = (): NodeJS.ProcessEnv => ({ BRANKAS_REPO: repoDir });

async function backupsOf(vm: string): Promise<{ id: string; dataBytes: number }[]> {
  const r = await cli(['backups', vm, '--json'], env());
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).backups;
}

before(async () => {
  conn = await Connection.open('qemu:///system');
  repoDir = await mkdtemp(join(tmpdir(), 'brankas-test-repo-'));
  await rm(repoDir, { recursive: true });
  const init = await cli(['repo', 'init', '--no-encryption'], env());
  assert.equal(init.code, 0, init.stderr);
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
    const r = await cli(['backup', guest.domain.name, '--json'], env());
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
    await guest.reattach(60_000);
    assert.equal(await guest.console.run('cat /data/testfile_awal.txt'), 'brankas\n');
  });

  test('a guest that ignores ACPI: timeout leaves it running and records nothing; force-off works', async () => {
    await guest.console.run('killall acpid; true');
    const before = (await backupsOf(guest.domain.name)).length;
    const r = await cli(['backup', guest.domain.name, '--shutdown-timeout', '3s', '--json'], env());
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.stdout).error.code, 'BACKUP_SHUTDOWN_TIMEOUT');
    assert.equal((await guest.domain.state()).state, 'running');
    assert.equal((await backupsOf(guest.domain.name)).length, before);

    const f = await cli(
      [
        'backup',
        guest.domain.name,
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

  test('a shut-off VM stays off; its disk reads back byte for byte; a second backup adds almost nothing', async () => {
    await guest.domain.destroy();
    const first = await cli(['backup', guest.domain.name, '--json'], env());
    assert.equal(first.code, 0, first.stderr);
    const r1 = JSON.parse(first.stdout);
    assert.equal(r1.power.action, 'none');
    assert.equal((await guest.domain.state()).state, 'shutoff');

    const second = await cli(['backup', guest.domain.name, '--json'], env());
    const r2 = JSON.parse(second.stdout);
    assert.ok(r2.newStoredBytes < 1024 * 1024, `second backup stored ${r2.newStoredBytes} bytes`);
    // Everything it read was already there: all of it deduplicated.
    assert.equal(r2.readBytes, r1.readBytes);
    assert.equal(r2.dedupBytes, r2.readBytes);
    // The one-line summary says the same in words.
    const text = await cli(['backup', guest.domain.name], env());
    assert.match(
      text.stdout,
      /read [\d.]+ \w+ of data, [\d.]+ \w+ of it already in the repository/,
    );

    const source = readDomainXml(await guest.domain.xml()).disks[0]!.source!;
    const image = await openImage(source);
    const repo = await Repository.open(new LocalBackend(repoDir));
    const backed = await BackupDisk.open(repo, r1.manifest.id, 'vda');
    try {
      assert.equal(backed.virtualSize, image.virtualSize);
      const step = 4 * 1024 * 1024;
      const a = createHash('sha256');
      const b = createHash('sha256');
      for (let off = 0; off < image.virtualSize; off += step) {
        const len = Math.min(step, image.virtualSize - off);
        a.update(await image.read(off, len));
        b.update(await backed.read(off, len));
      }
      assert.equal(b.digest('hex'), a.digest('hex'));
    } finally {
      await backed.close();
      await image.close();
      await repo.close();
    }
  });

  test('an unknown VM is a clear error', async () => {
    const r = await cli(['backup', 'brankas-test-nope', '--json'], env());
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.stdout).error.code, 'VM_NOT_FOUND');
  });
});
