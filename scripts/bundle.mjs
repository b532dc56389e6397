// Bundles the compiled CLI (dist/src, from tsc) into dist/cli/ with esbuild: brankas.js (the
// `brankas` executable), chunk-worker.js (the repository's compression and hashing worker) and
// shared chunks, one per piece loaded on demand, so a command still loads only what it uses.
// Node then reads a few files instead of about 190 modules: about 90 ms less start-up for
// every command (docs/benchmarks.md, "Fixed costs"). npm packages stay outside the bundle, as
// they are; dist/src stays the library (package.json's exports) and what the unit tests run.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'cli');
rmSync(out, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  // The worker must sit beside the chunk that starts it (src/repo/workers/pool.ts finds it as
  // ./chunk-worker.js next to itself), so entries and chunks share one folder.
  entryPoints: {
    brankas: 'dist/src/cli/main.js',
    'chunk-worker': 'dist/src/repo/workers/chunk-worker.js',
  },
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  // Class and function names kept: error names and codes are part of the output.
  keepNames: true,
  logLevel: 'warning',
});
