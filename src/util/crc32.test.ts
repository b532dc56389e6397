import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { crc32, crc32Implementation } from './crc32.js';

describe('crc32', () => {
  it('is the native one when the addon is built (CI builds it)', () => {
    assert.equal(crc32Implementation(), 'native');
  });

  it('equals zlib.crc32 at every length to 1 KiB, at every alignment, and in big pieces', () => {
    const data = randomBytes(1 << 20);
    for (let len = 0; len <= 1024; len++) {
      const at = (len * 7) % 64;
      const v = data.subarray(at, at + len);
      assert.equal(crc32(v), zlibCrc32(v), `length ${len} at ${at}`);
    }
    for (const len of [4095, 4096, 65536 + 13, 262144, 262144 + 80, 1 << 20]) {
      const v = data.subarray(0, len);
      assert.equal(crc32(v), zlibCrc32(v), `length ${len}`);
    }
    // Known answer: the standard check value of CRC-32/ISO-HDLC.
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
    assert.equal(crc32(Buffer.alloc(0)), 0);
  });

  it('chains as zlib does, and reads views of shared memory', () => {
    const data = randomBytes(300_000);
    for (const cut of [0, 1, 63, 64, 65, 1000, 299_999]) {
      const first = crc32(data.subarray(0, cut));
      assert.equal(crc32(data.subarray(cut), first), zlibCrc32(data), `cut at ${cut}`);
    }
    const sab = new SharedArrayBuffer(4096);
    const view = Buffer.from(sab, 100, 3000);
    data.copy(view, 0, 0, 3000);
    assert.equal(crc32(view), zlibCrc32(data.subarray(0, 3000)));
    assert.equal(crc32(new Uint8Array(sab, 100, 3000)), zlibCrc32(data.subarray(0, 3000)));
  });
});
