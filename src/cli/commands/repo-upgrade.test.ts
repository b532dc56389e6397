/**
 * `brankas repo upgrade` and auth keys from the command line, in-process as a
 * script would run them: an older unencrypted repository warns until upgraded,
 * and a repository whose auth key is kept outside needs BRANKAS_AUTH_KEY_FILE.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LocalBackend } from '../../repo/backend/local.js';
import { peekConfig, sealConfig, type RepoConfig } from '../../repo/config.js';
import { Repository } from '../../repo/repository.js';
import { backupBytes, realisticBytes, withTempDir } from '../../repo/testing/support.js';
import { cli } from '../../../test/support/cli.js';

const DATA = realisticBytes(256 * 1024, 5);

/** An unencrypted repository as earlier releases wrote it (version 2), with one backup. */
async function olderRepo(dir: string): Promise<string> {
  const b = new LocalBackend(dir);
  try {
    await Repository.init(b, { password: undefined, chunkSize: 64 * 1024 });
    const c: Partial<RepoConfig> = { ...peekConfig(await b.get('config')) };
    delete c.authentication;
    await b.put('config', sealConfig({ ...c, version: 2 } as RepoConfig, undefined));
    await b.delete('keys/auth');
  } finally {
    await b.close();
  }
  const repo = await Repository.open(new LocalBackend(dir), { workers: 0 });
  try {
    return await backupBytes(repo, DATA);
  } finally {
    await repo.close();
  }
}

describe('brankas repo upgrade', () => {
  it('an older unencrypted repository warns (English, Indonesian) until repo upgrade signs it', () =>
    withTempDir(async (dir) => {
      const env = { BRANKAS_REPO: join(dir, 'repo') };
      await olderRepo(env.BRANKAS_REPO);
      const before = await cli(['repo', 'verify'], env);
      assert.equal(before.code, 0, before.stderr);
      assert.match(before.stderr, /is not authenticated .*Run brankas repo upgrade/);
      const id = await cli(['repo', 'verify', '--lang', 'id'], env);
      assert.match(id.stderr, /tidak terautentikasi/);

      const up = await cli(['repo', 'upgrade', '--json'], env);
      assert.equal(up.code, 0, up.stderr);
      const r = JSON.parse(up.stdout) as { upgraded: boolean; signed: string[] };
      assert.equal(r.upgraded, true);
      assert.equal(r.signed.length, 1);
      const after = await cli(['repo', 'verify'], env);
      assert.equal(after.code, 0, after.stderr);
      assert.equal(after.stderr, '');
      const info = await cli(['repo', 'info'], env);
      assert.match(info.stdout, /v3, .*none, auth key repository/);
      const again = await cli(['repo', 'upgrade'], env);
      assert.match(again.stdout, /authenticated already \(format version 3\)/);
    }));

  it('init --auth-key-file keeps the key outside: commands need BRANKAS_AUTH_KEY_FILE and say so', () =>
    withTempDir(async (dir) => {
      const key = join(dir, 'auth.key');
      const env = { BRANKAS_REPO: join(dir, 'repo') };
      const init = await cli(['repo', 'init', '--no-encryption', '--auth-key-file', key], env);
      assert.equal(init.code, 0, init.stderr);
      const refused = await cli(['repo', 'init', '--auth-key-file', key], {
        BRANKAS_REPO: join(dir, 'other'),
      });
      assert.equal(refused.code, 2, 'an encrypted repository takes no auth key');

      const without = await cli(['repo', 'verify'], env);
      assert.equal(without.code, 1);
      assert.match(without.stderr, /needs the auth key .*set BRANKAS_AUTH_KEY_FILE/);
      const idn = await cli(['repo', 'verify', '--lang', 'id'], env);
      assert.match(idn.stderr, /memerlukan kunci autentikasi/);
      const withKey = await cli(['repo', 'verify'], { ...env, BRANKAS_AUTH_KEY_FILE: key });
      assert.equal(withKey.code, 0, withKey.stderr);

      // The key of this repository does not open another one.
      const other = join(dir, 'other');
      assert.equal(
        (await cli(['repo', 'init', '--no-encryption'], { BRANKAS_REPO: other })).code,
        0,
      );
      const wrong = await cli(['repo', 'verify'], {
        BRANKAS_REPO: other,
        BRANKAS_AUTH_KEY_FILE: key,
      });
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /does not authenticate the repository/);
    }));
});
