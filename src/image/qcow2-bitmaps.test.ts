import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readDirtyRanges, readQcow2Bitmaps, type DirtyRange } from './qcow2-bitmaps.js';
import { hasCode, KiB, MiB, qemuImg, qemuIo, run, tempDir } from './testing/support.js';

let dir: string;
let remove: () => Promise<void>;
before(async () => ({ dir, remove } = await tempDir()));
after(async () => remove());

/** QEMU's own view of a bitmap: qemu-nbd exports it, nbdinfo maps it (the independent witness). */
async function qemuDirty(file: string, name: string): Promise<DirtyRange[]> {
  const out = await run('nbdinfo', [
    '--json',
    `--map=qemu:dirty-bitmap:${name}`,
    '--',
    '[',
    'qemu-nbd',
    '-r',
    '-f',
    'qcow2',
    '-B',
    name,
    file,
    ']',
  ]);
  const merged: DirtyRange[] = [];
  for (const e of JSON.parse(out) as { offset: number; length: number; type: number }[]) {
    if ((e.type & 1) === 0) continue;
    const last = merged.at(-1);
    if (last && last.offset + last.length === e.offset) last.length += e.length;
    else merged.push({ offset: e.offset, length: e.length });
  }
  return merged;
}

async function image(name: string, size: string, ...createOpts: string[]): Promise<string> {
  const file = join(dir, name);
  await qemuImg('create', '-q', '-f', 'qcow2', ...createOpts, file, size);
  return file;
}

async function dirty(file: string, name: string): Promise<DirtyRange[]> {
  const got = await readDirtyRanges(file, name);
  assert.ok(got, `bitmap ${name} found`);
  return got.ranges;
}

/** Patches bytes of an image (byte-level damage for the refusal cases). */
async function patch(file: string, at: number, bytes: Buffer): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, at);
  } finally {
    await fh.close();
  }
}

/** The directory entry's table offset, read from the extension (so tests can damage what it points to). */
async function tableEntryOffset(file: string, name: string): Promise<number> {
  const d = await readQcow2Bitmaps(file);
  return d.bitmaps.find((b) => b.name === name)!.tableOffset;
}

describe('qcow2 bitmaps (native reader against QEMU)', () => {
  it('lists the bitmaps qemu-img added, with their flags and granularity', async () => {
    const f = await image('list.qcow2', '4M');
    await qemuImg('bitmap', '--add', f, 'one');
    await qemuImg('bitmap', '--add', '--disable', '-g', '4096', f, 'two');
    const d = await readQcow2Bitmaps(f);
    assert.equal(d.consistent, true);
    assert.equal(d.imageDirty, false);
    assert.deepEqual(
      d.bitmaps.map((b) => [b.name, b.auto, b.inUse, b.granularity, b.type]),
      [
        ['one', true, false, 64 * KiB, 1],
        ['two', false, false, 4096, 1],
      ],
    );
  });

  it('gives an image without bitmaps an empty directory', async () => {
    const f = await image('none.qcow2', '1M');
    assert.deepEqual((await readQcow2Bitmaps(f)).bitmaps, []);
  });

  it('reports the dirty ranges QEMU reports for writes after the bitmap was added', async () => {
    const f = await image('writes.qcow2', '8M');
    await qemuIo(f, 'qcow2', 'write -P 1 0 4k'); // before: not in the bitmap
    await qemuImg('bitmap', '--add', f, 'b');
    await qemuIo(f, 'qcow2', 'write -P 2 100k 10k', 'write -P 3 1000k 200k', 'write -z 7M 1k');
    const got = await dirty(f, 'b');
    assert.deepEqual(got, await qemuDirty(f, 'b'));
    assert.deepEqual(got, [
      { offset: 64 * KiB, length: 64 * KiB },
      { offset: 960 * KiB, length: 256 * KiB },
      { offset: 7 * MiB, length: 64 * KiB },
    ]);
  });

  it('reads a bitmap spread over many table entries, with clean ones stored as no cluster', async () => {
    // 512-byte clusters: one bitmap cluster covers 4096 bits, 2 MiB at 512-byte granularity.
    const f = await image('many.qcow2', '9M', '-o', 'cluster_size=512');
    await qemuImg('bitmap', '--add', '-g', '512', f, 'fine');
    await qemuIo(
      f,
      'qcow2',
      'write 1536 512',
      'write 2047k 2k', // across the first table entry's end
      'write 6M 513', // two bits
      'write 9215k 1k', // up to the end of the disk
    );
    const got = await dirty(f, 'fine');
    assert.deepEqual(got, await qemuDirty(f, 'fine'));
    assert.deepEqual(got, [
      { offset: 1536, length: 512 },
      { offset: 2047 * KiB, length: 2 * KiB },
      { offset: 6 * MiB, length: 1024 },
      { offset: 9215 * KiB, length: KiB },
    ]);
    const d = await readQcow2Bitmaps(f);
    assert.equal(d.bitmaps[0]!.tableSize, 5);
  });

  it('keeps two bitmaps apart: the later one has only the later writes', async () => {
    const f = await image('two.qcow2', '4M');
    await qemuImg('bitmap', '--add', f, 'old');
    await qemuIo(f, 'qcow2', 'write 0 64k');
    await qemuImg('bitmap', '--add', f, 'new');
    await qemuIo(f, 'qcow2', 'write 2M 64k');
    assert.deepEqual(await dirty(f, 'old'), await qemuDirty(f, 'old'));
    assert.deepEqual(await dirty(f, 'new'), [{ offset: 2 * MiB, length: 64 * KiB }]);
    assert.deepEqual(await dirty(f, 'new'), await qemuDirty(f, 'new'));
    assert.equal(await readDirtyRanges(f, 'absent'), undefined);
  });

  it('reads a table entry with no cluster and bit 0 set as all dirty', async () => {
    const f = await image('ones.qcow2', '1M');
    await qemuImg('bitmap', '--add', f, 'b');
    await qemuIo(f, 'qcow2', 'write 0 4k');
    // QEMU writes all-zero clusters as entry 0 but reads entry 1 as "all ones".
    const entry = Buffer.alloc(8);
    entry.writeBigUInt64BE(1n);
    await patch(f, await tableEntryOffset(f, 'b'), entry);
    assert.deepEqual(await dirty(f, 'b'), [{ offset: 0, length: MiB }]);
    assert.deepEqual(await dirty(f, 'b'), await qemuDirty(f, 'b'));
  });

  it('sees in_use on a bitmap of an image whose QEMU was killed, and refuses its ranges', async () => {
    const f = await image('killed.qcow2', '1M');
    await qemuImg('bitmap', '--add', f, 'b');
    const child = spawn('qemu-io', ['-f', 'qcow2', f], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = once(child, 'exit');
    try {
      // The prompt comes once the image is open read-write (and the bitmap marked in use).
      let out = '';
      for await (const chunk of child.stdout) {
        out += String(chunk);
        if (out.includes('qemu-io>')) break;
      }
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    const d = await readQcow2Bitmaps(f);
    assert.equal(d.bitmaps[0]!.inUse, true);
    await assert.rejects(readDirtyRanges(f, 'b'), hasCode('IMAGE_CORRUPT'));
  });

  it('reports the bitmaps stale when the autoclear bitmaps bit is cleared', async () => {
    const f = await image('stale.qcow2', '1M');
    await qemuImg('bitmap', '--add', f, 'b');
    await patch(f, 88, Buffer.alloc(8)); // autoclear_features
    assert.equal((await readQcow2Bitmaps(f)).consistent, false);
  });

  it('refuses a bitmap directory pointing past the end of the file', async () => {
    const f = await image('bad-dir.qcow2', '1M');
    await qemuImg('bitmap', '--add', f, 'b');
    const header = await open(f, 'r');
    const first = Buffer.alloc(64 * KiB);
    await header.read(first, 0, first.length, 0);
    await header.close();
    // Find the bitmaps extension after the fixed header and point its directory far away.
    let at = first.readUInt32BE(100);
    while (first.readUInt32BE(at) !== 0x23852875)
      at += 8 + Math.ceil(first.readUInt32BE(at + 4) / 8) * 8;
    const far = Buffer.alloc(8);
    far.writeBigUInt64BE(1n << 40n);
    await patch(f, at + 8 + 16, far);
    await assert.rejects(readQcow2Bitmaps(f), hasCode('IMAGE_CORRUPT'));
  });

  it('refuses a table entry with reserved bits set', async () => {
    const f = await image('bad-entry.qcow2', '1M');
    await qemuImg('bitmap', '--add', f, 'b');
    await qemuIo(f, 'qcow2', 'write 0 4k');
    const entry = Buffer.alloc(8);
    entry.writeBigUInt64BE(0x2n);
    await patch(f, await tableEntryOffset(f, 'b'), entry);
    await assert.rejects(readDirtyRanges(f, 'b'), hasCode('IMAGE_CORRUPT'));
  });
});
