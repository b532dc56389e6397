import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { TransferListItem, Worker } from 'node:worker_threads';
import { chunkId, decodeRecord, recordCapacity, type CodecKeys } from '../record.js';
import { createCodec, DEFAULT_INLINE_MS, ownBuffer } from './pool.js';

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

describe('chunk pool: records sent to the threads', () => {
  it('a record that is a view into a larger buffer goes alone; the larger buffer stays whole', async () => {
    const codec = createCodec(1, keys, { inlineMs: 0 });
    const arena = codec.openArena(recordCapacity(CS), 2);
    try {
      const [plain, rec] = [await arena.acquire(), await arena.acquire()];
      const data = text(5);
      data.copy(plain.buf);
      const id = (await arena.hash(plain, CS))!;
      const length = (await arena.encode(plain, CS, id, rec)).length;
      // The record inside a larger buffer, as a record read out of a pack held whole.
      const big = Buffer.alloc(4 * 1024 * 1024);
      rec.buf.copy(big, 1000, 0, length);
      const view = big.subarray(1000, 1000 + length);
      // Until a thread is up, the work is done inline; then it goes to the thread.
      const pool = codec as unknown as { online: boolean; workers: { w: Worker }[] };
      for (let i = 0; !pool.online; i++) {
        assert.ok(i < 5000, 'no chunk thread came up');
        await codec.decode(view, id);
        await new Promise((r) => setTimeout(r, 2));
      }
      const sent: number[] = [];
      const w = pool.workers[0]!.w;
      const post = w.postMessage.bind(w);
      w.postMessage = (req: { buf?: Uint8Array }, transfer?: readonly TransferListItem[]) => {
        if (req.buf) sent.push(req.buf.buffer.byteLength);
        post(req, transfer);
      };
      assert.deepEqual(await codec.decode(view, id), data);
      assert.deepEqual(sent, [length]);
      assert.equal(big.buffer.byteLength, 4 * 1024 * 1024);
      assert.deepEqual(big.subarray(1000, 1000 + length), rec.buf.subarray(0, length));
    } finally {
      arena.close();
      await codec.close();
    }
  });

  it('ownBuffer copies a view and passes a whole buffer through', () => {
    const whole = new Uint8Array(100);
    assert.equal(ownBuffer(whole), whole);
    const view = Buffer.alloc(10_000).subarray(5, 50);
    const own = ownBuffer(view);
    assert.equal(own.buffer.byteLength, 45);
    assert.deepEqual(Buffer.from(own), view);
  });
});
