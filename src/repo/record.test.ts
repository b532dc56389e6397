import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { createBLAKE3 } from 'hash-wasm';
import { describe, it } from 'node:test';
import { isIntegrityError } from './errors.js';
import {
  chunkId,
  compressionCounters,
  decodeRecord,
  encodeRecord,
  encodeRecordInto,
  FLAG_ENCRYPTED,
  FLAG_ZSTD,
  isAllZero,
  RECORD_HEADER,
  recordCapacity,
  type CodecKeys,
} from './record.js';

const plainKeys: CodecKeys = { idHash: 'blake3' };
const ZERO = Buffer.alloc(32);
const keys: CodecKeys = { idHash: 'blake3', idKey: randomBytes(32), encKey: randomBytes(32) };
/** Every kind of repository: BLAKE3 (version 2) and SHA-256 (version 1), plain and encrypted. */
const allKeys: CodecKeys[] = [
  plainKeys,
  keys,
  { idHash: 'sha256' },
  { idHash: 'sha256', idKey: randomBytes(32), encKey: randomBytes(32) },
];

function sample(n: number, seed: number): Buffer {
  // Compressible but not trivial: text-like bytes.
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = 97 + ((x >>> 16) % (i % 7 === 0 ? 26 : 4));
  }
  return b;
}

describe('chunk records', () => {
  it('round-trip for every size, plain and encrypted, compressible or not (property)', () => {
    for (let i = 0; i < 60; i++) {
      const n = [0, 1, 2, 31, 4096, 65536, 262144][i % 7]! + (i % 3);
      const plain = i % 2 ? sample(n, i) : randomBytes(n);
      for (const k of allKeys) {
        const id = chunkId(plain, k);
        const rec = encodeRecord(plain, id, k);
        assert.deepEqual(decodeRecord(rec, id, k), plain);
        assert.equal(rec[5]! & FLAG_ENCRYPTED ? 1 : 0, k.encKey ? 1 : 0);
      }
    }
  });

  it('encodes into and decodes into reused buffers, byte for byte as the allocating forms', () => {
    const dst = Buffer.alloc(recordCapacity(65536 + 7));
    const out = Buffer.alloc(65536 + 7);
    for (const k of allKeys) {
      for (const plain of [sample(65536 + 7, 3), randomBytes(4096), Buffer.alloc(0)]) {
        const id = chunkId(plain, k);
        dst.fill(0xee);
        const n = encodeRecordInto(plain, id, k, dst);
        const rec = dst.subarray(0, n);
        const again = encodeRecord(plain, id, k);
        // Encrypted records differ by nonce; the rest of the shape is the same.
        assert.equal(n, again.length);
        if (!k.encKey) assert.deepEqual(rec, again);
        out.fill(0xdd);
        const got = decodeRecord(rec, id, k, out);
        assert.equal(got.buffer, out.buffer, 'decoded into the given buffer');
        assert.deepEqual(got, plain);
      }
    }
    assert.throws(() => encodeRecordInto(sample(100, 1), ZERO, plainKeys, Buffer.alloc(120)));
  });

  it('stores chunks uncompressed at level 0', () => {
    const text = sample(65536, 1);
    const k: CodecKeys = { idHash: 'blake3', zstdLevel: 0 };
    const id = chunkId(text, k);
    const rec = encodeRecord(text, id, k);
    assert.equal(rec[5]! & FLAG_ZSTD, 0);
    assert.equal(rec.length, RECORD_HEADER + text.length);
    assert.deepEqual(decodeRecord(rec, id, plainKeys), text);
    // A higher level stores less and decodes with the same reader.
    const l1 = encodeRecord(text, id, plainKeys);
    const l9 = encodeRecord(text, id, { idHash: 'blake3', zstdLevel: 9 });
    assert.ok(l9.length <= l1.length && l1.length < rec.length);
    assert.deepEqual(decodeRecord(l9, id, plainKeys), text);
  });

  it('after a chunk that did not shrink, samples decide: noise is stored without zstd, anything compressible is still compressed', () => {
    const noise = (): Buffer => randomBytes(256 * 1024);
    const flagsOf = (b: Buffer, k: CodecKeys): number => encodeRecord(b, chunkId(b, k), k)[5]!;
    for (const k of [plainKeys, keys]) {
      flagsOf(noise(), k); // a first chunk of noise: zstd tried whole, and it did not shrink
      const before = { ...compressionCounters };
      for (let i = 0; i < 5; i++) assert.equal(flagsOf(noise(), k) & FLAG_ZSTD, 0);
      assert.equal(compressionCounters.whole - before.whole, 0, 'noise after noise: no whole zstd');
      assert.equal(compressionCounters.skipped - before.skipped, 5);
      // Compressible data in only one of the sampled places (the middle), after noise: compressed.
      const mixed = noise();
      mixed.fill(0, mixed.length / 2 - 32 * 1024, mixed.length / 2 + 32 * 1024);
      const rec = encodeRecord(mixed, chunkId(mixed, k), k);
      assert.ok(rec[5]! & FLAG_ZSTD, 'compressed');
      assert.deepEqual(decodeRecord(rec, chunkId(mixed, k), k), mixed);
      // Text after that: its samples shrink, so it is compressed whole.
      const text = sample(256 * 1024, 4);
      const wholeBefore = compressionCounters.whole;
      assert.ok(flagsOf(text, k) & FLAG_ZSTD);
      assert.equal(compressionCounters.whole - wholeBefore, 1);
    }
  });

  it('keeps zstd only when it is smaller', () => {
    const text = sample(65536, 1);
    assert.ok(encodeRecord(text, chunkId(text, plainKeys), plainKeys)[5]! & FLAG_ZSTD);
    const noise = randomBytes(65536);
    const rec = encodeRecord(noise, chunkId(noise, plainKeys), plainKeys);
    assert.equal(rec[5]! & FLAG_ZSTD, 0);
    assert.equal(rec.length, RECORD_HEADER + noise.length);
  });

  it('any flipped bit is a REPO_CHUNK_CORRUPT naming the chunk (property)', () => {
    const plain = sample(20000, 7);
    for (const k of allKeys) {
      const id = chunkId(plain, k);
      const rec = encodeRecord(plain, id, k);
      for (let t = 0; t < 200; t++) {
        const bad = Buffer.from(rec);
        const bit = Math.floor(Math.random() * bad.length * 8);
        bad[bit >> 3]! ^= 1 << (bit & 7);
        assert.throws(
          () => decodeRecord(bad, id, k),
          (e) =>
            isIntegrityError(e) &&
            e.code === 'REPO_CHUNK_CORRUPT' &&
            e.where.chunk === id.toString('hex'),
        );
      }
    }
  });

  it('a record under another id, or read with the wrong keys, is refused', () => {
    const plain = sample(5000, 3);
    const id = chunkId(plain, keys);
    const rec = encodeRecord(plain, id, keys);
    assert.throws(() => decodeRecord(rec, randomBytes(32), keys), /record holds chunk/);
    assert.throws(() => decodeRecord(rec, id, { ...keys, encKey: randomBytes(32) }), /tag/);
    assert.throws(() => decodeRecord(rec, id, plainKeys), /encrypted record/);
    // The same bytes under the other hash are not this chunk.
    assert.throws(() => decodeRecord(rec, id, { ...keys, idHash: 'sha256' }), /does not match/);
    assert.throws(() => decodeRecord(rec.subarray(0, rec.length - 1), id, keys), /header says/);
  });

  it('ids: BLAKE3 or SHA-256, keyed when encrypted, as independent implementations compute them; zero detection', async () => {
    const b = Buffer.from('hello');
    assert.equal(
      chunkId(b, { idHash: 'sha256' }).toString('hex'),
      '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824',
    );
    const key = randomBytes(32);
    assert.deepEqual(
      chunkId(b, { idHash: 'sha256', idKey: key }),
      createHmac('sha256', key).update(b).digest(),
    );
    for (const data of [b, sample(262144 + 5, 9)]) {
      for (const k of [undefined, key]) {
        const witness = await createBLAKE3(256, k);
        witness.init();
        witness.update(data);
        assert.equal(
          chunkId(data, { idHash: 'blake3', idKey: k }).toString('hex'),
          witness.digest('hex'),
        );
      }
    }
    assert.notDeepEqual(chunkId(b, keys), chunkId(b, plainKeys));
    assert.ok(isAllZero(Buffer.alloc(262144)));
    const z = Buffer.alloc(262144);
    z[262143] = 1;
    assert.ok(!isAllZero(z));
  });
});
