import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { chunkId, decodeRecord, recordCapacity, type CodecKeys } from '../record.js';
import { createCodec, DEFAULT_INLINE_MS } from './pool.js';

const keys: CodecKeys = { idHash: 'blake3', idKey: randomBytes(32), encKey: randomBytes(32) };
const CS = 256 * 1024;

/** Text-like bytes: zstd works on them (noise it gives up on at once). */
function text(seed: number): Buffer {
  const words = ['backup', 'brankas', 'snapshot', 'qcow2', 'restore', 'libvirt', String(seed)];
  let s = '';
  for (let i = 0; s.length < CS; i++) s += words[(i * 7 + seed) % words.length] + ' ' + i + '\n';
  return Buffer.from(s.slice(0, CS));
}

describe('chunk pool: work inline before the threads', () => {
  it('does a small job on the calling thread and starts no thread', async () => {
    const codec = createCodec(2, keys);
    const arena = codec.openArena(recordCapacity(CS), 3);
    try {
      const [plain, rec, back] = [
        await arena.acquire(),
        await arena.acquire(),
        await arena.acquire(),
      ];
      const data = text(1);
      data.copy(plain.buf);
      const id = (await arena.hash(plain, CS))!;
      assert.deepEqual(id, chunkId(data, keys));
      const r = await arena.encode(plain, CS, id, rec);
      assert.deepEqual(decodeRecord(Buffer.from(rec.buf.subarray(0, r.length)), id, keys), data);
      assert.equal(await arena.decode(rec, r.length, id, back), CS);
      assert.deepEqual(back.buf.subarray(0, CS), data);
      assert.deepEqual(await codec.decode(Buffer.from(rec.buf.subarray(0, r.length)), id), data);
      assert.equal((codec as unknown as { started: boolean }).started, false);
    } finally {
      arena.close();
      await codec.close();
    }
  });

  it('starts the threads once its budget is spent, and their results are the same', async () => {
    assert.ok(DEFAULT_INLINE_MS > 0);
    const codec = createCodec(2, keys, { inlineMs: 1 });
    const arena = codec.openArena(recordCapacity(CS), 2);
    try {
      const [plain, rec] = [await arena.acquire(), await arena.acquire()];
      let started = false;
      // 1 ms of zstd and BLAKE3 is far less than 400 chunks of 256 KiB on any machine; the
      // threads then come up while the work goes on inline, and take it once one is.
      for (let i = 0; i < 400; i++) {
        const data = text(i);
        data.copy(plain.buf);
        const id = (await arena.hash(plain, CS))!;
        assert.deepEqual(id, chunkId(data, keys));
        const r = await arena.encode(plain, CS, id, rec);
        const whole = Buffer.from(rec.buf.subarray(0, r.length));
        assert.deepEqual(decodeRecord(whole, id, keys), data);
        started ||= (codec as unknown as { started: boolean }).started;
        if (started && i >= 50) break;
      }
      assert.ok(started, 'the threads were started');
    } finally {
      arena.close();
      await codec.close();
    }
  });
});
