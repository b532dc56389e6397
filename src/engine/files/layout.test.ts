import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, open, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readLayout, type ReadAt } from './layout.js';
import { writeGpt } from './testing/gpt.js';

const run = promisify(execFile);
const MiB = 1 << 20;

async function layoutOf(path: string, size: number): ReturnType<typeof readLayout> {
  const fh = await open(path, 'r');
  try {
    const read: ReadAt = async (offset, length) => {
      const buf = Buffer.alloc(length);
      await fh.read(buf, 0, length, offset);
      return buf;
    };
    return await readLayout(read, size);
  } finally {
    await fh.close();
  }
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'brankas-layout-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function blank(path: string, size: number): Promise<void> {
  await writeFile(path, '');
  await truncate(path, size);
}

test('a disk that is one ext4 filesystem is one volume, vda, named /', () =>
  withDir(async (dir) => {
    const p = join(dir, 'd.raw');
    await blank(p, 16 * MiB);
    await run('mkfs.ext4', ['-q', '-F', p]);
    assert.deepEqual(await layoutOf(p, 16 * MiB), {
      table: 'none',
      volumes: [{ name: '', device: 'vda', offset: 0, size: 16 * MiB, fs: 'ext4' }],
    });
  }));

test('a vfat disk (its boot sector ends like an MBR) is a filesystem, not a partition table', () =>
  withDir(async (dir) => {
    const p = join(dir, 'd.raw');
    await blank(p, 34 * MiB);
    await run('busybox', ['mkdosfs', p]);
    const l = await layoutOf(p, 34 * MiB);
    assert.equal(l.table, 'none');
    assert.equal(l.volumes[0]!.fs, 'vfat');
  }));

test('a GPT disk shows its partition as p1 on vda1 with its filesystem and extent', () =>
  withDir(async (dir) => {
    const p = join(dir, 'd.raw');
    await blank(p, 32 * MiB);
    const part = await writeGpt(p);
    await run('mkfs.ext4', [
      '-q',
      '-F',
      '-E',
      `offset=${part.offset}`,
      p,
      `${Math.floor(part.size / 4096) * 4}k`,
    ]);
    assert.deepEqual(await layoutOf(p, 32 * MiB), {
      table: 'gpt',
      volumes: [{ name: 'p1', device: 'vda1', offset: part.offset, size: part.size, fs: 'ext4' }],
    });
  }));

test('an MBR disk shows its primary partitions by slot; LUKS in one is named luks', () =>
  withDir(async (dir) => {
    const p = join(dir, 'd.raw');
    await blank(p, 8 * MiB);
    const mbr = Buffer.alloc(512);
    const entry = (slot: number, type: number, start: number, sectors: number): void => {
      const e = 0x1be + 16 * (slot - 1);
      mbr[e + 4] = type;
      mbr.writeUInt32LE(start, e + 8);
      mbr.writeUInt32LE(sectors, e + 12);
    };
    entry(1, 0x83, 2048, 4096);
    entry(3, 0x83, 8192, 4096);
    mbr.writeUInt16LE(0xaa55, 510);
    const fh = await open(p, 'r+');
    await fh.write(mbr, 0, 512, 0);
    await fh.write(Buffer.from('LUKS\xba\xbe\x00\x02', 'latin1'), 0, 8, 8192 * 512);
    await fh.close();
    const l = await layoutOf(p, 8 * MiB);
    assert.equal(l.table, 'mbr');
    assert.deepEqual(
      l.volumes.map((v) => [v.name, v.device, v.offset, v.fs]),
      [
        ['p1', 'vda1', MiB, 'unknown'],
        ['p3', 'vda3', 4 * MiB, 'luks'],
      ],
    );
  }));

test('a blank disk has no volumes', () =>
  withDir(async (dir) => {
    const p = join(dir, 'd.raw');
    await blank(p, MiB);
    assert.deepEqual(await layoutOf(p, MiB), { table: 'none', volumes: [] });
  }));
