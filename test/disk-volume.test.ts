/**
 * `disk info` and `volume create|list|delete` end to end against the real
 * libvirtd and qemu-img: a shut-off domain (never booted) whose disks are a
 * qcow2 with an internal snapshot, a raw file and a qcow2 overlay, each with a
 * known amount of data written by qemu-io; volumes in a dir pool of our own.
 * Everything is brankas-test-* and removed, also when a test fails.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Connection, DomainUndefine, type Domain, type StoragePool } from '../src/libvirt/index.js';
import {
  guestDomainXml,
  makeScratchDir,
  type GuestDisk,
  type ScratchDir,
} from './support/guest.js';
import { cli } from './support/cli.js';

const MiB = 1024 * 1024;

function qemuImg(...args: string[]): void {
  execFileSync('qemu-img', args, { stdio: 'pipe' });
}
function qemuIo(format: string, path: string, ...commands: string[]): void {
  execFileSync('qemu-io', ['-f', format, ...commands.flatMap((c) => ['-c', c]), path], {
    stdio: 'pipe',
  });
}
interface QemuImgInfo {
  format: string;
  'virtual-size': number;
  'actual-size': number;
  snapshots?: { name: string }[];
}
/** Bytes qemu-img map reports as data (every layer of the chain). */
function qemuMapData(path: string, format: string): number {
  const out = execFileSync('qemu-img', ['map', '-U', '-f', format, '--output=json', path]);
  const map = JSON.parse(out.toString()) as { length: number; data: boolean }[];
  return map.filter((e) => e.data).reduce((n, e) => n + e.length, 0);
}
function qemuImgInfo(path: string, format: string): QemuImgInfo {
  const out = execFileSync('qemu-img', ['info', '-U', '-f', format, '--output=json', path]);
  return JSON.parse(out.toString()) as QemuImgInfo;
}

let conn: Connection;
let scratch: ScratchDir;
before(async () => {
  conn = await Connection.open('qemu:///system');
  scratch = await makeScratchDir('disk');
});
after(async () => {
  await conn?.close();
  await scratch?.remove();
});

function defineVm(name: string, disks: GuestDisk[]) {
  // Never booted: the kernel and initrd need not exist. A CD-ROM without media rides along.
  const xml = guestDomainXml({
    name,
    kernel: join(scratch.path, 'vmlinux'),
    initrd: join(scratch.path, 'initrd.img'),
    disks,
    serialSocket: join(scratch.path, `${name}.sock`),
  }).replace(
    '    <serial',
    "    <disk type='file' device='cdrom'><target dev='sda' bus='sata'/><readonly/></disk>\n    <serial",
  );
  return conn.defineDomain(xml);
}

describe('disk info on a shut-off domain', () => {
  let vm: Domain | undefined;
  let broken: Domain | undefined;
  let qcow2: string;
  let raw: string;
  let overlay: string;
  before(async () => {
    qcow2 = join(scratch.path, 'vda.qcow2');
    raw = join(scratch.path, 'vdb.raw');
    overlay = join(scratch.path, 'vdc.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', qcow2, '1G');
    qemuIo('qcow2', qcow2, 'write -P 0x11 0 3M', 'write -P 0x22 512M 1M');
    qemuImg('snapshot', '-c', 'snap-awal', qcow2);
    qemuImg('create', '-q', '-f', 'raw', raw, '256M');
    qemuIo('raw', raw, 'write -P 0x33 1M 2M');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', qcow2, '-F', 'qcow2', overlay, '1G');
    qemuIo('qcow2', overlay, 'write -P 0x44 100M 1M', 'write -P 0x55 0 1M');
    vm = await defineVm(scratch.name, [
      { path: qcow2, format: 'qcow2', target: 'vda' },
      { path: raw, format: 'raw', target: 'vdb' },
      { path: overlay, format: 'qcow2', target: 'vdc' },
    ]);
    broken = await defineVm(`${scratch.name}-missing`, [
      { path: raw, format: 'raw', target: 'vda' },
      { path: join(scratch.path, 'gone.qcow2'), format: 'qcow2', target: 'vdb' },
    ]);
  });
  after(async () => {
    await vm
      ?.undefine(DomainUndefine.SNAPSHOTS_METADATA | DomainUndefine.CHECKPOINTS_METADATA)
      .catch(() => undefined);
    await broken?.undefine().catch(() => undefined);
  });

  test('every disk is measured four ways, matching qemu-img info, stat and the data written', async () => {
    const r = await cli(['disk', 'info', vm!.name, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.deepEqual(
      report.disks.map((d: { target: string }) => d.target),
      ['vda', 'vdb', 'vdc'],
    );
    assert.deepEqual(report.skipped, [{ target: 'sda', device: 'cdrom', reason: 'cdrom' }]);
    // What qemu-io wrote; qemu-img create also writes the first 4 KiB of a raw file
    // (so QEMU can probe its alignment later).
    const written = { vda: 4 * MiB, vdb: 2 * MiB + 4096, vdc: 4 * MiB + 1 * MiB };
    for (const d of report.disks) {
      const path = { vda: qcow2, vdb: raw, vdc: overlay }[d.target as 'vda']!;
      const q = qemuImgInfo(path, d.declaredFormat);
      const st = statSync(path);
      assert.equal(d.error, null, `${d.target}: ${JSON.stringify(d.error)}`);
      assert.equal(d.source, path);
      assert.equal(d.image.format, q.format);
      assert.equal(d.image.virtualSize, q['virtual-size']);
      assert.equal(d.image.apparentSize, st.size, `${d.target}: ls -l`);
      assert.equal(d.image.allocatedSize, st.blocks * 512, `${d.target}: du`);
      assert.equal(d.image.allocatedSize, q['actual-size'], `${d.target}: qemu-img actual-size`);
      assert.equal(d.image.dataWritten, written[d.target as 'vda'], `${d.target}: data written`);
      assert.equal(d.image.dataWritten, qemuMapData(path, d.declaredFormat), `${d.target}: map`);
      assert.equal(d.image.backupReads, d.image.dataWritten);
      assert.equal(d.image.reader, 'native');
    }
    const [vda, vdb, vdc] = report.disks;
    assert.deepEqual(
      vda.image.snapshots.map((s: { name: string }) => s.name),
      ['snap-awal'],
    );
    assert.deepEqual(
      qemuImgInfo(qcow2, 'qcow2').snapshots?.map((s) => s.name),
      ['snap-awal'],
    );
    assert.equal(vdb.image.apparentSize, 256 * MiB, 'a raw file is as long as its disk');
    assert.ok(vdb.image.allocatedSize < 8 * MiB, 'but takes only what was written (sparse)');
    assert.deepEqual(
      vdc.image.backingChain.map((l: { path: string; format: string }) => [l.path, l.format]),
      [[qcow2, 'qcow2']],
    );

    const text = await cli(['disk', 'info', vm!.name]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /WRITTEN = BACKUP READS/);
    assert.match(text.stdout, /vda: internal snapshots: snap-awal/);
    assert.match(text.stdout, new RegExp(`vdc: backing chain: ${qcow2}`));
    assert.match(text.stdout, /sda: skipped \(cdrom\)/);
    const id = await cli(['disk', 'info', vm!.name, '--lang', 'id']);
    assert.match(id.stdout, /TERISI = DIBACA BACKUP/);
  });

  test('a disk that cannot be read is reported with its error; the others are still measured', async () => {
    const r = await cli(['disk', 'info', broken!.name, '--json']);
    assert.equal(r.code, 1, r.stdout);
    const [ok, gone] = JSON.parse(r.stdout).disks;
    assert.equal(ok.image.dataWritten, 2 * MiB + 4096);
    assert.equal(gone.image, null);
    assert.equal(gone.error.code, 'IMAGE_NOT_FOUND');
    const text = await cli(['disk', 'info', broken!.name]);
    assert.match(text.stdout, /vdb \(.*gone\.qcow2\): cannot be measured/);
  });

  test('an image path is measured too; one the native reader declines goes through qemu-nbd', async () => {
    const one = await cli(['disk', 'info', raw, '--format', 'raw', '--json']);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(JSON.parse(one.stdout).dataWritten, 2 * MiB + 4096);

    const l2 = join(scratch.path, 'extended-l2.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'extended_l2=on', l2, '64M');
    qemuIo('qcow2', l2, 'write -P 0x66 8M 3M');
    const r = await cli(['disk', 'info', l2, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const facts = JSON.parse(r.stdout);
    assert.equal(facts.reader, 'qemu-nbd');
    assert.match(facts.fallbackReason, /extended L2|extended_l2|subcluster/i);
    assert.equal(facts.virtualSize, 64 * MiB);
    assert.equal(facts.dataWritten, 3 * MiB);
    assert.equal(facts.apparentSize, statSync(l2).size);
    const text = await cli(['disk', 'info', l2]);
    assert.match(text.stdout, /read by\s+qemu-nbd/);

    const missing = await cli(['disk', 'info', 'brankas-test-no-such-vm', '--json']);
    assert.equal(JSON.parse(missing.stdout).error.code, 'VM_NOT_FOUND');
  });
});

describe('volumes in a pool of our own', () => {
  let pool: StoragePool | undefined;
  let poolName: string;
  before(async () => {
    const dir = join(scratch.path, 'pool');
    mkdirSync(dir);
    poolName = `${scratch.name}-pool`;
    pool = await conn.createStoragePool(
      `<pool type='dir'><name>${poolName}</name><target><path>${dir}</path></target></pool>`,
    );
  });
  after(async () => {
    for (const v of (await pool?.listVolumes().catch(() => [])) ?? []) {
      await v.delete().catch(() => undefined);
    }
    await pool?.destroy().catch(() => undefined);
  });

  test('create, list and delete, as virsh vol-create-as makes them', async () => {
    const q = await cli([
      'volume',
      'create',
      poolName,
      'disk1.qcow2',
      '10G',
      '--format',
      'qcow2',
      '--json',
    ]);
    assert.equal(q.code, 0, q.stderr);
    const made = JSON.parse(q.stdout);
    assert.equal(made.capacity, 10 * 1024 * MiB);
    assert.equal(made.format, 'qcow2');
    assert.ok(made.allocation < MiB, 'a fresh qcow2 is thin');
    assert.equal(qemuImgInfo(made.path, 'qcow2')['virtual-size'], 10 * 1024 * MiB);

    const r = await cli(['volume', 'create', poolName, 'disk2.raw', '512M', '--format', 'raw']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Volume 'disk2\.raw' created/);
    const s = await cli([
      'volume',
      'create',
      poolName,
      'disk3.raw',
      '1.5M',
      '--format',
      'raw',
      '--allocation',
      '0',
      '--json',
    ]);
    const sparse = JSON.parse(s.stdout);
    assert.equal(sparse.capacity, 1.5 * MiB);
    assert.equal(statSync(sparse.path).blocks, 0, '--allocation 0 makes a sparse file');

    const list = await cli(['volume', 'list', poolName, '--json']);
    const vols = JSON.parse(list.stdout).volumes;
    assert.deepEqual(
      vols.map((v: { name: string; format: string }) => [v.name, v.format]),
      [
        ['disk1.qcow2', 'qcow2'],
        ['disk2.raw', 'raw'],
        ['disk3.raw', 'raw'],
      ],
    );
    const raw = vols[1];
    assert.equal(raw.capacity, 512 * MiB);
    assert.ok(raw.allocation >= 512 * MiB, 'like virsh, a raw volume is reserved in full');
    assert.equal(raw.path, join(scratch.path, 'pool', 'disk2.raw'));
    const text = await cli(['volume', 'list', poolName]);
    assert.match(text.stdout, /disk1\.qcow2\s+qcow2\s+10\.0 GiB/);

    const refused = await cli(['volume', 'delete', poolName, 'disk2.raw']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /--yes/);
    assert.ok(existsSync(raw.path), 'nothing deleted without --yes');
    const refusedId = await cli(['volume', 'delete', poolName, 'disk2.raw', '--lang', 'id']);
    assert.match(refusedId.stderr, /tambahkan --yes/);

    for (const name of ['disk1.qcow2', 'disk2.raw', 'disk3.raw']) {
      const d = await cli(['volume', 'delete', poolName, name, '--yes', '--json']);
      assert.equal(d.code, 0, d.stderr);
      assert.equal(JSON.parse(d.stdout).deleted.name, name);
    }
    assert.ok(!existsSync(raw.path));
    const empty = await cli(['volume', 'list', poolName]);
    assert.match(empty.stdout, /has no volumes/);
  });

  test('clear typed errors: unknown pool, existing volume, bad size, bad format, unknown volume', async () => {
    const code = async (...args: string[]): Promise<string> => {
      const r = await cli([...args, '--json']);
      assert.equal(r.code, 1, r.stdout);
      return JSON.parse(r.stdout).error.code as string;
    };
    const nopool = 'brankas-test-no-such-pool';
    assert.equal(
      await code('volume', 'create', nopool, 'a', '1G', '--format', 'raw'),
      'POOL_NOT_FOUND',
    );
    assert.equal(await code('volume', 'list', nopool), 'POOL_NOT_FOUND');
    assert.equal(
      await code('volume', 'create', poolName, 'a', '10Q', '--format', 'raw'),
      'VOLUME_BAD_SIZE',
    );
    assert.equal(
      await code('volume', 'create', poolName, 'a', '0', '--format', 'raw'),
      'VOLUME_BAD_SIZE',
    );
    assert.equal(
      await code('volume', 'create', poolName, 'a', '1G', '--format', 'vmdk'),
      'VOLUME_BAD_FORMAT',
    );
    assert.equal(
      await code('volume', 'create', poolName, 'a/b', '1G', '--format', 'raw'),
      'VOLUME_BAD_NAME',
    );
    assert.equal(await code('volume', 'delete', poolName, 'nothing', '--yes'), 'VOLUME_NOT_FOUND');

    const first = await cli([
      'volume',
      'create',
      poolName,
      'twice.qcow2',
      '1M',
      '--format',
      'qcow2',
    ]);
    assert.equal(first.code, 0, first.stderr);
    const path = join(scratch.path, 'pool', 'twice.qcow2');
    qemuIo('qcow2', path, 'write -P 0x77 0 64k');
    assert.equal(
      await code('volume', 'create', poolName, 'twice.qcow2', '2M', '--format', 'qcow2'),
      'VOLUME_EXISTS',
    );
    assert.equal(
      qemuImgInfo(path, 'qcow2')['virtual-size'],
      MiB,
      'the existing volume is untouched',
    );

    const id = await cli([
      'volume',
      'create',
      nopool,
      'a',
      '1G',
      '--format',
      'raw',
      '--lang',
      'id',
    ]);
    assert.match(id.stderr, /tidak ada storage pool bernama 'brankas-test-no-such-pool'/);
    const usage = await cli(['volume', 'create', poolName, 'a', '1G']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--format/);
  });
});
