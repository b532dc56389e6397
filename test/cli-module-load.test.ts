/**
 * What a short command loads. `brankas status` once pulled in the service's index, and with it
 * the job database (better-sqlite3), the scheduler (croner) and the whole engine, which doubled
 * its start-up time (0.13 to 0.25 s on a quiet host, bench/fixed-costs.ts). These tests name the
 * heavy modules a command must not load, so such an import cannot come back unseen.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { initPlainRepo, TEST_STATE_DIR } from './support/cli.js';

const run = promisify(execFile);
const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const TRACE = fileURLToPath(new URL('./support/import-trace.js', import.meta.url));

/** Every module URL `brankas ARGS` resolved. */
async function loaded(args: string[]): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'brankas-test-trace-'));
  const file = join(dir, 'trace');
  try {
    await run(process.execPath, ['--import', TRACE, MAIN, ...args], {
      env: {
        ...process.env,
        LANG: 'C',
        BRANKAS_STATE_DIR: TEST_STATE_DIR,
        BRANKAS_TEST_IMPORT_TRACE: file,
      },
    });
    return (await readFile(file, 'utf8')).split('\n').filter(Boolean);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const HEAVY = [
  /node_modules\/better-sqlite3\//,
  /node_modules\/croner\//,
  /node_modules\/@aws-sdk\//,
  /\/src\/engine\/index\.js$/,
  /\/src\/service\/index\.js$/,
];

function heavyIn(urls: string[]): string[] {
  return urls.filter((u) => HEAVY.some((h) => h.test(u)));
}

test('status loads no job database, scheduler or engine index', async () => {
  const urls = await loaded(['status', '--json', '-c', 'test:///default']);
  assert.ok(
    urls.some((u) => u.endsWith('/src/cli/commands/status.js')),
    'the trace works',
  );
  assert.deepEqual(heavyIn(urls), []);
  assert.ok(!urls.some((u) => u.includes('zstd-napi')), 'no repository, no zstd');
});

test('status with a repository loads the repository but none of the heavy rest', async () => {
  const repo = await initPlainRepo();
  try {
    const urls = await loaded(['status', '--json', '-c', 'test:///default', '--repo', repo]);
    assert.ok(
      urls.some((u) => u.endsWith('/src/repo/repository.js')),
      'the repository is read',
    );
    assert.deepEqual(heavyIn(urls), []);
  } finally {
    await rm(repo, { recursive: true, force: true });
  }
});

test('--version loads neither the libvirt client nor the repository', async () => {
  const urls = await loaded(['--version']);
  assert.ok(!urls.some((u) => /\/src\/(libvirt|repo)\//.test(u)), urls.join('\n'));
});
