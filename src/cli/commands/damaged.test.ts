/**
 * Damage is said, not hidden (issue #12): `backups` lists a damaged manifest, `restore VM`
 * refuses when the VM's newest backup is damaged and names the one --skip-damaged takes, and
 * `repo repair` says which backups it cannot heal. In-process, as a script would run them.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LocalBackend } from '../../repo/backend/local.js';
import { TEST_KDF } from '../../repo/keys.js';
import { Repository } from '../../repo/repository.js';
import { bufferSource } from '../../repo/source.js';
import { realisticBytes, withTempDir } from '../../repo/testing/support.js';
import { BackupWriter } from '../../repo/writer.js';
import { cli as runCli } from '../../../test/support/cli.js';

const DISK = 512 * 1024;

async function cli(args: string[], env: NodeJS.ProcessEnv) {
  const r = await runCli(args, env);
  return { ...r, json: () => JSON.parse(r.stdout) as Record<string, unknown> };
}

/** Two backups of web01 (seeds 1 and 2), the newest one's manifest tampered with. */
async function withTampered(
  fn: (env: NodeJS.ProcessEnv, dir: string, ids: string[]) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const repoDir = join(dir, 'repo');
    await writeFile(join(dir, 'pw'), 'sekret\n');
    const backend = new LocalBackend(repoDir);
    try {
      await Repository.init(backend, { password: 'sekret', kdf: TEST_KDF, chunkSize: 64 * 1024 });
    } finally {
      await backend.close();
    }
    const repo = await Repository.open(new LocalBackend(repoDir), {
      password: 'sekret',
      workers: 0,
    });
    const ids: string[] = [];
    try {
      for (const seed of [1, 2]) {
        const w = await BackupWriter.start(repo, { vm: { name: 'web01' } });
        await w.addDisk({ name: 'vda', source: bufferSource(realisticBytes(DISK, seed)) });
        ids.push((await w.commit()).id);
      }
    } finally {
      await repo.close();
    }
    const path = join(repoDir, 'backups', ids[1]!, 'manifest.json');
    const text = await readFile(path, 'utf8');
    assert.ok(text.includes('full'));
    await writeFile(path, text.replace('full', 'fuli'));
    await fn({ BRANKAS_REPO: repoDir, BRANKAS_PASSWORD_FILE: join(dir, 'pw') }, dir, ids);
  });
}

describe('damaged backups are named, never passed over in silence', () => {
  it('backups lists a damaged manifest with its VM, in text and JSON', () =>
    withTampered(async (env, _dir, ids) => {
      const j = await cli(['backups', 'web01', '--json'], env);
      assert.equal(j.code, 0, j.stderr);
      const damaged = j.json()['damaged'] as { id: string; vm: string }[];
      assert.deepEqual(
        damaged.map((d) => [d.id, d.vm]),
        [[ids[1], 'web01']],
      );
      assert.deepEqual(
        (j.json()['backups'] as { id: string }[]).map((b) => b.id),
        [ids[0]],
      );
      const t = await cli(['backups'], env);
      assert.match(t.stdout, new RegExp(`${ids[1]}\\s+web01.*DAMAGED`));
      // The damaged row fills every column of the table (mode, consistency, read, data, verified).
      const lines = t.stdout.split('\n');
      const cells = (l: string): number => l.trim().split(/\s{2,}/).length;
      assert.equal(cells(lines.find((l) => l.startsWith(ids[1]!))!), cells(lines[0]!));
      assert.match(t.stderr, new RegExp(`backup ${ids[1]} \\(web01\\) is damaged`));
    }));

  it('restore by VM name refuses when the newest backup is damaged; --skip-damaged restores the previous one and says so', () =>
    withTempDir((out) =>
      withTampered(async (env, _dir, ids) => {
        const to = join(out, 'vda.raw');
        const refused = await cli(
          ['restore', 'web01', '--disk', 'vda', '--to', to, '--format', 'raw', '--json'],
          env,
        );
        assert.equal(refused.code, 1);
        const err = refused.json()['error'] as { code: string; message: string };
        assert.equal(err.code, 'BACKUP_LATEST_DAMAGED');
        assert.match(err.message, new RegExp(`${ids[1]}.*newest intact one is ${ids[0]}`));
        assert.deepEqual(await readdir(out), []);

        const id = await cli(
          ['restore', 'web01', '--disk', 'vda', '--to', to, '--format', 'raw', '--lang', 'id'],
          env,
        );
        assert.equal(id.code, 1);
        assert.match(id.stderr, /backup terbaru VM 'web01' rusak/);

        const taken = await cli(
          ['restore', 'web01', '--disk', 'vda', '--to', to, '--format', 'raw', '--skip-damaged'],
          env,
        );
        assert.equal(taken.code, 0, taken.stderr);
        assert.match(taken.stderr, new RegExp(`skipped backup ${ids[1]}: it is damaged`));
        assert.match(taken.stdout, new RegExp(ids[0]!));
        assert.deepEqual(await readFile(to), realisticBytes(DISK, 1));

        const named = await cli(['restore', ids[1]!, '--disk', 'vda', '--to', to, '--json'], env);
        assert.equal((named.json()['error'] as { code: string }).code, 'BACKUP_DAMAGED');
      }),
    ));

  it('verify by VM name refuses a damaged newest backup too; --skip-damaged tests the previous one', () =>
    withTampered(async (env, _dir, ids) => {
      const c = ['-c', 'test:///default'];
      const refused = await cli(['verify', 'web01', ...c, '--json'], env);
      assert.equal(refused.code, 1);
      assert.equal((refused.json()['error'] as { code: string }).code, 'BACKUP_LATEST_DAMAGED');
      const taken = await cli(['verify', 'web01', ...c, '--skip-damaged', '--json'], env);
      assert.equal(taken.code, 0, taken.stderr);
      assert.equal(taken.json()['backup'], ids[0]);
      assert.equal(taken.json()['passed'], true);
      assert.match(taken.stderr, new RegExp(`skipped backup ${ids[1]}: it is damaged`));
    }));

  it('repo repair --dry-run names a backup it cannot heal and exits 1; repair then leaves the index clean', () =>
    withTampered(async (env, dir) => {
      const data = join(dir, 'repo', 'data');
      const sub = (await readdir(data))[0]!;
      const pack = (await readdir(join(data, sub))).find((n) => !n.startsWith('.'))!;
      await unlink(join(data, sub, pack));
      const plan = await cli(['repo', 'repair', '--dry-run', '--json'], env);
      assert.equal(plan.code, 1, plan.stderr);
      const p = plan.json() as { dryRun: boolean; missingPacks: string[]; unhealable: unknown[] };
      assert.equal(p.dryRun, true);
      assert.deepEqual(p.missingPacks, [pack]);
      assert.ok(p.unhealable.length >= 1);
      const text = await cli(['repo', 'repair'], env);
      assert.match(text.stdout, /Repaired: dropped \d+ index entries \(1 pack\(s\) gone/);
      assert.match(text.stdout, /cannot heal: /);
      const again = await cli(['repo', 'repair', '--dry-run', '--json'], env);
      assert.deepEqual((again.json() as { missingPacks: string[] }).missingPacks, []);
    }));
});
