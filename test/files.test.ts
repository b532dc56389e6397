/**
 * `brankas files` end to end: a tiny guest writes files onto three disks (ext4 on the whole
 * disk, ext4 in a GPT partition, vfat), a fourth disk starts like a LUKS volume; the VM is
 * backed up once (cold), and `files ls` and `files get` read the backup: ext4 with the host's
 * reader, vfat (and ext4 with --helper) through the helper VM. The guest's own sha256sum is the
 * witness for the bytes; the host's GNU tar reads `--tar`. One backup per file; each request
 * the helper answers boots one (two here).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, readlink, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Connection, type Domain } from '../src/libvirt/index.js';
import { ensureGuestImages, guestDomainXml } from '../src/engine/guest/tiny-guest.js';
import { ensureHelperImages } from '../src/engine/files/helper-vm.js';
import {
  BOOT_TIMEOUT_MS,
  makeScratchDir,
  READY_MARKER,
  SerialConsole,
  type ScratchDir,
} from './support/guest.js';
import { cli, initPlainRepo } from './support/cli.js';
import { removeDomain } from './support/guest-lab.js';
import { writeGpt } from '../src/engine/files/testing/gpt.js';

const run = promisify(execFile);
const MiB = 1 << 20;

let conn: Connection;
let repoDir: string;
let scratch: ScratchDir;
let domain: Domain | undefined;
/** The guest's `sha256sum` of each file it wrote, by path on the disk ('/docs/sub/big.bin'). */
const witness: Record<string, Record<string, string>> = {};
const env = (): NodeJS.ProcessEnv => ({ BRANKAS_REPO: repoDir });

async function sha256(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

/** The shell lines that write the same tree under `root` (`ext4`: with a symlink and owners). */
function writeTree(root: string, label: string, ext4: boolean): string {
  const d = `${root}/docs`;
  return [
    `mkdir -p ${d}/sub`,
    `echo 'hello from ${label}' > ${d}/hello.txt`,
    `head -c ${3 * MiB + 123} /dev/urandom > ${d}/sub/big.bin`,
    `touch -d '2021-03-04 05:06:08' ${d}/hello.txt`,
    ...(ext4
      ? [
          `ln -s hello.txt ${d}/link`,
          `ln -s /etc ${d}/out`,
          `chmod 0640 ${d}/hello.txt`,
          `chown 1234:2345 ${d}/hello.txt`,
          `printf 'x' > "${d}/$(printf 'new\\nline')"`,
        ]
      : []),
  ].join(' && ');
}

async function hashes(console: SerialConsole, root: string): Promise<Record<string, string>> {
  const out = await console.run(`cd ${root} && sha256sum docs/hello.txt docs/sub/big.bin; cd /`);
  const map: Record<string, string> = {};
  for (const line of out.trim().split('\n')) {
    const [hash, path] = line.trim().split(/\s+/);
    map[`/${path!}`] = hash!;
  }
  return map;
}

before(async () => {
  conn = await Connection.open('qemu:///system');
  repoDir = await initPlainRepo();
  scratch = await makeScratchDir('files');
  const images = await ensureGuestImages();
  const helper = await ensureHelperImages();
  // vfat's modules for the tiny guest (which loads only ext4's), from the helper's initramfs.
  const mods = join(scratch.path, 'mods');
  await mkdir(join(mods, 'm'), { recursive: true });
  const vfatMods = ['fat', 'vfat', 'nls_cp437', 'nls_iso8859_1', 'nls_utf8'];
  await run('sh', [
    '-c',
    `cd ${mods} && zcat ${helper.initrd} | cpio -id --quiet ${vfatMods.map((m) => `lib/modules/${m}.ko`).join(' ')} && mv lib/modules/*.ko m/ && rm -r lib`,
  ]);
  const disk = (n: string): string => join(scratch.path, `${n}.raw`);
  await writeFile(disk('vda'), '');
  await truncate(disk('vda'), 64 * MiB);
  await run('mkfs.ext4', [
    '-q',
    '-F',
    '-d',
    mods,
    '-E',
    'lazy_itable_init=0,lazy_journal_init=0',
    disk('vda'),
  ]);
  await writeFile(disk('vdb'), '');
  await truncate(disk('vdb'), 64 * MiB);
  const part = await writeGpt(disk('vdb'));
  await run('mkfs.ext4', [
    '-q',
    '-F',
    '-E',
    `offset=${part.offset}`,
    disk('vdb'),
    `${Math.floor(part.size / 4096) * 4}k`,
  ]);
  await writeFile(disk('vdc'), '');
  await truncate(disk('vdc'), 32 * MiB);
  await run('busybox', ['mkdosfs', disk('vdc')]);
  // A LUKS2 header's first bytes: brankas refuses it by its magic, before any VM boots.
  const luks = Buffer.alloc(8 * MiB);
  Buffer.from('LUKS\xba\xbe\x00\x02', 'latin1').copy(luks);
  await writeFile(disk('vdd'), luks);

  const serialSocket = join(scratch.path, 'console.sock');
  domain = await conn.defineDomain(
    guestDomainXml({
      name: scratch.name,
      kernel: images.kernel,
      initrd: images.initrd,
      disks: ['vda', 'vdb', 'vdc', 'vdd'].map((t) => ({
        path: disk(t),
        format: 'raw' as const,
        target: t,
      })),
      serialSocket,
    }),
  );
  await domain.start();
  const console = await SerialConsole.connect(serialSocket, { timeoutMs: 30_000 });
  try {
    await console.waitFor(READY_MARKER, BOOT_TIMEOUT_MS);
    await console.run(`cd /data/m && for m in ${vfatMods.join(' ')}; do insmod $m.ko; done; cd /`);
    await console.run(
      'mkdir -p /mnt/b /mnt/c && mount -t ext4 /dev/vdb1 /mnt/b && mount -t vfat -o iocharset=utf8 /dev/vdc /mnt/c',
    );
    await console.run(writeTree('/data', 'ext4', true), 120_000);
    await console.run(writeTree('/mnt/b', 'gpt', true), 120_000);
    await console.run(writeTree('/mnt/c', 'vfat', false), 120_000);
    witness['vda'] = await hashes(console, '/data');
    witness['vdb'] = await hashes(console, '/mnt/b');
    witness['vdc'] = await hashes(console, '/mnt/c');
    await console.run('rm -r /data/m /data/lost+found; sync; umount /mnt/b /mnt/c; sync');
  } finally {
    console.close();
  }
  await domain.shutdown();
  const deadline = Date.now() + BOOT_TIMEOUT_MS;
  while ((await domain.state()).state !== 'shutoff') {
    if (Date.now() > deadline) throw new Error('the guest did not power off');
    await new Promise((r) => setTimeout(r, 200));
  }
  const b = await cli(['backup', scratch.name, '--mode', 'cold', '--json'], env());
  assert.equal(b.code, 0, b.stderr);
});

after(async () => {
  if (domain) await removeDomain(domain);
  await conn?.close();
  await scratch?.remove();
  if (repoDir) await rm(repoDir, { recursive: true, force: true });
});

async function files(
  args: string[],
): Promise<{ code: number; json: Record<string, unknown>; stderr: string }> {
  const r = await cli(['files', scratch.name, ...args, '--json'], env());
  return {
    code: r.code,
    json: r.stdout ? (JSON.parse(r.stdout) as Record<string, unknown>) : {},
    stderr: r.stderr,
  };
}

interface Entry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: string;
  target?: string;
}

describe('brankas files on ext4 (whole disk)', () => {
  test('ls shows the entries with types, sizes, modes, owners, times, link targets and a name with a newline', async () => {
    const r = await files(['ls', '/docs']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json['volume'], '/');
    assert.equal(r.json['fs'], 'ext4');
    assert.equal(r.json['reader'], 'host');
    const entries = r.json['entries'] as Entry[];
    assert.deepEqual(
      entries.map((e) => [e.name, e.type]),
      [
        ['hello.txt', 'file'],
        ['link', 'symlink'],
        ['new\nline', 'file'],
        ['out', 'symlink'],
        ['sub', 'dir'],
      ],
    );
    const hello = entries[0]!;
    assert.equal(hello.size, 'hello from ext4\n'.length);
    assert.equal(hello.mode, 0o640);
    assert.deepEqual([hello.uid, hello.gid], [1234, 2345]);
    assert.equal(hello.mtime, '2021-03-04T05:06:08.000Z');
    assert.equal(entries[1]!.target, 'hello.txt');
  });

  test('get --to returns the same bytes (sha256), the symlink, modes, owners and times', async () => {
    const to = join(scratch.path, 'out-ext4');
    const r = await files(['get', '/docs', '--to', to]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await sha256(join(to, 'docs/hello.txt')), witness['vda']!['/docs/hello.txt']);
    assert.equal(await sha256(join(to, 'docs/sub/big.bin')), witness['vda']!['/docs/sub/big.bin']);
    assert.ok((await lstat(join(to, 'docs/link'))).isSymbolicLink());
    assert.equal(await readlink(join(to, 'docs/link')), 'hello.txt');
    const st = await stat(join(to, 'docs/hello.txt'));
    assert.equal(st.mode & 0o7777, 0o640);
    assert.equal(st.mtime.toISOString(), '2021-03-04T05:06:08.000Z');
    if (process.getuid?.() === 0) assert.deepEqual([st.uid, st.gid], [1234, 2345]);
    assert.equal(await readFile(join(to, 'docs', 'new\nline'), 'utf8'), 'x');
  });

  test('--helper reads it with the helper VM, says so, and lists what the host reader lists (which notes itself)', async () => {
    const viaHelper = await files(['ls', '/docs', '--helper']);
    assert.equal(viaHelper.code, 0, viaHelper.stderr);
    assert.equal(viaHelper.json['reader'], 'helper-vm');
    assert.equal(viaHelper.json['helperReason'], 'forced');
    const onHost = await files(['ls', '/docs']);
    assert.deepEqual(viaHelper.json['entries'], onHost.json['entries']);
    const text = await cli(['files', scratch.name, 'ls', '/docs'], env());
    assert.match(text.stderr, /^reader: host /m);
  });

  test('a path that does not exist is FILES_PATH_NOT_FOUND, and nothing is left at --to', async () => {
    const to = join(scratch.path, 'out-missing');
    const r = await files(['get', '/docs/nope.txt', '--to', to]);
    assert.equal(r.code, 1);
    assert.equal((r.json['error'] as { code: string }).code, 'FILES_PATH_NOT_FOUND');
    await assert.rejects(lstat(to));
  });
  test('a path through a symlink that leads out of the filesystem is FILES_PATH_OUTSIDE', async () => {
    const r = await files(['get', '/docs/out/passwd', '--tar', join(scratch.path, 'out.tar')]);
    assert.equal(r.code, 1);
    assert.equal((r.json['error'] as { code: string }).code, 'FILES_PATH_OUTSIDE');
    await assert.rejects(lstat(join(scratch.path, 'out.tar')));
  });
});

describe('brankas files on a GPT disk (ext4 in partition 1)', () => {
  test('ls / shows the partitions and their filesystems without booting a helper', async () => {
    const r = await files(['ls', '/', '--disk', 'vdb']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json['table'], 'gpt');
    const entries = r.json['entries'] as (Entry & { fs: string })[];
    assert.deepEqual(
      entries.map((e) => [e.name, e.fs]),
      [['p1', 'ext4']],
    );
  });

  test('get --tar writes an archive GNU tar reads back with the same bytes and the symlink', async () => {
    const tar = join(scratch.path, 'gpt.tar');
    const r = await files(['get', '/p1/docs', '--tar', tar, '--disk', 'vdb']);
    assert.equal(r.code, 0, r.stderr);
    const out = join(scratch.path, 'out-gpt');
    await mkdir(out);
    await run('tar', ['-xf', tar, '-C', out]);
    assert.equal(await sha256(join(out, 'docs/sub/big.bin')), witness['vdb']!['/docs/sub/big.bin']);
    assert.equal(await readFile(join(out, 'docs/hello.txt'), 'utf8'), 'hello from gpt\n');
    assert.equal(await readlink(join(out, 'docs/link')), 'hello.txt');
  });

  test('a partition that does not exist is FILES_VOLUME_NOT_FOUND', async () => {
    const r = await files(['ls', '/p7/etc', '--disk', 'vdb']);
    assert.equal(r.code, 1);
    assert.equal((r.json['error'] as { code: string }).code, 'FILES_VOLUME_NOT_FOUND');
  });
});

describe('brankas files on vfat', () => {
  test('get --to returns the same bytes and the modification time (FAT keeps 2 s)', async () => {
    const to = join(scratch.path, 'out-vfat');
    const r = await files(['get', '/docs', '--to', to, '--disk', 'vdc']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json['reader'], 'helper-vm');
    assert.equal(await sha256(join(to, 'docs/sub/big.bin')), witness['vdc']!['/docs/sub/big.bin']);
    assert.equal(await sha256(join(to, 'docs/hello.txt')), witness['vdc']!['/docs/hello.txt']);
    assert.equal(
      (await stat(join(to, 'docs/hello.txt'))).mtime.toISOString(),
      '2021-03-04T05:06:08.000Z',
    );
  });
});

describe('brankas files refuses clearly, before any helper boots', () => {
  const code = (r: { json: Record<string, unknown> }): string =>
    (r.json['error'] as { code: string }).code;

  test('an encrypted (LUKS) volume is FILES_ENCRYPTED', async () => {
    const r = await files(['ls', '/', '--disk', 'vdd']);
    assert.equal(r.code, 1);
    assert.equal(code(r), 'FILES_ENCRYPTED');
  });

  test('an unknown disk is MOUNT_DISK_NOT_FOUND naming the disks there are', async () => {
    const r = await files(['ls', '/', '--disk', 'vdz']);
    assert.equal(r.code, 1);
    assert.equal(code(r), 'MOUNT_DISK_NOT_FOUND');
  });

  test('an unknown backup is an error, not a helper boot', async () => {
    const r = await cli(['files', 'no-such-vm-or-backup', 'ls', '--json'], env());
    assert.equal(r.code, 1);
    assert.match(JSON.parse(r.stdout).error.code, /NOT_FOUND/);
  });

  test("a path with '..' is FILES_PATH_OUTSIDE", async () => {
    const r = await files(['get', '/docs/../../etc/passwd', '--tar', join(scratch.path, 'x.tar')]);
    assert.equal(r.code, 1);
    assert.equal(code(r), 'FILES_PATH_OUTSIDE');
  });

  test('an existing destination is refused without --force', async () => {
    const to = join(scratch.path, 'exists');
    await mkdir(to);
    const r = await files(['get', '/docs', '--to', to]);
    assert.equal(r.code, 1);
    assert.equal(code(r), 'FILES_DEST_EXISTS');
    const t = await files([
      'get',
      '/docs',
      '--tar',
      join(scratch.path, 'gpt.tar'),
      '--disk',
      'vdb',
    ]);
    assert.equal(code(t), 'FILES_DEST_EXISTS');
  });
});
