import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { MemoryBackend } from './backend/memory.js';
import { encodeFidxHeader, FIDX_FLAT, FidxWriter, PAGE_ENTRY, PAGE_SLOTS, SLOT } from './fidx.js';
import { fidxObjectName, type ManifestDisk } from './manifest.js';
import { ZERO_ID } from './record.js';
import { SlotReader } from './slots.js';

const CHUNK = 256 * 1024;
const BACKUP = '20261127T000000Z-00000000';

function disk(virtualSize: number, indexSha256: string): ManifestDisk {
  return {
    name: 'vda',
    index: 'vda.fidx',
    indexSha256,
    virtualSize,
    format: 'qcow2',
    formatOptions: null,
    dataBytes: 0,
    zeroBytes: 0,
    newChunks: 0,
    newPlainBytes: 0,
    newStoredBytes: 0,
  };
}

/** Ids for a disk where every tenth slot holds data and the rest is zero. */
function sparseIds(slots: number): Buffer[] {
  return Array.from({ length: slots }, (_, i) => (i % 10 === 3 ? randomBytes(32) : ZERO_ID));
}

async function write(
  backend: MemoryBackend,
  virtualSize: number,
  ids: Buffer[],
): Promise<ManifestDisk> {
  const w = new FidxWriter(await backend.upload(fidxObjectName(BACKUP, 'vda')), {
    chunkSize: CHUNK,
    virtualSize,
    slots: ids.length,
  });
  for (const id of ids) await w.add(id);
  return disk(virtualSize, await w.commit());
}

async function readAll(r: SlotReader): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let i = 0; i < r.slots; i++) out.push(Buffer.from(await r.get(i)));
  return out;
}

describe('fixed index, version 2 (paged, compressed)', () => {
  it('grows with the data, not the virtual size, and reads back every slot', async () => {
    const backend = new MemoryBackend();
    const virtualSize = 10 * 1024 ** 3; // 40,960 slots: two pages, the second partial
    const ids = sparseIds(virtualSize / CHUNK);
    const d = await write(backend, virtualSize, ids);
    const size = (await backend.stat(fidxObjectName(BACKUP, 'vda')))!.size;
    // 4,096 random ids are 128 KiB; the zero slots add almost nothing (flat: 1.25 MiB).
    assert.ok(size < 140 * 1024, `index is ${size} bytes`);
    const r = await SlotReader.open(backend, BACKUP, d);
    assert.deepEqual(await readAll(r), ids);
    await r.verify();
  });

  it('an empty disk and an exact page multiple work too', async () => {
    for (const slots of [0, 1, PAGE_SLOTS]) {
      const backend = new MemoryBackend();
      const ids = Array.from({ length: slots }, () => randomBytes(32));
      const d = await write(backend, slots * CHUNK, ids);
      const r = await SlotReader.open(backend, BACKUP, d);
      assert.deepEqual(await readAll(r), ids);
      await r.verify();
    }
  });

  it('damage is found: a flipped page byte (CRC32), a bad table, a truncation', async () => {
    const backend = new MemoryBackend();
    const ids = sparseIds(PAGE_SLOTS + 100);
    const d = await write(backend, ids.length * CHUNK, ids);
    const name = fidxObjectName(BACKUP, 'vda');
    const good = await backend.get(name);
    const corrupt = async (b: Buffer, at: 'open' | 'get'): Promise<void> => {
      await backend.put(name, b);
      const attempt = async (): Promise<unknown> => {
        const r = await SlotReader.open(backend, BACKUP, d);
        return readAll(r);
      };
      await assert.rejects(attempt(), { code: 'REPO_FIXED_INDEX_CORRUPT' }, at);
    };
    const flipped = Buffer.from(good);
    flipped[40] = flipped[40]! ^ 0xff; // inside the first page
    await corrupt(flipped, 'get');
    const badTable = Buffer.from(good);
    const tableAt = good.length - 32 - 2 * PAGE_ENTRY;
    badTable.writeUInt32LE(badTable.readUInt32LE(tableAt + 8) + 1, tableAt + 8);
    await corrupt(badTable, 'open');
    await corrupt(good.subarray(0, good.length - 10), 'open');
    // The trailer and the manifest name the same SHA-256: verify says so when they differ.
    await backend.put(name, good);
    const other = await SlotReader.open(backend, BACKUP, disk(d.virtualSize, 'ab'.repeat(32)));
    await assert.rejects(other.verify(), /not the one the manifest names/);
  });
});

describe('fixed index, version 1 (flat)', () => {
  it('is still read and verified', async () => {
    const backend = new MemoryBackend();
    const ids = sparseIds(1000);
    const body = Buffer.concat([
      encodeFidxHeader({ chunkSize: CHUNK, virtualSize: 1000 * CHUNK, slots: 1000 }, FIDX_FLAT),
      ...ids,
    ]);
    const sha = createHash('sha256').update(body).digest();
    await backend.put(fidxObjectName(BACKUP, 'vda'), Buffer.concat([body, sha]));
    const d = disk(1000 * CHUNK, sha.toString('hex'));
    const r = await SlotReader.open(backend, BACKUP, d);
    assert.deepEqual(await readAll(r), ids);
    await r.verify();
    assert.equal(body.length, 32 + 1000 * SLOT);
  });
});
