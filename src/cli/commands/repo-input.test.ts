/**
 * Bad input to `brankas repo ...` and the password sources: each is one line (never a stack
 * trace), in the user's language with its details, exit 2 for a usage mistake, and checked
 * before anything is printed, asked or created.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LocalBackend } from '../../repo/backend/local.js';
import { TEST_KDF } from '../../repo/keys.js';
import { Repository } from '../../repo/repository.js';
import { withTempDir } from '../../repo/testing/support.js';
import { cli } from '../../../test/support/cli.js';

/** One line on stderr, no stack trace, nothing on stdout. */
function oneLine(r: { stdout: string; stderr: string }): string {
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  return lines[0]!;
}

async function encryptedRepo(dir: string): Promise<string> {
  const repo = join(dir, 'repo');
  const backend = new LocalBackend(repo);
  try {
    await Repository.init(backend, { password: 'pw', kdf: TEST_KDF });
  } finally {
    await backend.close();
  }
  return repo;
}

describe('repo values out of range', () => {
  const cases: [string, string[], RegExp][] = [
    ['--chunk-size 3M', ['--chunk-size', '3M'], /power of two from 64 KiB to 4 MiB, not 3145728/],
    ['--chunk-size 0', ['--chunk-size', '0'], /not 0 bytes/],
    ['--chunk-size 3K', ['--chunk-size', '3K'], /not 3072 bytes/],
    ['--chunk-size " 1M"', ['--chunk-size', ' 1M'], /not a size/],
    ['--compression-level 0x3', ['--compression-level', '0x3'], /from 1 to 19, not 0x3/],
    ['--compression-level 1e1', ['--compression-level', '1e1'], /not 1e1/],
    ['--compression-level " 5"', ['--compression-level', ' 5'], /not {2}5/],
    ['--compression-level 20', ['--compression-level', '20'], /not 20/],
  ];
  for (const [name, args, pattern] of cases) {
    it(`init ${name} is a usage error (exit 2) before the warning, a prompt or a repository`, () =>
      withTempDir(async (dir) => {
        const repo = join(dir, 'r');
        const r = await cli(['repo', 'init', '--repo', repo, '--no-encryption', ...args], {});
        assert.equal(r.code, 2, r.stderr);
        const line = oneLine(r);
        assert.match(line, /^usage error: /);
        assert.match(line, pattern);
        assert.doesNotMatch(r.stderr, /NOT encrypted/);
        assert.equal(existsSync(repo), false);
      }));
  }

  it('init over an existing repository says so before the warning', () =>
    withTempDir(async (dir) => {
      const repo = await encryptedRepo(dir);
      const r = await cli(['repo', 'init', '--repo', repo, '--no-encryption', '--lang', 'id'], {});
      assert.equal(r.code, 1);
      assert.equal(oneLine(r), `galat: sudah ada repositori di ${repo}`);
    }));

  for (const subset of ['0/5', '6/5', '150%', '0%', 'half']) {
    it(`verify --subset ${subset} is a usage error before the repository is opened`, () =>
      withTempDir(async (dir) => {
        // No repository at all: the value is refused first.
        const r = await cli(
          ['repo', 'verify', '--repo', join(dir, 'none'), '--subset', subset],
          {},
        );
        assert.equal(r.code, 2, r.stderr);
        assert.match(oneLine(r), new RegExp(`--subset '${subset.replace('.', '\\.')}' is not n/t`));
      }));
  }

  for (const keep of ['0x3', '1e1', ' 5', '-1', '2.5']) {
    it(`prune --keep-last '${keep}' is a usage error`, () =>
      withTempDir(async (dir) => {
        const r = await cli(
          ['repo', 'prune', '--repo', join(dir, 'none'), '--keep-last', keep],
          {},
        );
        assert.equal(r.code, 2, r.stderr);
        // '-1' looks like an option to the parser: a usage error all the same.
        assert.match(
          oneLine(r),
          keep === '-1' ? /^usage error: / : /--keep-last must be a whole number/,
        );
      }));
  }
});

describe('password sources', () => {
  it('a password file that is missing or a directory is one line naming it', () =>
    withTempDir(async (dir) => {
      const repo = await encryptedRepo(dir);
      await mkdir(join(dir, 'adir'));
      const missing = await cli(['repo', 'verify', '--repo', repo], {
        BRANKAS_PASSWORD_FILE: join(dir, 'nope', 'pw'),
      });
      assert.equal(missing.code, 1);
      assert.equal(
        oneLine(missing),
        `error: BRANKAS_PASSWORD_FILE names ${join(dir, 'nope', 'pw')}, which cannot be read (ENOENT)`,
      );
      const isDir = await cli(['repo', 'verify', '--repo', repo, '--lang', 'id'], {
        BRANKAS_PASSWORD_FILE: join(dir, 'adir'),
      });
      assert.equal(isDir.code, 1);
      assert.match(oneLine(isDir), /^galat: BRANKAS_PASSWORD_FILE menunjuk ke .*adir.*\(EISDIR\)$/);
    }));

  it('a password command that never returns is stopped at the limit, and says so', () =>
    withTempDir(async (dir) => {
      const repo = await encryptedRepo(dir);
      const marker = join(dir, 'still-running');
      const r = await cli(['repo', 'verify', '--repo', repo], {
        BRANKAS_PASSWORD_TIMEOUT: '1',
        // The child of the shell must be stopped too: it would touch the marker after 3 s.
        BRANKAS_PASSWORD_COMMAND: `sleep 3; touch ${marker}`,
      });
      assert.equal(r.code, 1);
      assert.match(oneLine(r), /did not finish within 1 s; it was stopped/);
      await new Promise((resolve) => setTimeout(resolve, 3500));
      assert.equal(existsSync(marker), false, 'the whole process group was stopped');
    }));

  it("a failing password command's error does not repeat the command (it may hold a secret)", () =>
    withTempDir(async (dir) => {
      const repo = await encryptedRepo(dir);
      const r = await cli(['repo', 'verify', '--repo', repo], {
        BRANKAS_PASSWORD_COMMAND: 'test "TOPSECRET" = x',
      });
      assert.equal(r.code, 1);
      const line = oneLine(r);
      assert.match(line, /password command \(BRANKAS_PASSWORD_COMMAND\) failed: exit status 1/);
      assert.doesNotMatch(r.stderr, /TOPSECRET/);
    }));
});

describe('errors in Indonesian keep their details', () => {
  it('a missing repository names its path; an unknown backup names the id', () =>
    withTempDir(async (dir) => {
      const none = join(dir, 'x');
      const b = await cli(['backups', '--repo', none, '--lang', 'id'], {});
      assert.equal(oneLine(b), `galat: tidak ada repositori di ${none}`);
      const repo = await encryptedRepo(dir);
      await writeFile(join(dir, 'pw'), 'pw');
      const r = await cli(['restore', 'nosuch', '--repo', repo, '--lang', 'id'], {
        BRANKAS_PASSWORD_FILE: join(dir, 'pw'),
      });
      assert.equal(r.code, 1);
      assert.match(oneLine(r), /^galat: tidak ada backup ber-id 'nosuch'/);
    }));
});
