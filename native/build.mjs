// Builds the native addon (native/seek.c) with node-gyp during `npm install` /
// `npm ci`, from the bundled source only. It never downloads: when Node's
// headers are installed beside the running node (as Debian's and the official
// tarballs install them) they are named explicitly, so node-gyp does not try
// to fetch them. A failed build is not fatal: brankas then falls back to
// reading raw images as if fully allocated (see src/image/native.ts).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = ['rebuild', '--directory', here];

const prefix = resolve(dirname(process.execPath), '..');
const configured = process.env.npm_config_nodedir;
if (
  (configured === undefined || configured === '') &&
  existsSync(join(prefix, 'include', 'node', 'node_api.h'))
) {
  args.push(`--nodedir=${prefix}`);
}

// npm names its bundled node-gyp in npm_config_node_gyp during lifecycle
// scripts; run by hand, look for the one bundled with npm beside this node.
const candidates = [
  process.env.npm_config_node_gyp,
  join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
];
const gyp = candidates.find((file) => file !== undefined && file !== '' && existsSync(file));
const result =
  gyp !== undefined
    ? spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit' })
    : spawnSync('node-gyp', args, { stdio: 'inherit' });

if (result.status !== 0) {
  process.stderr.write(
    'brankas: the native addon (native/seek.c) did not build; raw disk images will be read ' +
      'without hole detection (slower, same bytes).\n',
  );
}
