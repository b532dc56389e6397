/**
 * Snapshot commands end to end against real TCG domains: a running qcow2
 * guest (internal snapshots with memory), a shut-off raw-disk domain (the
 * qcow2 guardrail, external disk-only snapshots and their limits), and the
 * seed's Experiment 1 as a lab. Everything is brankas-test-* and removed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Connection, DomainUndefine, readDomainXml, type Domain } from '../src/libvirt/index.js';
import { TinyGuest } from '../src/engine/guest/tiny-guest.js';
import {
  ensureGuestImages,
  guestDomainXml,
  makeScratchDir,
  testName,
  type ScratchDir,
} from './support/guest.js';
import { cli } from './support/cli.js';

let conn: Connection;
before(async () => {
  conn = await Connection.open('qemu:///system');
});
after(async () => {
  await conn?.close();
});

describe('a running qcow2 guest', () => {
  let guest: TinyGuest;
  before(async () => {
    guest = await TinyGuest.launch(conn, { name: testName('snap-run') });
  });
  after(async () => {
    await guest?.dispose();
  });

  test('create saves memory; list, info, revert --yes and delete work through the CLI', async () => {
    const vm = guest.domain.name;
    await guest.console.run('echo satu > /data/a.txt; sync');
    const made = await cli([
      'snapshot',
      'create',
      vm,
      'snap-awal',
      '--description',
      'Snapshot sebelum update',
      '--json',
    ]);
    assert.equal(made.code, 0, made.stderr);
    const snap = JSON.parse(made.stdout).snapshot;
    assert.equal(snap.memory, 'internal');
    assert.equal(snap.state, 'running');
    assert.equal(snap.location, 'internal');

    await guest.console.run('echo dua > /data/a.txt; sync');
    const list = await cli(['snapshot', 'list', vm]);
    assert.match(list.stdout, /snap-awal \*/);
    assert.match(list.stdout, /Snapshot sebelum update/);

    const noTty = await cli(['snapshot', 'revert', vm, 'snap-awal']);
    assert.equal(noTty.code, 1);
    assert.match(noTty.stderr, /--yes/);
    assert.equal(await guest.console.run('cat /data/a.txt'), 'dua\n', 'nothing was reverted');

    const rev = await cli(['snapshot', 'revert', vm, 'snap-awal', '--yes', '--safety-snapshot']);
    assert.equal(rev.code, 0, rev.stderr);
    assert.match(rev.stderr, /running: its present memory state/);
    await guest.reattach();
    assert.equal(await guest.console.run('cat /data/a.txt'), 'satu\n');
    assert.equal((await guest.domain.state()).state, 'running');

    const info = await cli(['snapshot', 'info', vm, 'snap-awal', '--json']);
    assert.equal(JSON.parse(info.stdout).children.length, 1, 'the safety snapshot hangs below');
    const refused = await cli(['snapshot', 'delete', vm, 'snap-awal']);
    assert.equal(refused.code, 1);
    const del = await cli(['snapshot', 'delete', vm, 'snap-awal', '--children']);
    assert.equal(del.code, 0, del.stderr);
    assert.equal(await guest.domain.snapshotCount(), 0);
  });

  test('status shows the snapshot and warns that it is not a backup', async () => {
    const vm = guest.domain.name;
    await cli(['snapshot', 'create', vm, 'one']);
    const st = await cli(['status', vm]);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /A snapshot is not a backup/);
    await cli(['snapshot', 'delete', vm, 'one']);
  });
});

describe('a shut-off domain with a raw disk', () => {
  let scratch: ScratchDir;
  let vm: Domain;
  let raw: string;
  before(async () => {
    const images = await ensureGuestImages();
    scratch = await makeScratchDir('snap-raw');
    raw = join(scratch.path, 'vda.raw');
    execFileSync('qemu-img', ['convert', '-O', 'raw', images.baseDisk, raw]);
    vm = await conn.defineDomain(
      guestDomainXml({
        name: scratch.name,
        kernel: images.kernel,
        initrd: images.initrd,
        disks: [{ path: raw, format: 'raw', target: 'vda' }],
        serialSocket: join(scratch.path, 'console.sock'),
      }),
    );
  });
  after(async () => {
    await vm
      ?.undefine(DomainUndefine.SNAPSHOTS_METADATA | DomainUndefine.CHECKPOINTS_METADATA)
      .catch(() => undefined);
    await scratch?.remove();
  });

  test('an internal snapshot is refused before libvirt is asked, naming the disk and format', async () => {
    const r = await cli(['snapshot', 'create', vm.name, 'snap-awal', '--json']);
    assert.equal(r.code, 1);
    const err = JSON.parse(r.stdout).error;
    assert.equal(err.code, 'SNAPSHOT_RAW_DISK');
    assert.equal(err.disk, 'vda');
    assert.equal(err.format, 'raw');
    assert.equal(await vm.snapshotCount(), 0);
  });

  test('an external disk-only snapshot works; revert and delete are refused safely; metadata-only delete keeps every file', async () => {
    const r = await cli(['snapshot', 'create', vm.name, 'ext1', '--disk-only', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const snap = JSON.parse(r.stdout).snapshot;
    assert.equal(snap.location, 'external');
    const overlay = snap.disks[0].source as string;
    assert.ok(existsSync(overlay), `overlay ${overlay} exists`);
    assert.equal(readDomainXml(await vm.xml()).disks[0]!.source, overlay);

    const rev = await cli(['snapshot', 'revert', vm.name, 'ext1', '--yes', '--json']);
    assert.equal(JSON.parse(rev.stdout).error.code, 'SNAPSHOT_EXTERNAL_UNSUPPORTED');
    const del = await cli(['snapshot', 'delete', vm.name, 'ext1', '--json']);
    assert.equal(JSON.parse(del.stdout).error.code, 'SNAPSHOT_EXTERNAL_UNSUPPORTED');

    const meta = await cli(['snapshot', 'delete', vm.name, 'ext1', '--metadata-only']);
    assert.equal(meta.code, 0, meta.stderr);
    assert.equal(await vm.snapshotCount(), 0);
    assert.ok(existsSync(raw) && existsSync(overlay), 'base image and overlay both kept');
    assert.equal(readDomainXml(await vm.xml()).disks[0]!.source, overlay);
  });
});

describe('Experiment 1 as a lab', () => {
  test('the snapshot lifecycle lab confirms the hypothesis and cleans up after itself', async () => {
    // Only the lab's own guest counts: other VMs on the host may come and go meanwhile.
    const labVms = async (): Promise<string[]> =>
      (await conn.listDomains()).map((d) => d.name).filter((n) => n.startsWith('brankas-lab-'));
    const before = await labVms();
    const r = await cli(['lab', 'snapshot-lifecycle', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.confirmed, true);
    assert.deepEqual(result.after, ['testfile_awal.txt']);
    assert.deepEqual(result.before.sort(), ['testfile_awal.txt', 'testfile_kedua.txt']);
    assert.deepEqual(await labVms(), before);
  });
});
