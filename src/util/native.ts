/**
 * Loads brankas' own Node-API addon (native/: seek.c, blake3.c, crc32.c, copy-napi.c), built by
 * node-gyp at `npm install` and found beside the package root. Every user of
 * it has a fallback, so a missing or failed build is reported, never thrown.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { findPackageRoot } from './package-root.js';

const ADDON = join('native', 'build', 'Release', 'brankas_native.node');

let loaded: { addon: Record<string, unknown> | undefined; error: unknown } | undefined;

function load(): { addon: Record<string, unknown> | undefined; error: unknown } {
  const root = findPackageRoot();
  if (root === undefined) return { addon: undefined, error: new Error('package root not found') };
  const file = join(root, ADDON);
  if (!existsSync(file)) return { addon: undefined, error: new Error(`${file} is not built`) };
  try {
    const addon = createRequire(join(root, 'package.json'))(file) as Record<string, unknown>;
    return { addon, error: undefined };
  } catch (error) {
    return { addon: undefined, error };
  }
}

/** The addon's functions named `names`, or the reason they are not available. */
export function nativeFunctions<T>(names: readonly string[]): { fns?: T; error?: unknown } {
  loaded ??= load();
  const { addon, error } = loaded;
  if (addon === undefined) return { error };
  for (const name of names) {
    if (typeof addon[name] !== 'function') {
      return { error: new Error(`the native addon lacks ${name} (rebuild it: npm rebuild)`) };
    }
  }
  return { fns: addon as T };
}
