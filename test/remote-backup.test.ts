/**
 * The remote data path through ssh to this machine itself (a private sshd on
 * 127.0.0.1, test/support/sshd.ts): a cold backup made through
 * `qemu+ssh://root@127.0.0.1:PORT/system` reads the disk through qemu-nbd
 * run over ssh and stores exactly what a local backup of the same VM stores;
 * ssh refusing the key and a vanished disk are one-line errors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  copyFile,
  chmod,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { Connection, DomainUndefine, type Domain } from '../src/libvirt/index.js';
import { LocalBackend } from '../src/repo/backend/local.js';
import { Repository } from '../src/repo/repository.js';
import { BackupDisk } from '../src/repo/reader.js';
import { openImage } from '../src/image/index.js';
import {
  ensureGuestImages,
  guestDomainXml,
  makeScratchDir,
  testName,
  type ScratchDir,
} from './support/guest.js';
import { cli, initPlainRepo } from './support/cli.js';
import { loggedSsh, type LoggedSsh } from './support/ssh-log.js';
import { TestSshd } from './support/sshd.js';
import { createHash } from 'node:crypto';

const run = promisify(execFile);
let conn: Connection;
let sshd: TestSshd;
let repoDir: string;
let scratch: ScratchDir;
let domain: Domain | undefined;
let disk: string;
let remoteBackupId: string | undefined;
const copyName = testName('remote-copy');
const env = (): NodeJS.ProcessEnv => ({ BRANKAS_REPO: repoDir });
/**
 * The ssh the URIs run (`command=`): the real one, each remote command line also logged, the
 * witness that work happened over ssh and not here (host and "remote" are the same machine).
 */
let ssh: LoggedSsh;
const sshUri = (key?: string): string => ssh.uri(key);
/** The remote command lines run since the last call. */
const sshCommands = (): Promise<string> => ssh.commands();

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

async function imageHash(path: string): Promise<string> {
  const img = await openImage(path);
  try {
    return await hashOf(img);
  } finally {
    await img.close();
  }
}

async function hashOf(d: { virtualSize: number; read(o: number, n: number): Promise<Buffer> }) {
  const h = createHash('sha256');
  for (let off = 0; off < d.virtualSize; off += 4 << 20) {
    h.update(await d.read(off, Math.min(4 << 20, d.virtualSize - off)));
  }
  return h.digest('hex');
}

async function contentHash(id: string, name: string): Promise<string> {
  const repo = await Repository.open(new LocalBackend(repoDir));
  try {
    const d = await BackupDisk.open(repo, id, name);
    try {
      return await hashOf(d);
    } finally {
      await d.close();
    }
  } finally {
    await repo.close();
  }
}

/** Directories the remote script makes (remote-qemu-nbd.ts): `/tmp/brankas-nbd-<16 hex>`. */
async function allRemoteExports(): Promise<string[]> {
  return (await readdir('/tmp')).filter((n) => /^brankas-nbd-[0-9a-f]{16}$/.test(n));
}

/** Those made since this file started: another run's (another test, a user's) are not ours. */
let exportsBefore: Set<string> = new Set();
async function remoteExports(): Promise<string[]> {
  return (await allRemoteExports()).filter((n) => !exportsBefore.has(n));
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
  ssh = await loggedSsh(sshd);
  conn = await Connection.open('qemu:///system');
  repoDir = await initPlainRepo();
  const images = await ensureGuestImages();
  exportsBefore = new Set(await allRemoteExports());
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
      // verify --boot asks a remote guest through its agent (its serial socket is over there).
      agent: true,
    }),
  );
});

after(async () => {
  try {
    const copy = await conn.lookupDomain(copyName).catch(() => undefined);
    if (copy && (await copy.isActive())) await copy.destroy();
    await copy
      ?.undefine(DomainUndefine.SNAPSHOTS_METADATA | DomainUndefine.CHECKPOINTS_METADATA)
      .catch(() => undefined);
    await domain
      ?.undefine(DomainUndefine.SNAPSHOTS_METADATA | DomainUndefine.CHECKPOINTS_METADATA)
      .catch(() => undefined);
    await conn?.close();
  } finally {
    await scratch?.remove();
    await sshd?.stop();
    if (repoDir) await rm(repoDir, { recursive: true, force: true });
  }
});

/** A second sshd whose sessions find every tool the remote side uses but `missing`. */
async function sshdWithout(missing: string): Promise<TestSshd> {
  const bin = join(sshd.dir, `bin-without-${missing}`);
  await mkdir(bin);
  const tools = ['sh', 'mkdir', 'rm', 'cat', 'sleep', 'kill', 'qemu-img', 'qemu-nbd', 'stat', 'nc'];
  for (const tool of [...tools, 'virt-ssh-helper'].filter((t) => t !== missing)) {
    const { stdout } = await run('sh', ['-c', `command -v ${tool}`]);
    // `kill` is the shell's own: none to link.
    if (stdout.trim().startsWith('/')) await symlink(stdout.trim(), join(bin, tool));
  }
  return TestSshd.start({ extraConfig: [`SetEnv PATH=${bin}`] });
}

describe('remote cold backup over ssh', () => {
  test('a cold backup through qemu+ssh:// stores the same disk and boot files as a local one', async () => {
    await sshCommands();
    const remote = await backup(sshUri());
    remoteBackupId = remote.id;
    // The image's facts (qcow2 options below) came from the session that exported it: qemu-img
    // ran inside the qemu-nbd script, not in an ssh session (a login there) of its own.
    const sessions = await sshCommands();
    assert.doesNotMatch(sessions, / -- \S+ qemu-img /);
    assert.match(sessions, /info=\$\(qemu-img /);
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

  test('the boot files of a remote VM are asked for at once, not one session after the other', async () => {
    // An ssh that holds each boot-file session (`stat` then `cat`) until the other one has
    // started too; a reader that waits for the first to end before it starts the second gives
    // up the wait (a deadline, written down) and is caught below.
    const dir = join(sshd.dir, 'boot-barrier');
    await mkdir(dir);
    const wrapper = join(sshd.dir, 'ssh-boot-barrier');
    await writeFile(
      wrapper,
      [
        '#!/bin/sh',
        'case "$*" in *"stat -L -c %a"*)',
        `  : > '${dir}/started.'$$`,
        '  n=0',
        `  while [ "$(ls '${dir}' | grep -c '^started')" -lt 2 ]; do`,
        '    n=$((n + 1))',
        `    [ $n -gt 600 ] && { echo "$*" >> '${dir}/gave-up'; break; }`,
        '    sleep 0.05',
        '  done;;',
        'esac',
        'exec ssh "$@"',
      ].join('\n') + '\n',
      { mode: 0o755 },
    );
    const uri = `qemu+ssh://root@127.0.0.1:${sshd.port}/system?keyfile=${sshd.clientKey}&known_hosts=${sshd.knownHosts}&command=${wrapper}`;
    const r = await backup(uri);
    assert.deepEqual(
      r.disks.map((d) => d.name),
      ['vda', 'boot-kernel', 'boot-initrd'],
    );
    assert.equal((await readdir(dir)).filter((n) => n.startsWith('started.')).length, 2);
    assert.equal(await readFile(join(dir, 'gave-up'), 'utf8').catch(() => ''), '');
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

  test('a restore as a new VM through qemu+ssh:// writes the disk there; it reads as the local restore does', async () => {
    assert.ok(remoteBackupId, 'the backup test ran first');
    const r = await cli(
      ['restore', remoteBackupId, '--as', copyName, '-c', sshUri(), '--json'],
      env(),
    );
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const restored = JSON.parse(r.stdout);
    const commands = await sshCommands();
    assert.match(commands, /qemu-img create -q -f qcow2 -o 'cluster_size=65536/, 'made over ssh');
    assert.match(commands, /qemu-nbd .*--discard=unmap/, 'written through a remote qemu-nbd');
    const path = join(scratch.path, `${copyName}-vda.qcow2`);
    assert.deepEqual(
      restored.disks.map((d: { path: string }) => d.path),
      [path],
    );
    // Defined on the connection's host, pointing at the file written there.
    const copy = await conn.lookupDomain(copyName);
    assert.match(await copy.xml(), new RegExp(`<source file='${path}'/>`));
    // The same content as a local restore of the same backup (the files differ: two writers).
    const localDir = await makeScratchDir('remote-local');
    try {
      const l = await cli(
        [
          'restore',
          remoteBackupId,
          '--disk',
          'vda',
          '--to',
          join(localDir.path, 'vda.qcow2'),
          '--json',
        ],
        env(),
      );
      assert.equal(l.code, 0, l.stderr + l.stdout);
      assert.equal(await imageHash(path), await imageHash(join(localDir.path, 'vda.qcow2')));
      assert.equal(await imageHash(path), await contentHash(remoteBackupId, 'vda'));
    } finally {
      await localDir.remove();
    }
    assert.deepEqual(await remoteExports(), []);
  });

  test('verify --boot through qemu+ssh:// boots the restore on that host and its agent answers', async () => {
    assert.ok(remoteBackupId, 'the backup test ran first');
    await sshCommands();
    const r = await cli(['verify', remoteBackupId, '--boot', '-c', sshUri(), '--json'], env());
    const commands = await sshCommands();
    assert.match(commands, /mktemp -d '\/var\/tmp\/brankas-verify-/, 'its scratch directory there');
    assert.match(commands, /qemu-nbd .*--read-only/, 'the restored disk read back over ssh');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const v = JSON.parse(r.stdout);
    assert.equal(v.passed, true, v.reason);
    assert.equal(v.booted, true);
    assert.equal(v.probe, 'agent');
    assert.equal(v.guestAnswered, true);
    assert.ok(
      v.disks.every((d: { restoredMatches: boolean | null }) => d.restoredMatches !== false),
    );
    assert.equal(v.disks.find((d: { disk: string }) => d.disk === 'vda').restoredMatches, true);
  });

  test('a host without qemu-img is backed up all the same, without the qcow2 options it would tell', async () => {
    const bare = await sshdWithout('qemu-img');
    try {
      const uri = `qemu+ssh://root@127.0.0.1:${bare.port}/system?keyfile=${bare.clientKey}&known_hosts=${bare.knownHosts}`;
      const r = await cli(['backup', scratch.name, '-c', uri, '--mode', 'cold', '--json'], env());
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const vda = (JSON.parse(r.stdout).manifest.disks as DiskRecord[])[0]!;
      assert.equal(vda.formatOptions['reader'], 'qemu-nbd-ssh');
      assert.equal(vda.format, 'qcow2', 'the format the domain XML names');
      assert.equal(vda.formatOptions['clusterSize'], undefined);
      assert.equal(
        await contentHash(JSON.parse(r.stdout).manifest.id, 'vda'),
        await contentHash(remoteBackupId!, 'vda'),
      );
      assert.equal((await domain!.state()).state, 'shutoff');
    } finally {
      await bare.stop();
    }
  });

  test('a host without qemu-nbd is QEMU_NBD_NOT_INSTALLED naming the host, and the VM is as it was', async () => {
    const bare = await sshdWithout('qemu-nbd');
    try {
      const uri = `qemu+ssh://root@127.0.0.1:${bare.port}/system?keyfile=${bare.clientKey}&known_hosts=${bare.knownHosts}`;
      const r = await cli(['backup', scratch.name, '-c', uri, '--mode', 'cold', '--json'], env());
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const e = JSON.parse(r.stdout).error;
      assert.equal(e.code, 'QEMU_NBD_NOT_INSTALLED');
      assert.match(e.message, /^qemu-nbd is not installed on root@127\.0\.0\.1:\d+/);
      assert.equal((await domain!.state()).state, 'shutoff');
    } finally {
      await bare.stop();
    }
  });
});
