/**
 * The remote data path through ssh to this machine itself (a private sshd on
 * 127.0.0.1, test/support/sshd.ts): a cold backup made through
 * `qemu+ssh://root@127.0.0.1:PORT/system` reads the disk through qemu-nbd
 * run over ssh and stores exactly what a local backup of the same VM stores;
 * ssh refusing the key and a vanished disk are one-line errors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, chmod, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Connection, DomainUndefine, type Domain } from '../src/libvirt/index.js';
import { LocalBackend } from '../src/repo/backend/local.js';
import { Repository } from '../src/repo/repository.js';
import { BackupDisk } from '../src/repo/reader.js';
import {
  ensureGuestImages,
  guestDomainXml,
  makeScratchDir,
  type ScratchDir,
} from './support/guest.js';
import { cli, initPlainRepo } from './support/cli.js';
import { TestSshd } from './support/sshd.js';
import { createHash } from 'node:crypto';

let conn: Connection;
let sshd: TestSshd;
let repoDir: string;
let scratch: ScratchDir;
let domain: Domain | undefined;
let disk: string;
const env = (): NodeJS.ProcessEnv => ({ BRANKAS_REPO: repoDir });
const sshUri = (key = sshd.clientKey): string =>
  `qemu+ssh://root@127.0.0.1:${sshd.port}/system?keyfile=${key}&known_hosts=${sshd.knownHosts}`;

interface DiskRecord {
  name: string;
  indexSha256: string;
  dataBytes: number;
  virtualSize: number;
  format: string;
  formatOptions: Record<string, unknown>;
}

async function backup(uri: string): Promise<{ id: string; disks: DiskRecord[] }> {
  const r = await cli(['backup', scratch.name, '-c', uri, '--mode', 'cold', '--json'], env());
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const m = JSON.parse(r.stdout).manifest;
  return { id: m.id, disks: m.disks };
}

async function contentHash(id: string, name: string): Promise<string> {
  const repo = await Repository.open(new LocalBackend(repoDir));
  try {
    const d = await BackupDisk.open(repo, id, name);
    try {
      const h = createHash('sha256');
      for (let off = 0; off < d.virtualSize; off += 4 << 20) {
        h.update(await d.read(off, Math.min(4 << 20, d.virtualSize - off)));
      }
      return h.digest('hex');
    } finally {
      await d.close();
    }
  } finally {
    await repo.close();
  }
}

/** Directories the remote script makes (remote-qemu-nbd.ts): `/tmp/brankas-nbd-<16 hex>`. */
async function remoteExports(): Promise<string[]> {
  return (await readdir('/tmp')).filter((n) => /^brankas-nbd-[0-9a-f]{16}$/.test(n));
}

/** qemu-nbd processes exporting `path`. */
async function qemuNbdsOf(path: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    const argv = cmd.split('\0');
    if (argv[0]?.endsWith('qemu-nbd') && argv.includes(path)) found.push(pid);
  }
  return found;
}

before(async () => {
  sshd = await TestSshd.start();
  conn = await Connection.open('qemu:///system');
  repoDir = await initPlainRepo();
  const images = await ensureGuestImages();
  scratch = await makeScratchDir('remote');
  disk = join(scratch.path, 'vda.qcow2');
  await copyFile(images.baseDisk, disk);
  await chmod(disk, 0o644);
  // Shut off: a cold backup of it needs no boot.
  domain = await conn.defineDomain(
    guestDomainXml({
      name: scratch.name,
      kernel: images.kernel,
      initrd: images.initrd,
      disks: [{ path: disk, format: 'qcow2', target: 'vda' }],
      serialSocket: join(scratch.path, 'console.sock'),
    }),
  );
});

after(async () => {
  try {
    await domain?.undefine(DomainUndefine.SNAPSHOTS_METADATA).catch(() => undefined);
    await conn?.close();
  } finally {
    await scratch?.remove();
    await sshd?.stop();
    if (repoDir) await rm(repoDir, { recursive: true, force: true });
  }
});

describe('remote cold backup over ssh', () => {
  test('a cold backup through qemu+ssh:// stores the same disk and boot files as a local one', async () => {
    const remote = await backup(sshUri());
    // The remote qemu-nbd and its directory went with the session.
    assert.deepEqual(await remoteExports(), []);
    assert.deepEqual(await qemuNbdsOf(disk), []);
    const local = await backup('qemu:///system');
    assert.deepEqual(
      remote.disks.map((d) => d.name),
      ['vda', 'boot-kernel', 'boot-initrd'],
    );
    const vda = remote.disks[0]!;
    assert.equal(vda.formatOptions['reader'], 'qemu-nbd-ssh');
    assert.equal(vda.format, 'qcow2');
    assert.equal(vda.formatOptions['clusterSize'], 65536);
    assert.equal(local.disks[0]!.formatOptions['reader'], 'native');
    for (const [i, r] of remote.disks.entries()) {
      const l = local.disks[i]!;
      assert.equal(r.name, l.name);
      assert.equal(r.virtualSize, l.virtualSize, r.name);
      assert.equal(r.dataBytes, l.dataBytes, r.name);
      assert.equal(
        await contentHash(remote.id, r.name),
        await contentHash(local.id, l.name),
        `${r.name} reads back the same`,
      );
    }
    // The boot files keep their permission bits.
    assert.equal(remote.disks[1]!.formatOptions['mode'], local.disks[1]!.formatOptions['mode']);
  });

  test('ssh refusing the key is one clear line naming the host', async () => {
    const r = await cli(
      ['backup', scratch.name, '-c', sshUri(join(sshd.dir, 'host_key')), '--json'],
      env(),
    );
    assert.equal(r.code, 1);
    const e = JSON.parse(r.stdout).error;
    assert.equal(e.code, 'SSH_FAILED');
    assert.match(e.message, /^ssh to root@127\.0\.0\.1:\d+ failed: .*refused the key/);
    assert.doesNotMatch(e.message, /\n/);
  });

  test('a remote disk path that vanished is QEMU_NBD_IMAGE_NOT_FOUND naming the path', async () => {
    const moved = `${disk}.away`;
    await rename(disk, moved);
    try {
      const r = await cli(
        ['backup', scratch.name, '-c', sshUri(), '--mode', 'cold', '--json'],
        env(),
      );
      assert.equal(r.code, 1, r.stdout);
      const e = JSON.parse(r.stdout).error;
      assert.equal(e.code, 'QEMU_NBD_IMAGE_NOT_FOUND');
      assert.match(
        e.message,
        new RegExp(`${disk.replace(/[.]/g, '\\.')} not found on root@127\\.0\\.0\\.1`),
      );
    } finally {
      await rename(moved, disk);
    }
  });
});
