/**
 * The script a brankas process runs from, for the processes it starts of itself (the internal
 * `serve-export` of `brankas run`, the service's unit): the bundled CLI (dist/cli/brankas.js,
 * built by `npm run build`) when this code runs from it, else the module tree's main.js.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function cliEntry(): string {
  // From the bundle, this module is a chunk beside brankas.js; from the module tree it is
  // dist/src/cli/entry.js, beside main.js (and no brankas.js).
  const bundled = fileURLToPath(new URL('./brankas.js', import.meta.url));
  return existsSync(bundled) ? bundled : fileURLToPath(new URL('./main.js', import.meta.url));
}
