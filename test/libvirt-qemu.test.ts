/**
 * The libvirt client against a real TCG guest on qemu:///system: lifecycle
 * and its events, disks, snapshots, checkpoints, backup jobs, the guest
 * agent's absence, and storage pools and volumes with data streams. The
 * guest is the tiny one built by scripts/build-guest.sh; everything is named
 * brankas-test-* and removed afterwards, also when a test fails.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  Connection,
  DomainShutdown,
  DomainUndefine,
  JobStats,
  LibvirtError,
  SnapshotDelete,
  isNotFound,
  readDomainXml,
  type Domain,
  type DomainEventMap,
} from '../src/libvirt/index.js';
import {
  ensureGuestImages,
  guestDomainXml,
  BOOT_TIMEOUT_MS,
  makeScratchDir,
  qemuWritableDir,
  SerialConsole,
  type ScratchDir,
} from './support/guest.js';

let conn: Connection;
let scratch: ScratchDir;
let vm: Domain;
let serialSocket: string;
const events: DomainEventMap['lifecycle'][] = [];

async function waitFor(check: () => Promise<boolean> | boolean, ms: number, what: string) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

async function bootAndConnect(): Promise<SerialConsole> {
  await vm.start();
  const console = await SerialConsole.connect(serialSocket, { timeoutMs: 10_000 });
  await console.waitReady(BOOT_TIMEOUT_MS);
  return console;
}

async function powerOff(): Promise<void> {
  if ((await vm.state()).state !== 'shutoff') await vm.destroy();
}

before(async () => {
  const images = await ensureGuestImages();
  scratch = await makeScratchDir('client');
  const disk = join(scratch.path, 'vda.qcow2');
  copyFileSync(images.baseDisk, disk);
  serialSocket = join(scratch.path, 'console.sock');
  conn = await Connection.open('qemu:///system');
  vm = await conn.defineDomain(
    guestDomainXml({
      name: scratch.name,
      kernel: images.kernel,
      initrd: images.initrd,
      disks: [{ path: disk, format: 'qcow2', target: 'vda' }],
      serialSocket,
    }),
  );
  await conn.onDomainEvent('lifecycle', (e) => events.push(e), vm);
});

after(async () => {
  try {
    // A define that timed out on our side may still have happened: find it by name.
    vm ??= await conn
      ?.lookupDomain(scratch?.name ?? '')
      .catch(() => undefined as unknown as Domain);
    if (vm) {
      await powerOff().catch(() => undefined);
      for (const c of await vm.listCheckpoints().catch(() => []))
        await c.delete(2).catch(() => undefined);
      await vm
        .undefine(DomainUndefine.SNAPSHOTS_METADATA | DomainUndefine.CHECKPOINTS_METADATA)
        .catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
    }
  } finally {
    await conn?.close();
    await scratch?.remove();
  }
});

describe('a real TCG guest', () => {
  test('starts, answers on its console, and its lifecycle events arrive for start and stop', async () => {
    const console = await bootAndConnect();
    try {
      assert.equal((await vm.state()).state, 'running');
      assert.equal(await vm.isActive(), true);
      assert.ok(vm.id > 0, 'a running domain has an id');
      const out = await console.run('touch /data/testfile_awal.txt; sync; ls /data');
      assert.match(out, /testfile_awal\.txt/);
      const info = await vm.info();
      assert.equal(info.vcpus, 1);
      const block = await vm.blockInfo('vda');
      assert.equal(block.capacity, 64n * 1024n * 1024n);
      assert.equal(await vm.blockJobInfo('vda'), null);
    } finally {
      console.close();
    }
    await vm.shutdown(DomainShutdown.ACPI_POWER_BTN);
    await waitFor(async () => (await vm.state()).state === 'shutoff', 120_000, 'ACPI power-off');
    await waitFor(() => events.some((e) => e.event === 'stopped'), 60_000, 'the stopped event');
    const kinds = events.map((e) => e.event);
    assert.ok(kinds.indexOf('started') < kinds.indexOf('stopped'), kinds.join(','));
    assert.ok(events.every((e) => e.domain.uuid === vm.uuid));
  });

  test('reads its XML with the disk and boot files', async () => {
    const facts = readDomainXml(await vm.xml());
    assert.equal(facts.name, vm.name);
    assert.deepEqual(
      facts.disks.map((d) => [d.target, d.format]),
      [['vda', 'qcow2']],
    );
    assert.deepEqual(
      facts.bootFiles.map((f) => f.kind),
      ['kernel', 'initrd'],
    );
  });

  test('internal snapshots: create, list, XML, current, parent, children, revert, delete', async () => {
    const s1 = await vm.createSnapshot('<domainsnapshot><name>snap-awal</name></domainsnapshot>');
    const s2 = await vm.createSnapshot('<domainsnapshot><name>snap-kedua</name></domainsnapshot>');
    assert.deepEqual((await vm.listSnapshots()).map((s) => s.name).sort(), [
      'snap-awal',
      'snap-kedua',
    ]);
    assert.match(await s1.xml(), /<state>shutoff<\/state>/);
    assert.equal((await vm.currentSnapshot())?.name, 'snap-kedua');
    assert.equal((await s2.parent())?.name, 'snap-awal');
    assert.deepEqual(
      (await s1.children()).map((s) => s.name),
      ['snap-kedua'],
    );
    await s1.revert();
    assert.equal(await s1.isCurrent(), true);
    // The qcow2 holds the snapshots: qemu-img, as a witness, sees them.
    const disk = readDomainXml(await vm.xml()).disks[0]!.source!;
    const listed = execFileSync('qemu-img', ['snapshot', '-l', '-U', disk]).toString();
    assert.match(listed, /snap-awal/);
    await s1.delete(SnapshotDelete.CHILDREN);
    assert.equal(await vm.snapshotCount(), 0);
  });

  test('while running: checkpoints, a pull-mode backup job, and agent calls without an agent', async () => {
    const console = await bootAndConnect();
    console.close();
    try {
      const cp = await vm.createCheckpoint(
        '<domaincheckpoint><name>cp-awal</name><disks><disk name="vda"/></disks></domaincheckpoint>',
      );
      assert.deepEqual(
        (await vm.listCheckpoints()).map((c) => c.name),
        ['cp-awal'],
      );
      assert.match(await cp.xml(), /<name>cp-awal<\/name>/);
      assert.equal((await vm.lookupCheckpoint('cp-awal')).name, 'cp-awal');
      await cp.delete();
      assert.deepEqual(await vm.listCheckpoints(), []);

      // No guest agent in the tiny guest: agent calls fail, typed.
      await assert.rejects(vm.fsFreeze(), (e: unknown) => e instanceof LibvirtError);
      await assert.rejects(
        vm.agentCommand('{"execute":"guest-ping"}', 2),
        (e: unknown) => e instanceof LibvirtError,
      );

      // QEMU binds this socket itself, as its own user: in a directory of that user's.
      const nbd = join(await qemuWritableDir(scratch.path, vm), 'backup-nbd.sock');
      await vm.backupBegin(
        `<domainbackup mode='pull'><server transport='unix' socket='${nbd}'/>` +
          `<disks><disk name='vda' backup='yes' type='file'><scratch file='${join(scratch.path, 'scratch.qcow2')}'/></disk></disks></domainbackup>`,
      );
      assert.match(await vm.backupXml(), /mode='pull'/);
      const info = await vm.jobInfo();
      assert.ok(info.type > 0, `a job runs (type ${info.type})`);
      const stats = await vm.jobStats();
      assert.equal(typeof stats.stats['operation'], 'number');
      assert.ok(existsSync(nbd), 'the NBD export socket exists');
      const completed = new Promise<DomainEventMap['job-completed']>((resolve) => {
        void conn.onDomainEvent('job-completed', resolve, vm);
      });
      await vm.abortJob();
      const done = await completed;
      assert.equal(done.domain.name, vm.name);
      const last = await vm.jobStats(JobStats.COMPLETED);
      assert.ok(last.type >= 0);
    } finally {
      await powerOff();
    }
  });
});

describe('storage pools and volumes', () => {
  test('a dir pool: volumes created, read, uploaded, downloaded and deleted', async () => {
    const dir = join(scratch.path, 'pool');
    execFileSync('mkdir', ['-p', dir]);
    const pool = await conn.createStoragePool(
      `<pool type='dir'><name>${scratch.name}-pool</name><target><path>${dir}</path></target></pool>`,
    );
    try {
      assert.equal((await pool.info()).state, 'running');
      const q = await pool.createVolume(
        "<volume><name>disk1.qcow2</name><capacity unit='G'>10</capacity><target><format type='qcow2'/></target></volume>",
      );
      const r = await pool.createVolume(
        "<volume><name>disk2.raw</name><capacity unit='M'>8</capacity><target><format type='raw'/></target></volume>",
      );
      assert.equal((await q.info()).capacity, 10n * 1024n ** 3n);
      assert.ok((await q.info()).allocation < 1024n * 1024n, 'a fresh qcow2 is thin');
      assert.equal(await r.path(), join(dir, 'disk2.raw'));
      assert.deepEqual((await pool.listVolumes()).map((v) => v.name).sort(), [
        'disk1.qcow2',
        'disk2.raw',
      ]);

      const data = Buffer.alloc(3 * 256 * 1024 + 123, 0x5a);
      const up = await r.upload(0n, BigInt(data.length));
      up.write(data);
      await up.finish();
      const down = await r.download(0n, BigInt(data.length));
      const chunks: Buffer[] = [];
      for await (const item of down) if (item.kind === 'data') chunks.push(item.data);
      await down.finish();
      assert.ok(Buffer.concat(chunks).equals(data));

      await q.delete();
      await r.delete();
      assert.deepEqual(await pool.listVolumes(), []);
    } finally {
      await pool.destroy();
    }
  });
});
