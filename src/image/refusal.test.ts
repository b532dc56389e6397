import assert from 'node:assert/strict';
import { open, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { openImage, type OpenImageOptions } from './open.js';
import { collect, createQcow2, hasCode, qemuImg, qemuIo, tempDir } from './testing/support.js';

/** A LUKS-encrypted qcow2 made once by qemu-img (test/fixtures/README.md says how). */
const LUKS_FIXTURE = fileURLToPath(
  new URL('../../../test/fixtures/luks.qcow2.gz', import.meta.url),
);

let dir: string;
let remove: () => Promise<void>;
before(async () => ({ dir, remove } = await tempDir()));
after(async () => remove());

/** Opening, mapping and reading every byte: the first thing that fails is the verdict. */
async function useImage(file: string, options: OpenImageOptions = {}): Promise<void> {
  const reader = await openImage(file, options);
  try {
    await collect(reader.extents());
    for (let at = 0; at < reader.virtualSize; at += 1 << 20) {
      await reader.read(at, Math.min(1 << 20, reader.virtualSize - at));
    }
  } finally {
    await reader.close();
  }
}

function refused(code: string, pattern: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(hasCode(code)(err), `expected ${code}, got ${String(err)}`);
    assert.match((err as Error).message, pattern);
    return true;
  };
}

async function patch(file: string, offset: number, bytes: Buffer): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, offset);
  } finally {
    await fh.close();
  }
}

/** A 64 KiB-cluster image with the first 128 KiB written: header, refcounts, L1, L2, then data. */
async function smallImage(name: string): Promise<string> {
  const file = join(dir, name);
  await createQcow2(file, '4M');
  await qemuIo(file, 'qcow2', 'write -P 0x77 0 128k');
  return file;
}

async function l2TableOffset(file: string): Promise<number> {
  const buf = await readFile(file);
  const l1 = Number(buf.readBigUInt64BE(40));
  return Number(buf.readBigUInt64BE(l1) & 0x00fffffffffffe00n);
}

describe('images the reader must refuse', () => {
  describe('as unsupported, naming the feature', () => {
    it('refuses an encrypted (LUKS) qcow2', async () => {
      // A fixture, not `qemu-img create`: creating a LUKS image benchmarks PBKDF2 first, and
      // some QEMU builds fail that benchmark at random on fast machines ("Unable to get
      // accurate CPU usage", whatever encrypt.iter-time says): test/fixtures/README.md.
      const file = join(dir, 'luks.qcow2');
      await writeFile(file, gunzipSync(await readFile(LUKS_FIXTURE)));
      assert.match(await qemuImg('info', file), /encrypted: yes[\s\S]*format: luks/);
      await assert.rejects(openImage(file), refused('IMAGE_UNSUPPORTED', /encryption \(LUKS\)/));
    });

    it('refuses a qcow2 with an external data file', async () => {
      const file = join(dir, 'ext.qcow2');
      await createQcow2(file, '1M', [`data_file=${join(dir, 'ext.data')}`]);
      await assert.rejects(openImage(file), refused('IMAGE_UNSUPPORTED', /external data file/));
    });

    it('refuses a qcow2 with extended L2 entries (subclusters)', async () => {
      const file = join(dir, 'extl2.qcow2');
      await createQcow2(file, '1M', ['extended_l2=on']);
      await assert.rejects(openImage(file), refused('IMAGE_UNSUPPORTED', /extended L2/));
    });

    for (const [bit, name] of [
      [0, /dirty/],
      [1, /corrupt/],
      [5, /incompatible feature bit 5/],
    ] as const) {
      it(`refuses a qcow2 with incompatible feature bit ${bit} set (${name.source})`, async () => {
        const file = await smallImage(`bit${bit}.qcow2`);
        const byte = (await readFile(file))[79] ?? 0;
        await patch(file, 79, Buffer.from([byte | (1 << bit)]));
        await assert.rejects(openImage(file), refused('IMAGE_UNSUPPORTED', name));
      });
    }

    it('refuses other formats when probing, but reads them as raw when told to', async () => {
      const file = join(dir, 'disk.vmdk');
      await qemuImg('create', '-q', '-f', 'vmdk', file, '1M');
      await assert.rejects(openImage(file), refused('IMAGE_UNSUPPORTED', /vmdk/));
      await useImage(file, { format: 'raw' });
    });

    it('refuses a backing file reached over a network protocol', async () => {
      const file = join(dir, 'nbd-backed.qcow2');
      await createQcow2(file, '1M');
      await qemuImg('rebase', '-u', '-f', 'qcow2', '-b', 'nbd://127.0.0.1:1/x', '-F', 'raw', file);
      await assert.rejects(openImage(file), refused('IMAGE_UNSUPPORTED', /protocol/));
    });
  });

  describe('as corrupt, never returning wrong data', () => {
    it('refuses an L2 entry pointing past the end of the file', async () => {
      const file = await smallImage('l2-past-eof.qcow2');
      const l2 = await l2TableOffset(file);
      const entry = Buffer.alloc(8);
      entry.writeBigUInt64BE(0x8000000000000000n | (1n << 40n)); // COPIED | 1 TiB
      await patch(file, l2 + 8, entry); // the second cluster
      await assert.rejects(useImage(file), refused('IMAGE_CORRUPT', /past the end of the file/));
      const reader = await openImage(file);
      try {
        assert.equal((await reader.read(0, 65536))[0], 0x77); // the first cluster is intact
        await assert.rejects(reader.read(65536, 1), hasCode('IMAGE_CORRUPT'));
        await assert.rejects(reader.read(0, 65537), hasCode('IMAGE_CORRUPT'));
      } finally {
        await reader.close();
      }
    });

    it('refuses an L1 entry pointing past the end of the file', async () => {
      const file = await smallImage('l1-past-eof.qcow2');
      const l1 = Number((await readFile(file)).readBigUInt64BE(40));
      const entry = Buffer.alloc(8);
      entry.writeBigUInt64BE(0x8000000000000000n | (1n << 40n));
      await patch(file, l1, entry);
      await assert.rejects(useImage(file), refused('IMAGE_CORRUPT', /L2 table .*past the end/));
    });

    it('refuses a misaligned data cluster offset', async () => {
      const file = await smallImage('misaligned.qcow2');
      const l2 = await l2TableOffset(file);
      const buf = await readFile(file);
      const entry = buf.readBigUInt64BE(l2) + 512n;
      const out = Buffer.alloc(8);
      out.writeBigUInt64BE(entry);
      await patch(file, l2, out);
      await assert.rejects(useImage(file), refused('IMAGE_CORRUPT', /not cluster aligned/));
    });

    for (const [what, cut] of [
      ['inside the header', 50],
      ['before the L1 table', 3 * 65536],
      ['before the L2 table', 4 * 65536 + 100],
      ['inside the data', 5 * 65536 + 1000],
    ] as const) {
      it(`refuses a qcow2 truncated ${what}`, async () => {
        const file = await smallImage(`truncated-${cut}.qcow2`);
        await truncate(file, cut);
        await assert.rejects(useImage(file), refused('IMAGE_CORRUPT', /./));
      });
    }

    it('refuses bad magic when told the file is qcow2', async () => {
      const file = join(dir, 'not-qcow2.raw');
      await writeFile(file, Buffer.alloc(65536, 1));
      await assert.rejects(openImage(file, { format: 'qcow2' }), refused('IMAGE_CORRUPT', /magic/));
    });

    it('refuses cluster_bits out of range', async () => {
      const file = await smallImage('cluster-bits.qcow2');
      const bits = Buffer.alloc(4);
      bits.writeUInt32BE(30);
      await patch(file, 20, bits);
      await assert.rejects(openImage(file), refused('IMAGE_CORRUPT', /cluster_bits 30/));
    });

    it('refuses an L1 table outside the file', async () => {
      const file = await smallImage('l1-table.qcow2');
      const offset = Buffer.alloc(8);
      offset.writeBigUInt64BE(1n << 40n);
      await patch(file, 40, offset);
      await assert.rejects(openImage(file), refused('IMAGE_CORRUPT', /L1 table/));
    });

    it('refuses a compressed cluster that does not decompress', async () => {
      const raw = join(dir, 'text.raw');
      const file = join(dir, 'bad-deflate.qcow2');
      await writeFile(raw, Buffer.alloc(65536, 'brankas '));
      await qemuImg('convert', '-c', '-O', 'qcow2', raw, file);
      const l2 = await l2TableOffset(file);
      const entry = (await readFile(file)).readBigUInt64BE(l2);
      const host = Number(entry & ((1n << 54n) - 1n)); // x = 62 - (16 - 8)
      await patch(file, host, Buffer.alloc(16, 0xff));
      await assert.rejects(useImage(file), refused('IMAGE_CORRUPT', /does not decompress/));
    });
  });
});
