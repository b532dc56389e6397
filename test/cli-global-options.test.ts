/**
 * Global options (--lang, --json, -c) work before the command as well as after it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cli } from './support/cli.js';

test('global options before the command are taken as if they came after it', async () => {
  const before = await cli(['--lang', 'id', '--json', '-c', 'test:///default', 'inventory']);
  const after = await cli(['inventory', '--lang', 'id', '--json', '-c', 'test:///default']);
  assert.equal(before.code, 0, before.stderr);
  assert.deepEqual(JSON.parse(before.stdout), JSON.parse(after.stdout));
});

test('an unknown command after global options is named in the language asked for', async () => {
  const r = await cli(['--lang=id', 'nosuch']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /perintah 'nosuch' tidak dikenal/);
});
