import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createBLAKE3 } from 'hash-wasm';
import { blake3, blake3Implementation, prepareBlake3, useWasmBlake3ForTesting } from './blake3.js';

/** Lengths around every boundary of the implementation: blocks (64), chunks
 * (1024), the 16-chunk SIMD batch, the 256-chunk subtree, and tree sizes that
 * are and are not powers of two. */
const LENGTHS = [
  0,
  1,
  63,
  64,
  65,
  1023,
  1024,
  1025,
  2048,
  2049,
  3072,
  3073,
  15 * 1024,
  16 * 1024,
  16 * 1024 + 1,
  17 * 1024,
  31 * 1024 + 5,
  32 * 1024,
  33 * 1024 + 1,
  65536,
  100_000,
  255 * 1024 + 1,
  256 * 1024,
  256 * 1024 + 7,
  33 * 16 * 1024,
  512 * 1024 + 16 * 1024 + 5,
  3 * 256 * 1024,
  1 << 20,
  (1 << 20) + 1024,
  4 << 20,
];
const data = randomBytes((4 << 20) + 4096);
const key = randomBytes(32);

async function witness(input: Uint8Array, k?: Uint8Array): Promise<string> {
  const h = await createBLAKE3(256, k);
  h.init();
  h.update(input);
  return h.digest('hex');
}

describe('BLAKE3', () => {
  it('is the native addon here (the set-up builds it)', () => {
    assert.equal(blake3Implementation(), 'native');
  });

  it('matches the specification’s value for the empty input', () => {
    assert.equal(
      blake3(Buffer.alloc(0)).toString('hex'),
      'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262',
    );
  });

  it('equals hash-wasm’s BLAKE3, plain and keyed, at every boundary and at unaligned offsets', async () => {
    for (const n of LENGTHS) {
      for (const k of [undefined, key]) {
        const input = data.subarray(3, 3 + n);
        assert.equal(blake3(input, k).toString('hex'), await witness(input, k), `${n} bytes`);
      }
    }
  });

  it('equals the b3sum command (the reference Rust implementation), plain and keyed', (t) => {
    if (spawnSync('b3sum', ['--version']).status !== 0) {
      t.skip('b3sum is not installed (scripts/setup.sh installs it)');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'brankas-test-b3-'));
    try {
      for (const n of [0, 1025, 16 * 1024 + 1, 256 * 1024, (1 << 20) + 333]) {
        const file = join(dir, `f${n}`);
        writeFileSync(file, data.subarray(0, n));
        const plain = spawnSync('b3sum', ['--no-names', file], { encoding: 'utf8' });
        assert.equal(plain.stdout.trim(), blake3(data.subarray(0, n)).toString('hex'));
        const keyed = spawnSync('b3sum', ['--keyed', '--no-names', file], {
          input: key,
          encoding: 'utf8',
        });
        assert.equal(keyed.stdout.trim(), blake3(data.subarray(0, n), key).toString('hex'));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a key that is not 32 bytes', () => {
    assert.throws(() => blake3(data, randomBytes(16)), { code: 'BLAKE3_BAD_KEY' });
  });

  it('without the addon, falls back to WebAssembly once prepared, with the same results', async () => {
    useWasmBlake3ForTesting(true);
    try {
      assert.equal(blake3Implementation(), 'wasm');
      assert.throws(() => blake3(data.subarray(0, 10), key), { code: 'BLAKE3_NOT_READY' });
      await prepareBlake3(key);
      await prepareBlake3();
      for (const n of [0, 1025, 256 * 1024 + 7]) {
        for (const k of [undefined, key]) {
          const input = data.subarray(0, n);
          assert.equal(blake3(input, k).toString('hex'), await witness(input, k));
        }
      }
    } finally {
      useWasmBlake3ForTesting(false);
    }
    assert.equal(blake3Implementation(), 'native');
  });
});
