/**
 * Authenticated unencrypted repositories (docs/repository-format.md,
 * "Authentication of unencrypted repositories"): forged manifests are refused,
 * older repositories still open (with a warning) and are upgraded by
 * upgradeRepository, and an auth key kept outside the repository refuses a
 * repository replaced or downgraded by someone without it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AUTH_KEY_OBJECT, authMacKey, parseAuthKey } from './auth-key.js';
import { LocalBackend } from './backend/local.js';
import { peekConfig, sealConfig, type RepoConfig } from './config.js';
import type { Envelope } from './envelope.js';
import { TEST_KDF } from './keys.js';
import { RepoLock } from './lock.js';
import { manifestObjectName, sealManifest, type Manifest } from './manifest.js';
import { Repository, type OpenOptions } from './repository.js';
import { backupBytes, readBack, realisticBytes, withTempDir } from './testing/support.js';
import { upgradeRepository } from './upgrade.js';
import { verifyRepository } from './verify.js';
import type { RepoWarning } from './warnings.js';

const DATA = realisticBytes(256 * 1024, 3);
const OTHER = realisticBytes(256 * 1024, 4);

/** Runs fn on an open repository at dir, closed afterwards; the warnings it gave. */
async function withOpen<T>(
  dir: string,
  o: OpenOptions,
  fn: (repo: Repository, warnings: RepoWarning[]) => Promise<T>,
): Promise<T> {
  const warnings: RepoWarning[] = [];
  const repo = await Repository.open(new LocalBackend(dir), {
    workers: 0,
    ...o,
    onWarning: (w) => warnings.push(w),
  });
  try {
    return await fn(repo, warnings);
  } finally {
    await repo.close();
  }
}

async function init(dir: string, authKeyFile?: string): Promise<void> {
  const b = new LocalBackend(dir);
  try {
    await Repository.init(b, {
      password: undefined,
      chunkSize: 64 * 1024,
      ...(authKeyFile ? { authKeyFile } : {}),
    });
  } finally {
    await b.close();
  }
}

/** Makes the repository at dir what earlier releases wrote: version `version`, no auth key. */
async function makeOlder(dir: string, version: 1 | 2): Promise<void> {
  const b = new LocalBackend(dir);
  try {
    const c: Partial<RepoConfig> = { ...peekConfig(await b.get('config')) };
    delete c.authentication;
    const older = { ...c, version, chunkHash: version === 1 ? 'sha256' : 'blake3' } as RepoConfig;
    await b.put('config', sealConfig(older, undefined));
    await b.delete(AUTH_KEY_OBJECT);
  } finally {
    await b.close();
  }
}

/**
 * What the issue's probe did: edit a manifest (here: point its disk at another backup's fixed
 * index, so it would restore other data) and recompute its SHA-256.
 */
async function forge(dir: string, id: string, from: string): Promise<void> {
  const path = join(dir, manifestObjectName(id));
  const env = JSON.parse(await readFile(path, 'utf8')) as Envelope;
  const m = JSON.parse(env.body) as Manifest;
  const donor = JSON.parse(
    (JSON.parse(await readFile(join(dir, manifestObjectName(from)), 'utf8')) as Envelope).body,
  ) as Manifest;
  m.disks[0]!.indexSha256 = donor.disks[0]!.indexSha256;
  await writeFile(
    join(dir, 'backups', id, 'vda.fidx'),
    await readFile(join(dir, 'backups', from, 'vda.fidx')),
  );
  env.body = JSON.stringify(m, null, 2);
  env.mac = `sha256:${createHash('sha256').update(`brankas/1 brankas-manifest\n${env.body}`).digest('hex')}`;
  await writeFile(path, JSON.stringify(env, null, 2) + '\n');
}

describe('authenticated unencrypted repositories', () => {
  it('a manifest edited and its SHA-256 recomputed is refused: verify reports it and nothing restores from it', () =>
    withTempDir(async (dir) => {
      const repoDir = join(dir, 'repo');
      await init(repoDir);
      const [a, b] = await withOpen(repoDir, {}, async (repo) => [
        await backupBytes(repo, DATA),
        await backupBytes(repo, OTHER),
      ]);
      await forge(repoDir, a, b);
      await withOpen(repoDir, {}, async (repo, warnings) => {
        assert.deepEqual(warnings, []);
        assert.equal(repo.config.version, 3);
        const report = await verifyRepository(repo, { readData: true });
        assert.equal(report.ok, false);
        assert.deepEqual(
          report.problems.map((p) => [p.code, p.backup]),
          [['REPO_MANIFEST_CORRUPT', a]],
        );
        await assert.rejects(readBack(repo, a), { code: 'REPO_MANIFEST_CORRUPT' });
        const { backups } = await repo.listBackups();
        assert.deepEqual(
          backups.map((x) => x.id),
          [b],
        );
        assert.ok((await readBack(repo, b)).equals(OTHER));
      });
    }));

  for (const version of [1, 2] as const) {
    it(`an older repository (version ${version}) still opens and reads with a warning; upgraded, it refuses forged manifests`, () =>
      withTempDir(async (dir) => {
        const repoDir = join(dir, 'repo');
        await init(repoDir);
        await makeOlder(repoDir, version);
        const [a, b] = await withOpen(repoDir, {}, async (repo, warnings) => {
          assert.deepEqual(
            warnings.map((w) => w.code),
            ['REPO_UNAUTHENTICATED'],
          );
          const ids = [await backupBytes(repo, DATA), await backupBytes(repo, OTHER)];
          assert.ok((await readBack(repo, ids[0]!)).equals(DATA));
          return ids;
        });
        // Before the upgrade, the forgery goes through: that is what the upgrade is for.
        await forge(repoDir, a!, b!);
        await withOpen(repoDir, {}, async (repo) => {
          assert.ok((await readBack(repo, a!)).equals(OTHER));
        });
        await withOpen(repoDir, {}, async (repo) => {
          const c = await backupBytes(repo, DATA);
          const r = await upgradeRepository(new LocalBackend(repoDir));
          assert.equal(r.upgraded, true);
          assert.deepEqual(r.signed, [a, b, c].sort());
          assert.deepEqual(await upgradeRepository(new LocalBackend(repoDir)), {
            upgraded: false,
            version: 3,
            authentication: 'repository',
            signed: [],
            alreadySigned: [],
            damaged: [],
          });
        });
        await forge(repoDir, b!, a!);
        await withOpen(repoDir, {}, async (repo, warnings) => {
          assert.deepEqual(warnings, []);
          assert.equal(repo.config.version, 3);
          assert.equal(repo.config.chunkHash, version === 1 ? 'sha256' : 'blake3');
          await assert.rejects(readBack(repo, b!), { code: 'REPO_MANIFEST_CORRUPT' });
          // Signed at the upgrade, the earlier forgery stays: the upgrade trusts what it finds.
          assert.ok((await readBack(repo, a!)).equals(OTHER));
          const report = await verifyRepository(repo);
          assert.deepEqual(
            report.problems.map((p) => [p.code, p.backup]),
            [['REPO_MANIFEST_CORRUPT', b]],
          );
        });
      }));
  }

  it('an interrupted upgrade is completed by running it again; a version 3 repository never has an unsigned manifest signed', () =>
    withTempDir(async (dir) => {
      const repoDir = join(dir, 'repo');
      await init(repoDir);
      await makeOlder(repoDir, 2);
      const [a, b] = await withOpen(repoDir, {}, async (repo) => [
        await backupBytes(repo, DATA),
        await backupBytes(repo, OTHER),
      ]);
      // Interrupted after the key and one manifest: the config is still version 2.
      const backend = new LocalBackend(repoDir);
      await upgradeRepository(backend);
      const key = parseAuthKey(await backend.get(AUTH_KEY_OBJECT), AUTH_KEY_OBJECT).key;
      const older = { ...peekConfig(await backend.get('config')) } as Partial<RepoConfig>;
      delete older.authentication;
      const id = older.id!;
      await backend.put('config', sealConfig({ ...older, version: 2 } as RepoConfig, undefined));
      const mb = JSON.parse(
        (JSON.parse((await backend.get(manifestObjectName(b))).toString()) as Envelope).body,
      ) as Manifest;
      await backend.put(manifestObjectName(b), sealManifest(mb, undefined));
      const r = await upgradeRepository(backend);
      assert.deepEqual([r.signed, r.alreadySigned, r.damaged], [[b], [a], []]);
      // Now version 3: an unsigned manifest is damage, and the upgrade leaves it so.
      await backend.put(manifestObjectName(b), sealManifest(mb, undefined));
      assert.equal((await upgradeRepository(backend)).upgraded, false);
      await withOpen(repoDir, {}, async (repo) => {
        await assert.rejects(repo.manifest(b), { code: 'REPO_MANIFEST_CORRUPT' });
        assert.ok((await readBack(repo, a)).equals(DATA));
      });
      // Signed under the key it is whole again: the key was the one the upgrade made.
      await backend.put(manifestObjectName(b), sealManifest(mb, authMacKey(key, id)));
      await withOpen(repoDir, {}, async (repo) => {
        assert.ok((await readBack(repo, b)).equals(OTHER));
      });
      await backend.close();
    }));

  it('the upgrade refuses while another process holds a lock, and changes nothing', () =>
    withTempDir(async (dir) => {
      const repoDir = join(dir, 'repo');
      await init(repoDir);
      await makeOlder(repoDir, 2);
      const backend = new LocalBackend(repoDir);
      const lock = await RepoLock.acquire(backend, 'shared', 'backup');
      try {
        await assert.rejects(upgradeRepository(backend), { code: 'REPO_LOCKED' });
        assert.equal(peekConfig(await backend.get('config')).version, 2);
      } finally {
        await lock.release();
        await backend.close();
      }
    }));

  it('with the auth key kept outside, only its holder reads or writes; a replaced, downgraded or encrypted repository is refused under it', () =>
    withTempDir(async (dir) => {
      const repoDir = join(dir, 'repo');
      const keyFile = join(dir, 'auth.key');
      await init(repoDir, keyFile);
      const backend = new LocalBackend(repoDir);
      assert.equal(await backend.stat(AUTH_KEY_OBJECT), undefined, 'the key is not in it');
      assert.equal(peekConfig(await backend.get('config')).authentication, 'external');
      const a = await withOpen(repoDir, { authKeyFile: keyFile }, (repo) =>
        backupBytes(repo, DATA),
      );
      // Without the key: listed, unverified; nothing read, verified or written.
      await withOpen(repoDir, {}, async (repo) => {
        const { backups } = await repo.listBackups();
        assert.deepEqual(
          backups.map((x) => [x.id, x.verified]),
          [[a, false]],
        );
        await assert.rejects(readBack(repo, a), { code: 'REPO_AUTH_KEY_REQUIRED' });
        await assert.rejects(verifyRepository(repo), { code: 'REPO_AUTH_KEY_REQUIRED' });
        await assert.rejects(backupBytes(repo, OTHER), { code: 'REPO_AUTH_KEY_REQUIRED' });
      });
      await withOpen(repoDir, { authKeyFile: keyFile }, async (repo) => {
        assert.ok((await readBack(repo, a)).equals(DATA));
        assert.equal((await verifyRepository(repo, { readData: true })).ok, true);
      });
      const config = await backend.get('config');

      // Downgraded to the older format by someone without the key.
      await makeOlder(repoDir, 2);
      await assert.rejects(
        withOpen(repoDir, { authKeyFile: keyFile }, async () => {}),
        {
          code: 'REPO_AUTH_FAILED',
        },
      );
      // Switched to a key in the repository, planted by the same someone.
      await backend.put('config', config);
      const other = join(dir, 'other');
      await init(other);
      const planted = await readFile(join(other, AUTH_KEY_OBJECT));
      const c = peekConfig(config);
      const theirs = parseAuthKey(planted, 'planted').key;
      await backend.put(
        'config',
        sealConfig({ ...c, authentication: 'repository' }, authMacKey(theirs, c.id)),
      );
      await assert.rejects(
        withOpen(repoDir, { authKeyFile: keyFile }, async () => {}),
        {
          code: 'REPO_AUTH_FAILED',
        },
      );
      // The key of another repository, and an encrypted repository, are refused too.
      await assert.rejects(
        withOpen(other, { authKeyFile: keyFile }, async () => {}),
        {
          code: 'REPO_AUTH_FAILED',
        },
      );
      const encrypted = join(dir, 'enc');
      const eb = new LocalBackend(encrypted);
      await Repository.init(eb, { password: 'pw', kdf: TEST_KDF });
      await eb.close();
      await assert.rejects(
        withOpen(encrypted, { password: 'pw', authKeyFile: keyFile }, async () => {}),
        { code: 'REPO_AUTH_FAILED' },
      );
      await backend.close();
    }));

  it('an upgrade can keep the auth key outside the repository', () =>
    withTempDir(async (dir) => {
      const repoDir = join(dir, 'repo');
      const keyFile = join(dir, 'auth.key');
      await init(repoDir);
      await makeOlder(repoDir, 2);
      const a = await withOpen(repoDir, {}, (repo) => backupBytes(repo, DATA));
      const r = await upgradeRepository(new LocalBackend(repoDir), { authKeyFile: keyFile });
      assert.deepEqual([r.authentication, r.signed], ['external', [a]]);
      await withOpen(repoDir, {}, async (repo) => {
        await assert.rejects(readBack(repo, a), { code: 'REPO_AUTH_KEY_REQUIRED' });
      });
      await withOpen(repoDir, { authKeyFile: keyFile }, async (repo) => {
        assert.ok((await readBack(repo, a)).equals(DATA));
      });
    }));
});
