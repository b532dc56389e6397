/**
 * CRC-32 (zlib's: IEEE polynomial, pre- and post-inverted, chainable), the
 * checksum of records, packs and indexes (docs/repository-format.md). The
 * native addon (native/crc32.c) folds 64 bytes at a time with carry-less
 * multiplication where the CPU has it; Node's zlib.crc32 (about 1.9 GB/s here)
 * is the fallback when the addon is not built.
 */
import { crc32 as zlibCrc32 } from 'node:zlib';
import { nativeFunctions } from './native.js';

type Crc32Fn = (data: Uint8Array, crc?: number) => number;

let native: Crc32Fn | undefined | null = null;

function nativeCrc32(): Crc32Fn | undefined {
  if (native === null) native = nativeFunctions<{ crc32: Crc32Fn }>(['crc32']).fns?.crc32;
  return native;
}

/** Which implementation `crc32` uses: "native" or "zlib". */
export function crc32Implementation(): 'native' | 'zlib' {
  return nativeCrc32() ? 'native' : 'zlib';
}

/** CRC-32 of data, continuing from `crc` (the CRC of what came before; default 0). */
export function crc32(data: Uint8Array, crc = 0): number {
  const fn = nativeCrc32();
  return fn ? fn(data, crc) : zlibCrc32(data, crc);
}
