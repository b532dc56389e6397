/**
 * The package root: the first directory above the running module that holds a package.json.
 * The same from the compiled module tree (dist/src/…) and from the bundled CLI (dist/cli/), so
 * files that ship beside the code (the native addon, the dashboard's client, the test guest's
 * cache) are found from either.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let found: string | null | undefined;

/** The package root, or undefined when no package.json is above this module. */
export function findPackageRoot(): string | undefined {
  if (found !== undefined) return found ?? undefined;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) {
      found = dir;
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) {
      found = null;
      return undefined;
    }
    dir = parent;
  }
}
