/**
 * The host's ext4 reader end to end: real ext2/3/4 images made with `mke2fs -d` from a source
 * tree (4 KiB and 1 KiB blocks, 64bit, extents and classic block maps, 128- and 256-byte
 * inodes, an htree directory, a sparse file, an unwritten extent), backed up into a
 * repository, read back with `files ls`/`get` on the host and compared file by file with the
 * source (sha256, mode, owners, mtime, link target); damaged images are typed errors.
 * No helper VM boots: the connection callback fails the test if it is asked for.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmod,
  chown,
  lstat,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  truncate,
  utimes,
  writeFile,
  lutimes,
  copyFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openImage } from '../../image/index.js';
import { LocalBackend } from '../../repo/backend/local.js';
import { TEST_KDF } from '../../repo/keys.js';
import { Repository } from '../../repo/repository.js';
import { TEST_PASSWORD } from '../../repo/testing/support.js';
import { BackupWriter } from '../../repo/writer.js';
import { errorCode } from '../../util/errors.js';
import { getFiles, listFiles } from './files.js';

const exec = promisify(execFile);
const MiB = 1 << 20;
const MTIME = new Date('2021-03-04T05:06:08Z');

let dir: string;
let repo: Repository;
const src = (): string => join(dir, 'src');
const noHelper = (): Promise<never> => Promise.reject(new Error('a helper VM was asked for'));

interface Variant {
  vm: string;
  mkfs: string[];
  extents: boolean;
}
const VARIANTS: Variant[] = [
  { vm: 'ext4', mkfs: ['-t', 'ext4', '-b', '4096'], extents: true },
  { vm: 'ext4-1k-64bit', mkfs: ['-t', 'ext4', '-b', '1024', '-O', '64bit'], extents: true },
  {
    vm: 'ext4-blockmap',
    mkfs: ['-t', 'ext4', '-b', '4096', '-O', '^extent,^64bit'],
    extents: false,
  },
  { vm: 'ext2-1k-128', mkfs: ['-t', 'ext2', '-b', '1024', '-I', '128'], extents: false },
];

async function makeTree(root: string): Promise<void> {
  await mkdir(join(root, 'sub/deep'), { recursive: true });
  await writeFile(join(root, 'hello.txt'), 'hello from the host reader\n');
  await chmod(join(root, 'hello.txt'), 0o640);
  await chown(join(root, 'hello.txt'), 1234, 2345);
  await writeFile(join(root, 'empty'), '');
  await writeFile(join(root, 'sub/deep/big.bin'), randomBytes(3 * MiB + 123));
  // Ten 4 KiB islands 1 MiB apart, then a hole to 12 MiB: holes, and more extents than
  // the inode holds (an extent tree of depth 1).
  const fh = await open(join(root, 'sparse.bin'), 'w');
  for (let i = 0; i < 10; i++) await fh.write(randomBytes(4096), 0, 4096, i * MiB);
  await fh.close();
  await truncate(join(root, 'sparse.bin'), 12 * MiB);
  await symlink('hello.txt', join(root, 'fast'));
  await symlink(`${'a'.repeat(150)}/x`, join(root, 'slow'));
  await symlink('/etc', join(root, 'out'));
  await symlink('sub/deep', join(root, 'in'));
  await writeFile(join(root, 'new\nline'), 'x');
  await writeFile(join(root, 'ünï.txt'), 'utf-8 name');
  await writeFile(join(root, 'setuid'), '#!/bin/sh\n');
  await chmod(join(root, 'setuid'), 0o4755);
  await mkdir(join(root, 'many'));
  for (let i = 0; i < 3000; i++) await writeFile(join(root, 'many', `f${i}`), '');
  await writeFile(join(root, 'prealloc'), '');
  for (const p of ['hello.txt', 'sub/deep/big.bin', 'sparse.bin', 'sub/deep', 'many']) {
    await utimes(join(root, p), MTIME, MTIME);
  }
  await lutimes(join(root, 'fast'), MTIME, MTIME);
}

function randomBytes(n: number): Buffer {
  const b = Buffer.alloc(n);
  let x = n;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

async function mkfs(image: string, v: Variant): Promise<void> {
  await writeFile(image, '');
  await truncate(image, 48 * MiB);
  await exec('mke2fs', ['-q', '-F', ...v.mkfs, '-d', src(), image]);
  // e2fsck -D indexes the big directory (an htree); exit 1 means "fixed", which is what -D does.
  await exec('e2fsck', ['-fyD', image]).catch((err: { code?: number }) => {
    if (err.code !== 1) throw err;
  });
  if (v.extents) {
    // Ten unwritten blocks under a 40 KiB size: read as zeros.
    await exec('debugfs', ['-w', '-R', 'fallocate /prealloc 0 9', image]);
    await exec('debugfs', ['-w', '-R', 'sif /prealloc size 40960', image]);
  }
}

async function backup(image: string, vm: string): Promise<string> {
  const w = await BackupWriter.start(repo, { vm: { name: vm }, parent: null });
  const img = await openImage(image, { format: 'raw' });
  try {
    await w.addDisk({ name: 'vda', source: img });
  } finally {
    await img.close();
  }
  return (await w.commit()).id;
}

async function sha256(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

/** Every path under `root`, relative, directories before their entries. */
async function walk(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(join(root, rel))).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    out.push(p);
    if ((await lstat(join(root, p))).isDirectory()) out.push(...(await walk(root, p)));
  }
  return out;
}

async function blockSize(image: string): Promise<number> {
  const { stdout } = await exec('dumpe2fs', ['-h', image]);
  return Number(/Block size:\s+(\d+)/.exec(stdout)![1]);
}

/** Debugfs' location of an inode: the byte offset of its bytes in the image. */
async function inodeOffset(image: string, path: string): Promise<number> {
  const { stdout } = await exec('debugfs', ['-R', `imap ${path}`, image]);
  const m = /located at block (\d+), offset (0x[0-9a-f]+)/.exec(stdout)!;
  return Number(m[1]) * (await blockSize(image)) + Number(m[2]);
}

async function patch(image: string, offset: number, bytes: Buffer): Promise<void> {
  const fh = await open(image, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, offset);
  } finally {
    await fh.close();
  }
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'brankas-test-ext4-'));
  await makeTree(src());
  const location = join(dir, 'repo');
  await Repository.init(new LocalBackend(location), {
    password: TEST_PASSWORD,
    chunkSize: 64 * 1024,
    kdf: TEST_KDF,
  });
  repo = await Repository.open(new LocalBackend(location), { password: TEST_PASSWORD });
  for (const v of VARIANTS) {
    const image = join(dir, `${v.vm}.raw`);
    await mkfs(image, v);
    await backup(image, v.vm);
  }
});

after(async () => {
  await repo?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

for (const v of VARIANTS) {
  describe(`the host reader on ${v.vm} (mke2fs ${v.mkfs.join(' ')})`, () => {
    test('get returns every file of the source with its bytes, mode, owners, mtime and link target', async () => {
      const to = join(dir, `out-${v.vm}`);
      // The big directory's 3000 files are extracted once (from the first variant): the other
      // variants read it in the ls test, which costs far less.
      const all = v === VARIANTS[0];
      const top = (await readdir(src())).filter((n) => all || n !== 'many');
      const r = await getFiles(noHelper, repo, v.vm, all ? ['/'] : top.map((n) => `/${n}`), {
        to,
      });
      assert.equal(r.reader, 'host');
      const want = (await walk(src())).filter((p) => all || !/^many(\/|$)/.test(p));
      for (const p of want) {
        const a = await lstat(join(src(), p));
        const b = await lstat(join(to, p));
        assert.equal(b.mode, a.mode, `${p}: mode`);
        if (p !== 'prealloc') assert.equal(b.size, a.size, `${p}: size`);
        if (!a.isDirectory() || p !== 'many') {
          assert.equal(Math.floor(b.mtimeMs / 1000), Math.floor(a.mtimeMs / 1000), `${p}: mtime`);
        }
        assert.deepEqual([b.uid, b.gid], [a.uid, a.gid], `${p}: owners`);
        if (a.isSymbolicLink()) {
          assert.equal(await readlink(join(to, p)), await readlink(join(src(), p)), p);
        } else if (a.isFile() && p !== 'prealloc') {
          assert.equal(await sha256(join(to, p)), await sha256(join(src(), p)), `${p}: sha256`);
        }
      }
      assert.deepEqual(
        (await walk(to)).filter((p) => !p.startsWith('lost+found')),
        want,
        'the same names, no more',
      );
      const pre = await readFile(join(to, 'prealloc'));
      assert.equal(pre.length, v.extents ? 40960 : 0);
      assert.ok(pre.every((b) => b === 0));
    });

    test('ls shows the entries of a directory with types, sizes, owners, times and targets', async () => {
      const l = await listFiles(noHelper, repo, v.vm, '/');
      assert.equal(l.reader, 'host');
      assert.equal(l.fs, 'ext4');
      const names = l.entries.map((e) => e.name);
      assert.deepEqual(names, [...(await readdir(src())), 'lost+found'].sort());
      const hello = l.entries.find((e) => e.name === 'hello.txt')!;
      assert.deepEqual(
        [hello.type, hello.mode, hello.uid, hello.gid, hello.size, hello.mtime],
        ['file', 0o640, 1234, 2345, 27, MTIME.toISOString()],
      );
      assert.equal(l.entries.find((e) => e.name === 'slow')!.target, `${'a'.repeat(150)}/x`);
      const many = await listFiles(noHelper, repo, v.vm, '/many');
      assert.equal(many.entries.length, 3000);
    });
  });
}

describe('the host reader follows paths as the helper does', () => {
  test('a symlink within the volume is followed on the way, and the last one is kept', async () => {
    const l = await listFiles(noHelper, repo, 'ext4', '/in/big.bin');
    assert.deepEqual(
      l.entries.map((e) => [e.name, e.size]),
      [['big.bin', 3 * MiB + 123]],
    );
    const tar = join(dir, 'fast.tar');
    await getFiles(noHelper, repo, 'ext4', ['/fast', '/in/big.bin'], { tar });
    const { stdout } = await exec('tar', ['-tvf', tar]);
    assert.match(stdout, /fast -> hello\.txt/);
    assert.match(stdout, / in\/big\.bin\n/);
  });

  test('a path through an absolute link is FILES_PATH_OUTSIDE, a missing one FILES_PATH_NOT_FOUND', async () => {
    await assert.rejects(listFiles(noHelper, repo, 'ext4', '/out/passwd'), (err) => {
      assert.equal(errorCode(err), 'FILES_PATH_OUTSIDE');
      return true;
    });
    const to = join(dir, 'out-missing');
    await assert.rejects(getFiles(noHelper, repo, 'ext4', ['/nope'], { to }), (err) => {
      assert.equal(errorCode(err), 'FILES_PATH_NOT_FOUND');
      return true;
    });
    await assert.rejects(lstat(to));
  });

  test('--tar writes an archive GNU tar reads back: long names, the newline name, the sparse file', async () => {
    const tar = join(dir, 'all.tar');
    const r = await getFiles(noHelper, repo, 'ext4-1k-64bit', ['/'], { tar });
    assert.equal(r.reader, 'host');
    const out = join(dir, 'gnu');
    await mkdir(out);
    await exec('tar', ['-xf', tar, '-C', out]);
    for (const p of ['sparse.bin', 'sub/deep/big.bin', 'new\nline', 'ünï.txt']) {
      assert.equal(await sha256(join(out, p)), await sha256(join(src(), p)), p);
    }
    assert.equal(await readlink(join(out, 'slow')), `${'a'.repeat(150)}/x`);
  });
});

describe('the host reader refuses a damaged or unknown filesystem with a typed error', () => {
  async function damaged(name: string, hurt: (image: string) => Promise<void>): Promise<void> {
    const image = join(dir, `${name}.raw`);
    await copyFile(join(dir, 'ext4.raw'), image);
    await hurt(image);
    await backup(image, name);
  }

  test('a superblock with an impossible block size is FS_CORRUPT', async () => {
    await damaged('bad-sb', (img) => patch(img, 1024 + 0x18, Buffer.from([30, 0, 0, 0])));
    await assert.rejects(listFiles(noHelper, repo, 'bad-sb', '/'), (err) => {
      assert.equal(errorCode(err), 'FS_CORRUPT');
      return true;
    });
  });

  test('an extent pointing past the filesystem is FS_CORRUPT and leaves nothing at --to', async () => {
    await damaged('bad-extent', async (img) => {
      const at = await inodeOffset(img, '/sub/deep/big.bin');
      // The first leaf entry's start (i_block + 12 header + 8): far past the end.
      await patch(img, at + 0x28 + 12 + 8, Buffer.from([0xf0, 0xff, 0xff, 0x0f]));
    });
    const to = join(dir, 'out-bad-extent');
    await assert.rejects(getFiles(noHelper, repo, 'bad-extent', ['/sub'], { to }), (err) => {
      assert.equal(errorCode(err), 'FS_CORRUPT');
      return true;
    });
    await assert.rejects(lstat(to));
  });

  test('an extent tree deeper than 5 is FS_CORRUPT', async () => {
    await damaged('bad-depth', async (img) => {
      const at = await inodeOffset(img, '/sparse.bin');
      await patch(img, at + 0x28 + 6, Buffer.from([9, 0]));
    });
    await assert.rejects(
      getFiles(noHelper, repo, 'bad-depth', ['/sparse.bin'], { tar: join(dir, 'd.tar') }),
      (err) => {
        assert.equal(errorCode(err), 'FS_CORRUPT');
        return true;
      },
    );
    await assert.rejects(lstat(join(dir, 'd.tar')));
    await assert.rejects(lstat(join(dir, 'd.tar.partial')));
  });

  test('a directory entry whose length runs past its block is FS_CORRUPT', async () => {
    await damaged('bad-dirent', async (img) => {
      const { stdout } = await exec('debugfs', ['-R', 'bmap /sub 0', img]);
      const block = Number(stdout.trim());
      // The '.' entry's rec_len: 2 bytes, at 4.
      await patch(img, block * (await blockSize(img)) + 4, Buffer.from([0xfc, 0x7f]));
    });
    await assert.rejects(listFiles(noHelper, repo, 'bad-dirent', '/sub'), (err) => {
      assert.equal(errorCode(err), 'FS_CORRUPT');
      return true;
    });
  });

  test('a feature the host reader lacks (inline_data) sends the volume to the helper VM', async () => {
    const image = join(dir, 'inline.raw');
    await writeFile(image, '');
    await truncate(image, 16 * MiB);
    await exec('mke2fs', ['-q', '-F', '-t', 'ext4', '-O', 'inline_data', image]);
    await backup(image, 'inline');
    const asked = new Error('the helper was asked for');
    await assert.rejects(
      listFiles(() => Promise.reject(asked), repo, 'inline', '/'),
      (err) => err === asked,
    );
  });
});
