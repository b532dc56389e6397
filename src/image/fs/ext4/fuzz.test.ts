/**
 * The ext4 reader on damaged filesystems: a small real image (mke2fs -d) has bytes of its
 * metadata (superblock, descriptors, inode table, directory blocks) overwritten at random, many times over, and the whole tree is read each time. Whatever the damage, the
 * reader finishes with the data or an FsError: never another exception, never a hang (the walk
 * is bounded only by what the reader itself bounds; file data is read up to 1 MiB per file).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Ext4, FsError, ROOT_INO, S_IFDIR, S_IFLNK, S_IFREG, typeOf } from './index.js';

const exec = promisify(execFile);
let dir: string;
let pristine: Buffer;
/** Byte ranges [start, end) of the image's metadata: where the damage goes. */
const regions: [number, number][] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'brankas-test-ext4fuzz-'));
  const src = join(dir, 'src');
  await mkdir(join(src, 'a/b'), { recursive: true });
  for (let i = 0; i < 40; i++)
    await writeFile(join(src, 'a', `f${i}`), `file ${i}\n`.repeat(i * 50));
  await writeFile(join(src, 'a/b/big'), Buffer.alloc(300_000, 7));
  await symlink('a/b/big', join(src, 'link'));
  await symlink('x'.repeat(100), join(src, 'slow'));
  const image = join(dir, 'fs.raw');
  await writeFile(image, '');
  await truncate(image, 2 << 20);
  await exec('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '1024', '-N', '64', '-d', src, image]);
  pristine = await readFile(image);
  const { stdout } = await exec('dumpe2fs', [image]);
  const t = /Inode table at (\d+)-(\d+)/.exec(stdout)!;
  regions.push([1024, 3 * 1024], [Number(t[1]) * 1024, (Number(t[2]) + 1) * 1024]);
  for (const d of ['/', '/a', '/a/b']) {
    const { stdout: b } = await exec('debugfs', ['-R', `bmap ${d} 0`, image]);
    regions.push([Number(b.trim()) * 1024, (Number(b.trim()) + 1) * 1024]);
  }
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Reads everything: every directory, every link, up to 1 MiB of every file. */
async function readAll(img: Buffer): Promise<number> {
  const readAt = (off: number, len: number): Promise<Buffer> =>
    Promise.resolve(Buffer.from(img.subarray(off, off + len)));
  const fs = await Ext4.open(readAt, img.length);
  let seen = 0;
  const todo = [ROOT_INO];
  const dirs = new Set<number>();
  while (todo.length > 0) {
    const i = await fs.inode(todo.pop()!);
    seen++;
    if (typeOf(i) === S_IFDIR) {
      if (dirs.has(i.ino)) continue;
      dirs.add(i.ino);
      for (const e of await fs.readdir(i)) todo.push(e.ino);
    } else if (typeOf(i) === S_IFLNK) {
      await fs.readlink(i);
    } else if (typeOf(i) === S_IFREG) {
      let n = 0;
      for await (const c of fs.data(i)) {
        n += c.length;
        if (n >= 1 << 20) break;
      }
    }
  }
  return seen;
}

test('the undamaged image reads whole', async () => {
  assert.ok((await readAll(pristine)) >= 45);
});

test('random damage to the metadata is read or refused as FS_CORRUPT/FS_UNSUPPORTED, never anything else', async () => {
  let seed = Number(process.env['BRANKAS_FUZZ_SEED'] ?? 12345);
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  const outcomes = { read: 0, refused: 0 };
  // BRANKAS_FUZZ_ROUNDS runs longer by hand; the suite's 400 take a few seconds.
  const rounds = Number(process.env['BRANKAS_FUZZ_ROUNDS'] ?? 400);
  for (let round = 0; round < rounds; round++) {
    const img = Buffer.from(pristine);
    const hits = 1 + rand(6);
    for (let h = 0; h < hits; h++) {
      const [start, end] = regions[rand(regions.length)]!;
      img[start + rand(end - start)] = rand(4) === 0 ? 0xff : rand(256);
    }
    try {
      await readAll(img);
      outcomes.read++;
    } catch (err) {
      assert.ok(err instanceof FsError, `round ${round}: ${String(err)}`);
      outcomes.refused++;
    }
  }
  assert.ok(outcomes.refused > 20, `some damage is noticed: ${JSON.stringify(outcomes)}`);
  assert.ok(outcomes.read > 20, `some goes unnoticed: ${JSON.stringify(outcomes)}`);
});
