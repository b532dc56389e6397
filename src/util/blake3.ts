/**
 * BLAKE3 of a whole buffer, plain or keyed (32-byte key), 32 bytes out: the
 * chunk id of repositories since config version 2 (docs/repository-format.md).
 *
 * The native addon (native/blake3.c, SIMD, about 1.5–1.9 GB/s per core on
 * this project's machines) computes it; when the addon is not built,
 * hash-wasm's WebAssembly BLAKE3 (about 400 MB/s) does. The WebAssembly
 * module loads asynchronously, so code that may hash without the addon calls
 * `prepareBlake3(key)` once first; the native path needs nothing.
 */
import type { IHasher } from 'hash-wasm';
import { BrankasError } from './errors.js';
import { nativeFunctions } from './native.js';

type Blake3Fn = (data: Uint8Array, key?: Uint8Array) => Buffer;

let native: Blake3Fn | undefined | null = null;
const wasm = new Map<string, IHasher>();

function nativeBlake3(): Blake3Fn | undefined {
  if (native === null) native = nativeFunctions<{ blake3: Blake3Fn }>(['blake3']).fns?.blake3;
  return native;
}

function keyName(key: Uint8Array | undefined): string {
  return key === undefined
    ? ''
    : Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex');
}

/** Which implementation `blake3` uses: "native" or "wasm". */
export function blake3Implementation(): 'native' | 'wasm' {
  return nativeBlake3() ? 'native' : 'wasm';
}

/** Makes `blake3(…, key)` usable without the native addon. Cheap when it is built. */
export async function prepareBlake3(key?: Uint8Array): Promise<void> {
  if (nativeBlake3() || wasm.has(keyName(key))) return;
  const { createBLAKE3 } = await import('hash-wasm');
  wasm.set(keyName(key), await createBLAKE3(256, key));
}

/** BLAKE3(data), or BLAKE3 keyed_hash(key, data) for a 32-byte key. */
export function blake3(data: Uint8Array, key?: Uint8Array): Buffer {
  if (key !== undefined && key.length !== 32) {
    throw new BrankasError('BLAKE3_BAD_KEY', `a BLAKE3 key is 32 bytes, not ${key.length}`);
  }
  const fn = nativeBlake3();
  if (fn) return fn(data, key);
  const h = wasm.get(keyName(key));
  if (!h) {
    throw new BrankasError(
      'BLAKE3_NOT_READY',
      'BLAKE3 without the native addon needs prepareBlake3() first',
    );
  }
  h.init();
  h.update(data);
  return Buffer.from(h.digest('binary'));
}

/** For tests: forget the native addon, so the WebAssembly path runs. */
export function useWasmBlake3ForTesting(on: boolean): void {
  native = on ? undefined : null;
}
