/**
 * What `npm publish` would ship: the library, its addon sources and the guest
 * build script, and no test, no test helper (`src/**\/testing/`) and no test
 * runner. Asks npm itself (`npm pack --dry-run`), so package.json's "files"
 * is what is checked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { repoPath } from './support/guest.js';

const exec = promisify(execFile);

test('the published package holds the library but no test file and no test helper', async () => {
  const { stdout } = await exec('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: repoPath(),
    maxBuffer: 16 * 1024 * 1024,
  });
  const [pack] = JSON.parse(stdout) as [{ files: { path: string }[] }];
  const files = pack.files.map((f) => f.path);
  // The build this test runs from put the helpers into dist: they exist, and are left out.
  assert.ok(existsSync(repoPath('dist', 'src', 'nbd', 'testing', 'index.js')));
  assert.ok(files.includes('dist/src/index.js'));
  assert.ok(files.includes('dist/src/cli/main.js'));
  // The executable is the bundle, with the worker it starts beside it.
  assert.ok(files.includes('dist/cli/brankas.js'));
  assert.ok(files.includes('dist/cli/chunk-worker.js'));
  assert.ok(!files.includes('scripts/bundle.mjs'), 'a build step, not part of the package');
  assert.ok(files.includes('scripts/build-guest.sh'), 'the tiny guest is built from the package');
  const manifest = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as {
    bin: Record<string, string>;
  };
  assert.equal(manifest.bin['brankas'], 'dist/cli/brankas.js');
  const shipped = files.filter(
    (f) => /\.test\.|(^|\/)testing\/|test-support/.test(f) || f === 'scripts/test.sh',
  );
  assert.deepEqual(shipped, []);
});
