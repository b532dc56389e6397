/**
 * Mistakes in how brankas is called, found before any command runs (unknown options, a missing
 * value, a wrong number of arguments), are said in the language asked for, with exit 2, and as
 * one JSON object under --json.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cli } from './support/cli.js';

test('an unknown option is named in Indonesian', async () => {
  const r = await cli(['backup', 'web01', '--nope', '--lang', 'id']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^kesalahan penggunaan: opsi '--nope' tidak dikenal$/m);
  assert.doesNotMatch(r.stderr, /Unknown option|positional/);
});

test('a value that starts with a dash is explained: OPTION=VALUE', async () => {
  const en = await cli(['backup', 'web01', '--freeze-timeout', '-5']);
  assert.equal(en.code, 2);
  assert.match(en.stderr, /option '--freeze-timeout' needs a value; .* --freeze-timeout=VALUE/);
  const id = await cli(['backup', 'web01', '--freeze-timeout', '-5', '--lang', 'id']);
  assert.match(id.stderr, /opsi '--freeze-timeout' perlu nilai; .* --freeze-timeout=NILAI/);
});

test('a missing or an extra argument is said in Indonesian', async () => {
  const missing = await cli(['backup', '--lang', 'id']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /kesalahan penggunaan: VM belum diberikan/);
  const extra = await cli(['backup', 'a', 'b', '--lang', 'id']);
  assert.equal(extra.code, 2);
  assert.match(extra.stderr, /argumen 'b' tidak diharapkan/);
  const flag = await cli(['backup', 'a', '--dry-run=yes', '--lang', 'id']);
  assert.match(flag.stderr, /opsi '--dry-run' tidak menerima nilai/);
});

test('under --json a usage error is one object on stdout, nothing on stderr', async () => {
  const r = await cli(['backup', 'web01', '--nope', '--json']);
  assert.equal(r.code, 2);
  assert.deepEqual(JSON.parse(r.stdout), {
    error: { code: 'USAGE', message: "unknown option '--nope'" },
  });
  assert.equal(r.stderr, '');
});

test("a command's own usage errors are said in Indonesian too", async () => {
  const mode = await cli(['backup', 'web01', '--mode', 'hot', '--lang', 'id']);
  assert.equal(mode.code, 2);
  assert.match(mode.stderr, /kesalahan penggunaan: --mode harus auto, live, cold, bukan 'hot'/);
  const port = await cli(['mount', 'x', '--port', '99999', '--lang', 'id']);
  assert.equal(port.code, 2);
  assert.match(port.stderr, /bukan nomor port: '99999'/);
  const size = await cli(['repo', 'init', '--chunk-size', '3X', '--lang', 'id']);
  assert.equal(size.code, 2);
  assert.match(size.stderr, /bukan ukuran: '3X'/);
});
