import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

describe('run-policy', () => {
  it('the service front door loads no engine until a policy runs (a backup command does not load restore, instant, files, mount or lab)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'brankas-test-loads-'));
    try {
      // A module hook that notes every module loaded, in a file.
      const log = join(dir, 'loaded');
      await writeFile(
        join(dir, 'hooks.mjs'),
        `import { appendFileSync } from 'node:fs';\n` +
          `export async function load(url, context, next) {\n` +
          `  appendFileSync(${JSON.stringify(log)}, url + '\\n');\n` +
          `  return next(url, context);\n}\n`,
      );
      await writeFile(
        join(dir, 'register.mjs'),
        `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`,
      );
      const front = new URL('../index.js', import.meta.url).href;
      await run(process.execPath, [
        '--import',
        join(dir, 'register.mjs'),
        '--input-type=module',
        '-e',
        `await import(${JSON.stringify(front)});`,
      ]);
      const loaded = (await readFile(log, 'utf8')).split('\n');
      assert.ok(
        loaded.some((u) => u.endsWith('/service/schedule/run-policy.js')),
        'the hook saw the service load',
      );
      const engine = loaded.filter((u) => /\/engine\/(restore|instant|files|mount|lab)\//.test(u));
      assert.deepEqual(engine, []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
