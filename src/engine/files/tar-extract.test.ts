import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TarExtractor } from './tar-extract.js';

const run = promisify(execFile);

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'brankas-tar-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Feeds the archive in pieces of `step` bytes, as the helper's port delivers it. */
async function extract(archive: Buffer, to: string, step: number): Promise<TarExtractor> {
  const ex = new TarExtractor(to, { owners: false });
  for (let i = 0; i < archive.length; i += step) await ex.write(archive.subarray(i, i + step));
  await ex.finish();
  return ex;
}

/** A ustar header block for hand-made (hostile) archives. */
function header(name: string, type: string, size = 0, linkname = ''): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write('00000000000\0', 136);
  h.write(type, 156);
  h.write(linkname, 157);
  h.write('ustar\x0000', 257, 'latin1');
  h.fill(32, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

const END = Buffer.alloc(1024);

test("busybox tar's archive (the helper's) extracts with bytes, modes, times, links and long names", () =>
  withDir(async (dir) => {
    const src = join(dir, 'src');
    const long = 'd'.repeat(60) + '/' + 'f'.repeat(80) + '.txt';
    await mkdir(join(src, 'tree', 'd'.repeat(60)), { recursive: true });
    const big = Buffer.alloc(1_000_003, 7);
    await writeFile(join(src, 'tree', 'big.bin'), big, { mode: 0o640 });
    await writeFile(join(src, 'tree', long), 'long\n');
    await symlink('big.bin', join(src, 'tree', 'link'));
    await run('ln', [join(src, 'tree', 'big.bin'), join(src, 'tree', 'hard.bin')]);
    await utimes(join(src, 'tree', 'big.bin'), 1_600_000_000, 1_600_000_000);
    await utimes(join(src, 'tree'), 1_500_000_000, 1_500_000_000);
    const archive = (
      await run('busybox', ['tar', 'cf', '-', '-C', src, './tree'], {
        encoding: 'buffer',
        maxBuffer: 1 << 26,
      })
    ).stdout;
    for (const step of [1, 511, 65536]) {
      const to = join(dir, `out-${step}`);
      await mkdir(to);
      const ex = await extract(archive, to, step === 1 ? 97 : step);
      const t = join(to, 'tree');
      assert.ok((await readFile(join(t, 'big.bin'))).equals(big));
      assert.equal((await stat(join(t, 'big.bin'))).mode & 0o777, 0o640);
      assert.equal((await stat(join(t, 'big.bin'))).mtimeMs, 1_600_000_000_000);
      assert.equal((await stat(t)).mtimeMs, 1_500_000_000_000);
      assert.equal(await readlink(join(t, 'link')), 'big.bin');
      assert.equal(await readFile(join(t, long), 'utf8'), 'long\n');
      assert.ok((await readFile(join(t, 'hard.bin'))).equals(big));
      assert.equal(ex.summary.symlinks, 1);
    }
  }));

test('a member with a .. component is refused', () =>
  withDir(async (dir) => {
    const archive = Buffer.concat([header('../evil', '0'), END]);
    await assert.rejects(extract(archive, dir, 512), { code: 'FILES_UNSAFE_ENTRY' });
    await assert.rejects(lstat(join(dir, '..', 'evil')));
  }));

test('a member is never written through a symlink an earlier member made', () =>
  withDir(async (dir) => {
    const outside = join(dir, 'outside');
    const to = join(dir, 'to');
    await mkdir(outside);
    await mkdir(to);
    const data = Buffer.alloc(512, 0x41);
    const archive = Buffer.concat([
      header('a', '2', 0, outside),
      header('a/evil', '0', 3),
      data,
      END,
    ]);
    await assert.rejects(extract(archive, to, 512), { code: 'FILES_UNSAFE_ENTRY' });
    await assert.rejects(lstat(join(outside, 'evil')));
  }));

test('an archive cut short is an error, not a silent partial restore', () =>
  withDir(async (dir) => {
    const archive = Buffer.concat([header('f', '0', 1000), Buffer.alloc(512)]);
    await assert.rejects(extract(archive, dir, 512), { code: 'FILES_HELPER_FAILED' });
  }));

test('a setuid file given its owners keeps its setuid bit (owners are set before the mode)', async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('only root may give files their owners');
    return;
  }
  await withDir(async (dir) => {
    const h = header('suid', '0', 2);
    h.write('0004755\0', 100);
    h.write('0002322\0', 108);
    h.fill(32, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    const body = Buffer.alloc(512);
    body.write('x\n');
    const to = join(dir, 'out');
    await mkdir(to);
    const ex = new TarExtractor(to, { owners: true });
    await ex.write(Buffer.concat([h, body, END]));
    await ex.finish();
    const st = await stat(join(to, 'suid'));
    assert.equal(st.uid, 0o2322);
    assert.equal(st.mode & 0o7777, 0o4755);
  });
});
