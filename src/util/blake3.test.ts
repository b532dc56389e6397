import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
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

  it('every kernel the addon can pick (AVX-512, AVX2, baseline) equals hash-wasm, built apart with cc', async (t) => {
    // The addon runs only the kernel this CPU supports best; each is built here into a small
    // program that forces its choice (BRANKAS_BLAKE3_KERNEL), and run where the CPU has it.
    const native = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'native');
    if (spawnSync('cc', ['--version']).status !== 0) {
      t.skip('no C compiler (the set-up installs one for the addon)');
      return;
    }
    const flags = readFileSync('/proc/cpuinfo', 'utf8');
    const dir = mkdtempSync(join(tmpdir(), 'brankas-test-b3k-'));
    try {
      const main = join(dir, 'main.c');
      writeFileSync(
        main,
        `#include <stdio.h>
#include <stdlib.h>
#include "blake3.h"
int main(int argc, char **argv) {
  FILE *f = fopen(argv[1], "rb");
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  unsigned char *b = malloc(n + 1), out[32];
  if (fread(b, 1, n, f) != (size_t)n) return 1;
  for (int k = 0; k < 2; k++) {
    unsigned char key[32];
    for (int i = 0; i < 32; i++) key[i] = (unsigned char)(i * 7 + 1);
    brankas_blake3(b, n, k ? key : NULL, out);
    for (int i = 0; i < 32; i++) printf("%02x", out[i]);
    printf("\\n");
  }
  return 0;
}
`,
      );
      const input = join(dir, 'input');
      const kernelKey = Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7 + 1));
      const kernels = [
        { id: 16, cpu: /\bavx512f\b/ },
        { id: 82, cpu: /\bavx2\b/ },
        { id: 8, cpu: /./ },
      ];
      let ran = 0;
      for (const { id, cpu } of kernels) {
        if (!cpu.test(flags)) continue;
        const exe = join(dir, `k${id}`);
        const cc = spawnSync(
          'cc',
          [
            '-O2',
            `-DBRANKAS_BLAKE3_KERNEL=${id}`,
            `-I${native}`,
            '-o',
            exe,
            main,
            join(native, 'blake3.c'),
          ],
          { encoding: 'utf8' },
        );
        assert.equal(cc.status, 0, cc.stderr);
        for (const n of [
          0,
          1025,
          8 * 1024,
          8 * 1024 + 1,
          24 * 1024 + 5,
          256 * 1024,
          3 * 256 * 1024 + 9,
        ]) {
          writeFileSync(input, data.subarray(0, n));
          const got = spawnSync(exe, [input], { encoding: 'utf8' }).stdout.trim().split('\n');
          assert.deepEqual(
            got,
            [await witness(data.subarray(0, n)), await witness(data.subarray(0, n), kernelKey)],
            `kernel ${id}, ${n} bytes`,
          );
        }
        ran++;
      }
      assert.ok(ran >= 1);
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
