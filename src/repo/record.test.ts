import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { isIntegrityError } from './errors.js';
import {
  chunkId,
  decodeRecord,
  encodeRecord,
  FLAG_ENCRYPTED,
  FLAG_ZSTD,
  isAllZero,
  RECORD_HEADER,
  type CodecKeys,
} from './record.js';

const keys = { idKey: randomBytes(32), encKey: randomBytes(32) };

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
      for (const k of [{} as CodecKeys, keys]) {
        const id = chunkId(plain, k.idKey);
        const rec = encodeRecord(plain, id, k);
        assert.deepEqual(decodeRecord(rec, id, k), plain);
        assert.equal(rec[5]! & FLAG_ENCRYPTED ? 1 : 0, 'encKey' in k ? 1 : 0);
      }
    }
  });

  it('keeps zstd only when it is smaller', () => {
    const text = sample(65536, 1);
    assert.ok(encodeRecord(text, chunkId(text, undefined), {})[5]! & FLAG_ZSTD);
    const noise = randomBytes(65536);
    const rec = encodeRecord(noise, chunkId(noise, undefined), {});
    assert.equal(rec[5]! & FLAG_ZSTD, 0);
    assert.equal(rec.length, RECORD_HEADER + noise.length);
  });

  it('any flipped bit is a REPO_CHUNK_CORRUPT naming the chunk (property)', () => {
    const plain = sample(20000, 7);
    for (const k of [{} as CodecKeys, keys]) {
      const id = chunkId(plain, k.idKey);
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
    const id = chunkId(plain, keys.idKey);
    const rec = encodeRecord(plain, id, keys);
    assert.throws(() => decodeRecord(rec, randomBytes(32), keys), /record holds chunk/);
    assert.throws(
      () => decodeRecord(rec, id, { idKey: keys.idKey, encKey: randomBytes(32) }),
      /tag/,
    );
    assert.throws(() => decodeRecord(rec, id, {}), /encrypted record/);
    assert.throws(() => decodeRecord(rec.subarray(0, rec.length - 1), id, keys), /header says/);
  });

  it('ids: SHA-256 when plain, keyed HMAC when encrypted; zero detection', () => {
    const b = Buffer.from('hello');
    assert.equal(
      chunkId(b, undefined).toString('hex'),
      '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824',
    );
    assert.notDeepEqual(chunkId(b, keys.idKey), chunkId(b, undefined));
    assert.ok(isAllZero(Buffer.alloc(262144)));
    const z = Buffer.alloc(262144);
    z[262143] = 1;
    assert.ok(!isAllZero(z));
  });
});
