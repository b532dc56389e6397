/**
 * The streamed download's parts at the byte level: the FIFO between a writer (standing in for
 * the engine's `getFiles`, writing `FILE.partial` then renaming it as the engine does) and the
 * reader, whatever fails when; and the first member of archives made by GNU tar, in its GNU and
 * pax formats.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { contentDisposition, tarMember, tarStream } from './download.js';

const exec = promisify(execFile);

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  // Cut at odd places, as a pipe might.
  for (let i = 0; i < b.length; i += 777) yield b.subarray(i, i + 777);
}

async function collect(it: AsyncIterator<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let r = await it.next(); !r.done; r = await it.next()) parts.push(r.value);
  return Buffer.concat(parts);
}

/** Writes `data` as the engine writes its tar: into PATH.partial, then renamed to PATH. */
async function writeLikeEngine(tarPath: string, data: Buffer, failAfter?: number): Promise<void> {
  const fh = await open(`${tarPath}.partial`, 'w', 0o600);
  try {
    for (let i = 0; i < data.length; i += 65536) {
      if (failAfter !== undefined && i >= failAfter) throw new Error('the helper died');
      await fh.write(data.subarray(i, i + 65536));
    }
  } finally {
    await fh.close();
  }
  await rename(`${tarPath}.partial`, tarPath);
}

test('tarStream gives the bytes the writer wrote, in order, and removes its directory', async () => {
  const data = randomBytes(3 * 1024 * 1024 + 5);
  let dir = '';
  const s = await tarStream(async (tarPath) => {
    dir = dirname(tarPath);
    await writeLikeEngine(tarPath, data);
  });
  assert.ok((await collect(s.chunks)).equals(data));
  assert.equal(existsSync(dir), false);
});

test("tarStream rejects with the writer's error when it fails before opening the FIFO (no hang)", async () => {
  let dir = '';
  const s = await tarStream(async (tarPath) => {
    dir = dirname(tarPath);
    throw new Error('no such path');
  });
  await assert.rejects(s.chunks.next(), /no such path/);
  assert.equal(existsSync(dir), false);
});

test("tarStream ends in the writer's error when it fails after some bytes", async () => {
  const s = await tarStream((tarPath) => writeLikeEngine(tarPath, randomBytes(1 << 20), 65536 * 4));
  const first = await s.chunks.next();
  assert.equal(first.done, false);
  await assert.rejects(collect(s.chunks), /the helper died/);
});

test('cancelling tarStream aborts the writer and drains it to its end', async () => {
  let aborted: Promise<void> | undefined;
  let dir = '';
  let finished!: () => void;
  const done = new Promise<void>((r) => (finished = r));
  const s = await tarStream(async (tarPath, signal) => {
    dir = dirname(tarPath);
    aborted = new Promise((r) => signal.addEventListener('abort', () => r(), { once: true }));
    const fh = await open(`${tarPath}.partial`, 'w');
    try {
      // More than a pipe holds: without the drain this write would wait for ever.
      while (!signal.aborted) await fh.write(randomBytes(1 << 20));
      await fh.write(randomBytes(1 << 20));
    } finally {
      await fh.close();
      finished();
    }
  });
  await s.chunks.next();
  s.cancel();
  await aborted;
  await done;
  // The directory goes once the drain has seen the end (after the writer closed).
  const deadline = Date.now() + 30_000;
  while (existsSync(dir) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(existsSync(dir), false);
});

test("tarMember reads a GNU long name's file and a pax archive's file, each to the end", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'brankas-test-tarmember-'));
  try {
    const long = `${'d'.repeat(120)}/${'f'.repeat(130)}.bin`;
    const data = randomBytes(100_000);
    await mkdir(join(dir, 'src', dirname(long)), { recursive: true });
    await writeFile(join(dir, 'src', long), data);
    for (const format of ['gnu', 'pax']) {
      const archive = join(dir, `${format}.tar`);
      await exec('tar', [`--format=${format}`, '-cf', archive, '-C', join(dir, 'src'), long]);
      const m = await tarMember(once(await readFile(archive)));
      assert.equal(m.name, long, format);
      assert.equal(m.type, '0');
      assert.equal(m.size, data.length);
      const parts: Buffer[] = [];
      for await (const b of m.body) parts.push(b);
      assert.ok(Buffer.concat(parts).equals(data), format);
      await m.finish();
    }
    const dirTar = join(dir, 'dir.tar');
    await exec('tar', ['-cf', dirTar, '-C', join(dir, 'src'), 'd'.repeat(120)]);
    const d = await tarMember(once(await readFile(dirTar)));
    assert.equal(d.type, '5');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('contentDisposition keeps an ASCII name and gives any other as UTF-8 too', () => {
  assert.equal(
    contentDisposition('big.bin'),
    `attachment; filename="big.bin"; filename*=UTF-8''big.bin`,
  );
  assert.equal(
    contentDisposition('laporan "akhir" ñ.txt'),
    `attachment; filename="laporan _akhir_ _.txt"; filename*=UTF-8''laporan%20%22akhir%22%20%C3%B1.txt`,
  );
});
