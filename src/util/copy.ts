/**
 * copyBytes: source into target at targetOffset. Where either side lives in a
 * SharedArrayBuffer (the arena slots of src/repo/workers/arena.ts), V8 copies
 * with a relaxed-atomic memmove, word by word: 10 % of a 1 GiB restore's CPU
 * samples (perf), against 6.5 % for libc's memmove (the copies are bound by
 * memory): the restore took 1.5-2.4 % less CPU (perf stat, two pairs of
 * runs). The native addon (native/copy-napi.c) copies with memmove;
 * Uint8Array.set is the fallback when it is not built. The caller must own
 * both ranges for the duration.
 */
import { nativeFunctions } from './native.js';

type CopyFn = (target: Uint8Array, targetOffset: number, source: Uint8Array) => void;

let native: CopyFn | undefined | null = null;

function nativeCopy(): CopyFn | undefined {
  if (native === null)
    native = nativeFunctions<{ copyBytes: CopyFn }>(['copyBytes']).fns?.copyBytes;
  return native;
}

/** Which implementation `copyBytes` uses: "native" or "js". */
export function copyImplementation(): 'native' | 'js' {
  return nativeCopy() ? 'native' : 'js';
}

/** Copies all of source into target from targetOffset; a RangeError when it does not fit. */
export function copyBytes(target: Uint8Array, targetOffset: number, source: Uint8Array): void {
  const fn = nativeCopy();
  if (fn) fn(target, targetOffset, source);
  else target.set(source, targetOffset);
}
