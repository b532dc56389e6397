import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { isIntegrityError } from '../errors.js';
import { chunkId, decodeRecord, recordCapacity, type CodecKeys } from '../record.js';
import { Arena } from './arena.js';
import { createCodec } from './pool.js';

describe('arena', () => {
  it('hands out each slot once, serves waiters in order, refuses a double release', async () => {
    const a = new Arena(16, 2);
    const s1 = await a.acquire();
    const s2 = a.tryAcquire()!;
    assert.notEqual(s1.index, s2.index);
    assert.equal(a.tryAcquire(), undefined);
    const order: number[] = [];
    const w1 = a.acquire().then((s) => (order.push(1), s));
    const w2 = a.acquire().then((s) => (order.push(2), s));
    a.release(s2);
    a.release(s1);
    const [g1, g2] = await Promise.all([w1, w2]);
    assert.deepEqual(order, [1, 2]);
    assert.equal(g1.index, s2.index);
    assert.equal(a.inUse, 2);
    a.release(g1);
    assert.throws(() => a.release(g1), /not in use/);
    // Slots are views of one shared buffer, the same bytes a worker sees.
    g2.buf.write('hello');
    assert.equal(Arena.view(a.sab, 16, g2.index, 5).toString(), 'hello');
  });

  it('counts each time a slot is handed out, also to a waiter', async () => {
    const a = new Arena(16, 1);
    const s = a.tryAcquire()!;
    const first = a.generation(s);
    assert.equal(a.generation(s), first, 'unchanged while held');
    a.release(s);
    assert.equal(a.generation(s), first, 'unchanged while free');
    const again = await a.acquire();
    assert.equal(a.generation(again), first + 1);
    const waiter = a.acquire();
    a.release(again);
    assert.equal(a.generation(await waiter), first + 2);
  });
});

for (const workers of [0, 2]) {
  describe(`codec arena (${workers ? 'worker threads' : 'inline'})`, () => {
    const keys: CodecKeys = { idHash: 'blake3', idKey: randomBytes(32), encKey: randomBytes(32) };

    it('hashes, encodes and decodes in place; damage is reported as such', async () => {
      const codec = createCodec(workers, keys, { inlineMs: 0 });
      const cs = 65536;
      const arena = codec.openArena(recordCapacity(cs), 4);
      try {
        const plain = await arena.acquire();
        const rec = await arena.acquire();
        const back = await arena.acquire();
        const data = Buffer.from('brankas '.repeat(cs / 8));
        data.copy(plain.buf);
        const id = await arena.hash(plain, cs);
        assert.deepEqual(id, chunkId(data, keys));
        assert.equal(await arena.hash(back, 0), undefined, 'an empty chunk counts as zero');
        back.buf.fill(0, 0, 100);
        assert.equal(await arena.hash(back, 100), undefined);
        const r = await arena.encode(plain, cs, id!, rec);
        assert.equal(r.payloadInPlain, false, 'compressed');
        const n = r.length;
        assert.ok(n < cs, 'compressed');
        assert.deepEqual(decodeRecord(Buffer.from(rec.buf.subarray(0, n)), id!, keys), data);
        assert.equal(await arena.decode(rec, n, id!, back), cs);
        assert.deepEqual(back.buf.subarray(0, cs), data);
        // Noise does not compress: unencrypted, only the header is written, the payload is the
        // chunk's slot as it is; encrypted, the ciphertext is in the record's slot.
        const noise = randomBytes(cs);
        noise.copy(plain.buf);
        const nid = (await arena.hash(plain, cs))!;
        const raw = await arena.encode(plain, cs, nid, rec);
        assert.equal(raw.length, cs + 80);
        assert.equal(raw.payloadInPlain, false);
        const whole = Buffer.from(rec.buf.subarray(0, raw.length));
        assert.deepEqual(decodeRecord(whole, nid, keys), noise);
        const plainKeys: CodecKeys = { idHash: 'blake3' };
        const k = createCodec(workers, plainKeys, { inlineMs: 0 });
        const a2 = k.openArena(recordCapacity(cs), 2);
        try {
          const [p2, r2] = [await a2.acquire(), await a2.acquire()];
          noise.copy(p2.buf);
          const id2 = (await a2.hash(p2, cs))!;
          const e = await a2.encode(p2, cs, id2, r2);
          assert.deepEqual(e, { length: cs + 52, payloadInPlain: true });
          const rebuilt = Buffer.concat([r2.buf.subarray(0, 52), p2.buf.subarray(0, cs)]);
          assert.deepEqual(decodeRecord(rebuilt, id2, plainKeys), noise);
        } finally {
          a2.close();
          await k.close();
        }
        rec.buf.fill(0);
        const again = await arena.encode(plain, cs, nid, rec);
        const m = again.length;
        assert.equal(await arena.decode(rec, m, nid, back), cs);
        rec.buf[m - 1]! ^= 1;
        await assert.rejects(arena.decode(rec, m, nid, back), (e) => isIntegrityError(e));
      } finally {
        arena.close();
        await codec.close();
      }
    });
  });
}
