/**
 * Restore end to end on a real TCG guest: the seed's disaster (files written,
 * cold backup, the original disk deleted, restore, boot: the files are back
 * with the same content), refusals without --force, and a copy restored
 * --as a new name running beside the original.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Connection, DomainUndefine, isNotFound, readDomainXml } from '../src/libvirt/index.js';
import { SerialConsole } from '../src/engine/guest/serial-console.js';
import { TinyGuest } from '../src/engine/guest/tiny-guest.js';
import { BOOT_TIMEOUT_MS, testName } from './support/guest.js';
import { cli, initPlainRepo } from './support/cli.js';

let conn: Connection;
let repoDir: string;
let guest: TinyGuest;
const copyName = testName('restored');
const env = (): NodeJS.ProcessEnv => ({ BRANKAS_REPO: repoDir });

before(async () => {
  conn = await Connection.open('qemu:///system');
  repoDir = await initPlainRepo();
  // With the QEMU guest agent's channel: verify --boot asks the restored guest through it.
  guest = await TinyGuest.launch(conn, { name: testName('disaster'), agent: true });
});

after(async () => {
  try {
    const copy = await conn
      .lookupDomain(copyName)
      .catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
    if (copy) {
      if (await copy.isActive()) await copy.destroy();
      await copy.undefine(DomainUndefine.SNAPSHOTS_METADATA | DomainUndefine.CHECKPOINTS_METADATA);
    }
  } finally {
    await guest?.dispose();
    await conn?.close();
    if (repoDir) await rm(repoDir, { recursive: true, force: true });
  }
});

describe('restore', () => {
  test("the seed's disaster: the disk is deleted, the restore boots with the files intact", async () => {
    const vm = guest.domain.name;
    await guest.console.run(
      'echo penting > /data/testfile_awal.txt; dd if=/dev/urandom of=/data/blob bs=1M count=4 2>/dev/null; sync',
      BOOT_TIMEOUT_MS,
    );
    const sums = await guest.console.run('md5sum /data/testfile_awal.txt /data/blob');
    const b = await cli(['backup', vm, '--mode', 'cold'], env());
    assert.equal(b.code, 0, b.stderr);

    // A save point as well: it lives inside the disk file.
    const snap = await cli(['snapshot', 'create', vm, 'sebelum-bencana'], env());
    assert.equal(snap.code, 0, snap.stderr);

    // Disaster: the host loses the disk file.
    await guest.domain.destroy();
    const disk = readDomainXml(await guest.domain.xml()).disks[0]!.source!;
    await unlink(disk);

    const refused = await cli(['restore', vm, '--json'], env());
    assert.equal(JSON.parse(refused.stdout).error.code, 'RESTORE_VM_EXISTS');

    const r = await cli(['restore', vm, '--force', '--start', '--json'], env());
    assert.equal(r.code, 0, r.stderr);
    // The snapshot died with the disk; its record is gone too, not left pointing at nothing.
    assert.deepEqual(JSON.parse(r.stdout).droppedSnapshots, ['sebelum-bencana']);
    assert.deepEqual(await guest.domain.listSnapshots(), []);
    assert.ok(existsSync(disk), 'the disk is back where it was');
    assert.equal((await guest.domain.state()).state, 'running');
    await guest.reattach(BOOT_TIMEOUT_MS);
    assert.equal(await guest.console.run('md5sum /data/testfile_awal.txt /data/blob'), sums);
  });

  test('a copy restored --as a new name runs beside the original', async () => {
    const r = await cli(
      ['restore', guest.domain.name, '--as', copyName, '--start', '--json'],
      env(),
    );
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.vm, copyName);
    const copy = await conn.lookupDomain(copyName);
    assert.notEqual(copy.uuid, guest.domain.uuid);
    assert.equal((await copy.state()).state, 'running');
    assert.equal((await guest.domain.state()).state, 'running');
    const facts = readDomainXml(await copy.xml());
    assert.notEqual(
      facts.disks[0]!.source,
      readDomainXml(await guest.domain.xml()).disks[0]!.source,
    );
    // The copy has its own console and the same files.
    const sock = /<source mode='bind' path='([^']+)'/.exec(await copy.xml())?.[1];
    assert.ok(sock, 'the copy has a serial socket');
    const console = await SerialConsole.connect(sock!, { timeoutMs: 10_000 });
    try {
      await console.waitReady(BOOT_TIMEOUT_MS);
      assert.equal(await console.run('cat /data/testfile_awal.txt'), 'penting\n');
    } finally {
      console.close();
    }
  });

  test('restoring over an existing file is refused, leaving the file and defining nothing', async () => {
    const name = testName('clash');
    const dir = join(guest.dir, 'clash');
    await mkdir(dir);
    const target = join(dir, `${name}-vda.qcow2`);
    await writeFile(target, 'precious');
    const r = await cli(['restore', guest.domain.name, '--as', name, '--to', dir, '--json'], env());
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.stdout).error.code, 'RESTORE_FILE_EXISTS');
    assert.equal(await readFile(target, 'utf8'), 'precious');
    await assert.rejects(conn.lookupDomain(name), (e: unknown) => isNotFound(e));
  });

  test('verify --boot passes for a good backup and is recorded; a corrupted chunk fails it, saying why', async () => {
    const vm = guest.domain.name;
    // A deep scratch directory: the guest's console socket must not go there (107-byte limit).
    const scratch = join(guest.dir, 'deep-scratch-'.padEnd(90, 'x'));
    await mkdir(scratch);
    const ok = await cli(['verify', vm, '--boot', '--scratch', scratch, '--json'], env());
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.deepEqual(await readdir(scratch), [], 'the scratch restore is removed');
    const result = JSON.parse(ok.stdout);
    assert.equal(result.passed, true);
    assert.equal(result.booted, true);
    assert.equal(
      result.probe,
      'agent',
      'asked through the guest agent (the serial probe is the demo test’s)',
    );
    assert.equal(result.guestAnswered, true);
    const compared = result.disks.filter(
      (d: { restoredMatches: boolean | null }) => d.restoredMatches !== null,
    );
    assert.deepEqual(
      compared.map((d: { disk: string; restoredMatches: boolean }) => [d.disk, d.restoredMatches]),
      [['vda', true]],
    );
    const listed = JSON.parse((await cli(['backups', vm, '--json'], env())).stdout).backups;
    assert.equal(listed.at(-1).verify.passed, true);

    // Flip one byte in the middle of every pack file (under data/): chunks no longer match their ids.
    const packs: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (dir.includes(`${repoDir}/data`)) packs.push(p);
      }
    };
    await walk(repoDir);
    assert.ok(packs.length > 0, 'the repository has pack files');
    for (const p of packs) {
      const buf = await readFile(p);
      const at = Math.floor(buf.length / 2);
      buf.writeUInt8(buf.readUInt8(at) ^ 0xff, at);
      await writeFile(p, buf);
    }
    const bad = await cli(['verify', vm, '--json'], env());
    assert.equal(bad.code, 1);
    const failed = JSON.parse(bad.stdout);
    assert.equal(failed.passed, false);
    assert.ok(failed.reason && failed.reason.length > 0, 'it says why');
  });
});
