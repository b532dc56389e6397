import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { copyBytes, copyImplementation } from './copy.js';

describe('copyBytes', () => {
  it('is the native addon here (the set-up builds it)', () => {
    assert.equal(copyImplementation(), 'native');
  });

  it('copies between plain and shared memory, at offsets of views, whole or empty', () => {
    const sab = new SharedArrayBuffer(1 << 20);
    const shared = Buffer.from(sab, 4096, 512 * 1024); // a slot-like view, not at offset 0
    const plain = randomBytes(300_000);
    copyBytes(shared, 7, plain.subarray(11)); // into shared, both views offset
    assert.ok(shared.subarray(7, 7 + plain.length - 11).equals(plain.subarray(11)));
    assert.equal(Buffer.from(sab)[4096 + 6], 0, 'nothing before the offset');
    const back = Buffer.alloc(400_000, 0xee);
    copyBytes(back.subarray(5), 3, shared.subarray(7, 7 + 250_000)); // out of shared
    assert.ok(back.subarray(8, 8 + 250_000).equals(plain.subarray(11, 11 + 250_000)));
    assert.equal(back[7], 0xee);
    assert.equal(back[8 + 250_000], 0xee);
    copyBytes(back, back.length, new Uint8Array(0)); // empty, at the very end
  });

  it('refuses what does not fit, a negative offset and non-views', () => {
    const target = Buffer.alloc(10);
    assert.throws(() => copyBytes(target, 5, Buffer.alloc(6)), RangeError);
    assert.throws(() => copyBytes(target, 11, Buffer.alloc(0)), RangeError);
    assert.throws(() => copyBytes(target, -1, Buffer.alloc(1)), RangeError);
    assert.throws(() => copyBytes({} as Uint8Array, 0, Buffer.alloc(1)), TypeError);
    assert.deepEqual(target, Buffer.alloc(10), 'untouched');
  });
});
