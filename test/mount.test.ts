/**
 * `brankas mount` end to end: a qcow2 image made with qemu-img and qemu-io
 * (data at known offsets, holes, a zeroed range) is backed up into an
 * encrypted repository and served over NBD straight from it; real qemu-img,
 * nbdinfo (when installed) and the project's own NBD client read it back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { access, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openImage } from '../src/image/index.js';
import { NbdClient } from '../src/nbd/index.js';
import { LocalBackend } from '../src/repo/backend/local.js';
import { TEST_KDF } from '../src/repo/keys.js';
import { Repository } from '../src/repo/repository.js';
import { BackupWriter } from '../src/repo/writer.js';
import { mountBackup, type Mount } from '../src/engine/index.js';
import { TEST_PASSWORD } from '../src/repo/testing/support.js';

import { cli } from './support/cli.js';
import { BRANKAS_MAIN } from './support/main-path.js';

const run = promisify(execFile);
const MiB = 1 << 20;
const KiB = 1024;

let dir: string;
let image: string;
let original: Buffer;
let repoDir: string;
let repo: Repository;
let backupId: string;

/** [offset, length] of the data qemu-io writes; everything else reads as zeroes. */
const DATA: [number, number][] = [
  [0, MiB],
  [3 * MiB, 512 * KiB],
  [7 * MiB, 64 * KiB],
];

async function hasNbdinfo(): Promise<boolean> {
  try {
    await run('nbdinfo', ['--version']);
    return true;
  } catch {
    return false;
  }
}

const NBDINFO = await hasNbdinfo();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'brankas-test-mount-'));
  image = join(dir, 'disk.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', image, '8M']);
  await run('qemu-io', [
    '-f', 'qcow2',
    '-c', 'write -q -P 0xab 0 1M',
    '-c', 'write -q -P 0x5c 3M 512k',
    '-c', 'write -q -P 0x11 7M 64k',
    // Zeroes written: allocated in the image, a zero slot in the backup.
    '-c', 'write -q -z 5M 1M',
    image,
  ]); // prettier-ignore
  // Distinct bytes in every 4 KiB of the first MiB, so a misplaced read cannot pass.
  for (let i = 0; i < 256; i++) {
    await run('qemu-io', ['-f', 'qcow2', '-c', `write -q -P ${i} ${i * 4 * KiB} 512`, image]);
  }
  await run('qemu-img', ['convert', '-O', 'raw', image, join(dir, 'original.raw')]);
  original = await readFile(join(dir, 'original.raw'));

  repoDir = join(dir, 'repo');
  await Repository.init(new LocalBackend(repoDir), {
    password: TEST_PASSWORD,
    chunkSize: 64 * KiB,
    packSize: MiB,
    kdf: TEST_KDF,
  });
  repo = await Repository.open(new LocalBackend(repoDir), { password: TEST_PASSWORD });
  const w = await BackupWriter.start(repo, { vm: { name: 'mountvm' }, parent: null });
  const reader = await openImage(image);
  try {
    await w.addDisk({ name: 'vda', source: reader });
  } finally {
    await reader.close();
  }
  backupId = (await w.commit()).id;
  await writeFile(join(dir, 'password'), TEST_PASSWORD, { mode: 0o600 });
});

after(async () => {
  await repo?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('mountBackup', () => {
  let mount: Mount;
  const clientErrors: Error[] = [];

  before(async () => {
    mount = await mountBackup(repo, 'mountvm', { onClientError: (e) => clientErrors.push(e) });
  });
  after(() => mount?.close());

  test('serves the newest backup of a VM on a socket in a private directory', async () => {
    assert.equal(mount.backup, backupId);
    assert.equal(mount.disk, 'vda');
    assert.equal(mount.virtualSize, 8 * MiB);
    assert.ok('socketPath' in mount.address);
    const st = await stat(join(mount.address.socketPath, '..'));
    assert.equal(st.mode & 0o777, 0o700);
    assert.match(mount.uri, /^nbd\+unix:\/\/\/\?socket=\//);
  });

  test('qemu-img info reads its size and qemu-img compare finds it identical to the original', async () => {
    const info = JSON.parse((await run('qemu-img', ['info', '--output=json', mount.uri])).stdout);
    assert.equal(info['virtual-size'], 8 * MiB);
    const cmp = await run('qemu-img', ['compare', '-f', 'qcow2', image, mount.uri]);
    assert.match(cmp.stdout, /Images are identical/);
  });

  test('qemu-img convert copies it whole from the NBD URI', async () => {
    const out = join(dir, 'converted.raw');
    await run('qemu-img', ['convert', '-O', 'raw', mount.uri, out]);
    assert.ok((await readFile(out)).equals(original));
  });

  test('qemu-img map sees data only where data was written: holes stay holes', async () => {
    const map = JSON.parse((await run('qemu-img', ['map', '--output=json', mount.uri])).stdout) as {
      start: number;
      length: number;
      data: boolean;
      zero: boolean;
    }[];
    const data = map.filter((e) => e.data).map((e) => [e.start, e.length]);
    assert.deepEqual(data, DATA);
    const holes = map.filter((e) => !e.data);
    assert.ok(holes.every((e) => e.zero));
    assert.equal(
      map.reduce((n, e) => n + e.length, 0),
      8 * MiB,
    );
  });

  test(
    'nbdinfo --map reports the same data and holes',
    { skip: !NBDINFO && 'nbdinfo is not installed (Debian package libnbd-bin)' },
    async () => {
      const { stdout } = await run('nbdinfo', ['--map', '--json', mount.uri]);
      const map = JSON.parse(stdout) as { offset: number; length: number; type: number }[];
      const data = map.filter((e) => e.type === 0).map((e) => [e.offset, e.length]);
      assert.deepEqual(data, DATA);
      assert.ok(map.filter((e) => e.type !== 0).every((e) => e.type === 3));
      const size = await run('nbdinfo', ['--size', mount.uri]);
      assert.equal(Number(size.stdout.trim()), 8 * MiB);
    },
  );

  test('8 connections reading at random offsets at once get the original bytes', async () => {
    const address = mount.address;
    const clients = await Promise.all(
      Array.from({ length: 8 }, () => NbdClient.connect({ ...address })),
    );
    try {
      await Promise.all(
        clients.map(async (c) => {
          const reads = Array.from({ length: 16 }, () => {
            const length = randomInt(1, 300 * KiB);
            const offset = randomInt(0, 8 * MiB - length);
            return c.read(offset, length).then((got) => {
              assert.ok(
                got.equals(original.subarray(offset, offset + length)),
                `read ${offset}+${length}`,
              );
            });
          });
          await Promise.all(reads);
        }),
      );
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  test('a client sending garbage is dropped and the server goes on serving', async () => {
    assert.ok('socketPath' in mount.address);
    const sock = net.connect(mount.address.socketPath);
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    sock.on('data', () => sock.write(Buffer.from('\0\0\0\x01this is not an NBD client at all..')));
    await closed;
    assert.equal(
      (clientErrors.at(-1) as { code?: string } | undefined)?.code,
      'NBD_CLIENT_MISBEHAVED',
    );
    const cmp = await run('qemu-img', [
      'compare',
      '-f',
      'raw',
      join(dir, 'original.raw'),
      mount.uri,
    ]);
    assert.match(cmp.stdout, /Images are identical/);
  });

  test('an unknown disk, an unknown backup and a non-loopback address are clear errors', async () => {
    await assert.rejects(mountBackup(repo, backupId, { disk: 'vdz' }), (e: Error) => {
      assert.equal((e as { code?: string }).code, 'MOUNT_DISK_NOT_FOUND');
      assert.deepEqual((e as { details?: unknown }).details, {
        backup: backupId,
        vm: 'mountvm',
        disk: 'vdz',
        disks: 'vda',
      });
      return true;
    });
    await assert.rejects(mountBackup(repo, 'no-such-vm'), { code: 'BACKUP_NOT_FOUND' });
    await assert.rejects(mountBackup(repo, backupId, { listen: { host: '0.0.0.0', port: 0 } }), {
      code: 'MOUNT_NOT_LOOPBACK',
    });
  });

  test('serves on a loopback TCP port and removes its socket and directory when closed', async () => {
    const tcp = await mountBackup(repo, backupId, { listen: { host: '127.0.0.1', port: 0 } });
    try {
      assert.match(tcp.uri, /^nbd:\/\/127\.0\.0\.1:\d+\/$/);
      const cmp = await run('qemu-img', [
        'compare',
        '-f',
        'raw',
        join(dir, 'original.raw'),
        tcp.uri,
      ]);
      assert.match(cmp.stdout, /Images are identical/);
    } finally {
      await tcp.close();
    }
    const unix = await mountBackup(repo, backupId);
    assert.ok('socketPath' in unix.address);
    const socket = unix.address.socketPath;
    await access(socket);
    await unix.close();
    await assert.rejects(access(socket), { code: 'ENOENT' });
    await assert.rejects(access(join(socket, '..')), { code: 'ENOENT' });
  });
});

describe('brankas mount', () => {
  test('serves until SIGTERM, prints the URI as JSON, then removes its socket', async () => {
    const pw = join(dir, 'password');
    const cliTmp = join(dir, 'cli-tmp');
    await mkdir(cliTmp);
    const child = spawn(
      process.execPath,
      [BRANKAS_MAIN, 'mount', 'mountvm', '--disk', 'vda', '--json'],
      {
        // Its private directory goes under the test's own, removed even if the test fails.
        env: {
          ...process.env,
          BRANKAS_REPO: repoDir,
          BRANKAS_PASSWORD_FILE: pw,
          LANG: 'C',
          TMPDIR: cliTmp,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          const nl = stdout.indexOf('\n');
          if (nl >= 0) resolve(stdout.slice(0, nl));
        });
        void exited.then((code) => reject(new Error(`mount exited ${code}: ${stderr}`)));
      });
      const m = JSON.parse(line) as { uri: string; socket: string; backup: string; disk: string };
      assert.equal(m.backup, backupId);
      assert.equal(m.disk, 'vda');
      await access(m.socket);
      const cmp = await run('qemu-img', ['compare', '-f', 'qcow2', image, m.uri]);
      assert.match(cmp.stdout, /Images are identical/);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
      await assert.rejects(access(m.socket), { code: 'ENOENT' });
      await assert.rejects(access(join(m.socket, '..')), { code: 'ENOENT' });
      assert.ok(m.socket.startsWith(cliTmp + '/'));
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    }
  });

  test('--socket with --port, a bad port and a public --host are usage mistakes or refused', async () => {
    const env = { BRANKAS_REPO: repoDir, BRANKAS_PASSWORD_FILE: join(dir, 'password') };
    const both = await cli(
      ['mount', 'mountvm', '--socket', join(dir, 'x.sock'), '--port', '1'],
      env,
    );
    assert.equal(both.code, 2);
    assert.equal((await cli(['mount', 'mountvm', '--port', '70000'], env)).code, 2);
    const pub = await cli(['mount', 'mountvm', '--port', '0', '--host', '0.0.0.0'], env);
    assert.equal(pub.code, 1);
    assert.match(pub.stderr, /loopback only/);
  });

  test('an unknown backup fails with exit code 1 and a clear message', async () => {
    const pw = join(dir, 'password');
    const r = await run(process.execPath, [BRANKAS_MAIN, 'mount', 'nothing-here'], {
      env: { ...process.env, BRANKAS_REPO: repoDir, BRANKAS_PASSWORD_FILE: pw, LANG: 'C' },
    }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no backup with id 'nothing-here'/);
  });
});
