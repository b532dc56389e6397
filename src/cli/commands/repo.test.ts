/**
 * `brankas repo ...` end to end, in-process, as a script would run it (no
 * TTY). Repositories are made with the library and cheap KDF parameters,
 * except where init itself is tested.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LocalBackend } from '../../repo/backend/local.js';
import { TEST_KDF } from '../../repo/keys.js';
import { Repository } from '../../repo/repository.js';
import { bufferSource } from '../../repo/source.js';
import { realisticBytes, withTempDir } from '../../repo/testing/support.js';
import { BackupWriter } from '../../repo/writer.js';
import { cli as runCli, TEST_STATE_DIR } from '../../../test/support/cli.js';
import { Interrupt } from '../interrupt.js';
import { run } from '../run.js';

async function cli(args: string[], env: NodeJS.ProcessEnv) {
  const r = await runCli(args, env);
  return { ...r, json: () => JSON.parse(r.stdout) as Record<string, unknown> };
}

/** A repository with two backups of one VM, password in a file. */
async function withFixture(
  fn: (env: NodeJS.ProcessEnv, dir: string, ids: string[]) => Promise<void>,
) {
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
        await w.addDisk({ name: 'vda', source: bufferSource(realisticBytes(512 * 1024, seed)) });
        ids.push((await w.commit()).id);
      }
    } finally {
      await repo.close();
    }
    await fn({ BRANKAS_REPO: repoDir, BRANKAS_PASSWORD_FILE: join(dir, 'pw') }, dir, ids);
  });
}

describe('brankas repo', () => {
  it('init makes an encrypted repository, refuses a second init, and --no-encryption warns loudly', () =>
    withTempDir(async (dir) => {
      await writeFile(join(dir, 'pw'), 'pw1');
      const env = { BRANKAS_PASSWORD_FILE: join(dir, 'pw') };
      const r = await cli(['repo', 'init', '--repo', join(dir, 'a'), '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((r.json()['config'] as { encryption: string }).encryption, 'aes-256-gcm');
      const again = await cli(['repo', 'init', '--repo', join(dir, 'a'), '--json'], env);
      assert.equal((again.json()['error'] as { code: string }).code, 'REPO_EXISTS');
      const plain = await cli(['repo', 'init', '--no-encryption', '--chunk-size', '1M'], {
        BRANKAS_REPO: join(dir, 'b'),
      });
      assert.equal(plain.code, 0);
      assert.match(plain.stderr, /WARNING: this repository will NOT be encrypted/);
      assert.match(plain.stdout, /chunks 1\.0 MiB, encryption none/);
      const info = await cli(['repo', 'info', '--json'], { BRANKAS_REPO: join(dir, 'b') });
      assert.equal((info.json()['config'] as { chunkSize: number }).chunkSize, 1024 * 1024);
      assert.equal((info.json()['config'] as { chunkHash: string }).chunkHash, 'blake3');
      const v1 = await cli(['repo', 'init', '--no-encryption', '--chunk-hash', 'sha256'], {
        BRANKAS_REPO: join(dir, 'c'),
      });
      assert.equal(v1.code, 0, v1.stderr);
      const v1info = await cli(['repo', 'info'], { BRANKAS_REPO: join(dir, 'c') });
      // Unencrypted, it is authenticated (version 3) whatever the hash.
      assert.match(
        v1info.stdout,
        /v3, chunks 256 KiB named by sha256, .*, none, auth key repository/,
      );
      const bad = await cli(['repo', 'init', '--no-encryption', '--chunk-hash', 'md5'], {
        BRANKAS_REPO: join(dir, 'd'),
      });
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--chunk-hash must be blake3, sha256, not 'md5'/);
      // Compression is the repository's: a level, or none; shown by info.
      for (const [args, shown] of [
        [['--compression-level', '6'], /zstd level 6/],
        [['--compression', 'none'], /uncompressed/],
        [[], /zstd level 1/],
      ] as const) {
        const repo = join(dir, `z${args.join('')}`);
        const made = await cli(['repo', 'init', '--no-encryption', ...args], {
          BRANKAS_REPO: repo,
        });
        assert.equal(made.code, 0, made.stderr);
        assert.match((await cli(['repo', 'info'], { BRANKAS_REPO: repo })).stdout, shown);
      }
      // repo set changes it for new chunks; what is stored reads back either way.
      const zrepo = { BRANKAS_REPO: join(dir, 'z') };
      const set = await cli(['repo', 'set', '--compression-level', '4', '--json'], zrepo);
      assert.equal(set.code, 0, set.stderr);
      assert.equal((set.json()['config'] as { compressionLevel: number }).compressionLevel, 4);
      assert.match((await cli(['repo', 'info'], zrepo)).stdout, /zstd level 4/);
      const off = await cli(['repo', 'set', '--compression', 'none', '--lang', 'id'], zrepo);
      assert.match(off.stdout, /Kompresi untuk chunk baru: uncompressed/);
      assert.equal((await cli(['repo', 'set'], zrepo)).code, 2);
      // Encrypted: the rewritten config is signed with the repository's key.
      const enc = await cli(['repo', 'set', '--compression-level', '7'], {
        ...env,
        BRANKAS_REPO: join(dir, 'a'),
      });
      assert.equal(enc.code, 0, enc.stderr);
      const encInfo = await cli(['repo', 'info', '--json'], {
        ...env,
        BRANKAS_REPO: join(dir, 'a'),
      });
      assert.equal(encInfo.code, 0, encInfo.stderr);
      assert.equal((encInfo.json()['config'] as { compressionLevel: number }).compressionLevel, 7);
      for (const [args, why] of [
        [['--compression', 'lz4'], /--compression must be zstd, none, not 'lz4'/],
        [['--compression-level', '0'], /integer from 1 to 19, not 0/],
        [['--compression-level', 'max'], /integer from 1 to 19, not max/],
        [['--compression', 'none', '--compression-level', '3'], /needs zstd/],
      ] as const) {
        const r = await cli(['repo', 'init', '--no-encryption', ...args], {
          BRANKAS_REPO: join(dir, 'bad'),
        });
        assert.equal(r.code, 2, args.join(' '));
        assert.match(r.stderr, why);
      }
    }));

  it('the password never comes from the command line; without a file, command or terminal it is refused', () =>
    withFixture(async (env) => {
      const arg = await cli(['repo', 'stats', '--password', 'sekret'], env);
      assert.equal(arg.code, 2);
      const none = await cli(['repo', 'stats', '--json'], { BRANKAS_REPO: env['BRANKAS_REPO'] });
      assert.equal(none.code, 1);
      assert.equal((none.json()['error'] as { code: string }).code, 'REPO_PASSWORD_REQUIRED');
      const cmd = await cli(['repo', 'stats', '--json'], {
        BRANKAS_REPO: env['BRANKAS_REPO'],
        BRANKAS_PASSWORD_COMMAND: 'echo sekret',
      });
      assert.equal(cmd.code, 0, cmd.stdout);
      const wrong = await cli(['repo', 'stats', '--lang', 'id'], {
        ...env,
        BRANKAS_PASSWORD_FILE: '/dev/null',
      });
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /password salah/);
    }));

  it('info lists backups (even without the password, unverified) and shows one', () =>
    withFixture(async (env, _dir, ids) => {
      const all = await cli(['repo', 'info', '--json'], env);
      const backups = all.json()['backups'] as { id: string; verified: boolean }[];
      assert.deepEqual(
        backups.map((b) => b.id),
        ids,
      );
      assert.ok(backups.every((b) => b.verified));
      const nopw = await cli(['repo', 'info', '--json'], { BRANKAS_REPO: env['BRANKAS_REPO'] });
      assert.ok((nopw.json()['backups'] as { verified: boolean }[]).every((b) => !b.verified));
      const one = await cli(['repo', 'info', ids[0]!], env);
      assert.match(one.stdout, /web01/);
      assert.match(one.stdout, /signature verified/);
    }));

  it('verify exits 0 when sound and 1 naming the chunk, backup and disk when a pack is damaged', () =>
    withFixture(async (env, dir, ids) => {
      const ok = await cli(['repo', 'verify', '--read-data'], env);
      assert.equal(ok.code, 0, ok.stdout);
      assert.match(ok.stdout, /No problems found/);
      const { readdir } = await import('node:fs/promises');
      const sub = (await readdir(join(dir, 'repo', 'data')))[0]!;
      const pack = join(
        dir,
        'repo',
        'data',
        sub,
        (await readdir(join(dir, 'repo', 'data', sub)))[0]!,
      );
      const bytes = await readFile(pack);
      bytes[200]! ^= 1;
      await writeFile(pack, bytes);
      const bad = await cli(['repo', 'verify', '--read-data', '--json'], env);
      assert.equal(bad.code, 1);
      const report = bad.json() as { affected: { backup: string; disk: string }[] };
      assert.ok(report.affected.length > 0);
      assert.ok(report.affected.every((a) => ids.includes(a.backup) && a.disk === 'vda'));
      const text = await cli(['repo', 'verify', '--subset', '100%'], env);
      assert.match(text.stdout, /REPO_CHUNK_CORRUPT/);
      assert.match(text.stdout, /Affected backups and disks/);
    }));

  it('prune plans with --dry-run, then forgets and collects; stats and gc report in JSON', () =>
    withFixture(async (env, _dir, ids) => {
      const dry = await cli(['repo', 'prune', '--keep-last', '1', '--dry-run', '--json'], env);
      const plan = dry.json() as {
        forget: { decisions: { id: string; keep: boolean }[]; removed: string[] };
      };
      assert.deepEqual(
        plan.forget.decisions.map((d) => [d.id, d.keep]),
        [
          [ids[1], true],
          [ids[0], false],
        ],
      );
      assert.deepEqual(plan.forget.removed, []);
      const before = (await cli(['repo', 'stats', '--json'], env)).json() as {
        backups: number;
        packBytes: number;
      };
      assert.equal(before.backups, 2);
      const done = await cli(['repo', 'prune', '--keep-last', '1'], env);
      assert.equal(done.code, 0, done.stderr);
      assert.match(done.stdout, /1 backup\(s\) removed/);
      const after = (await cli(['repo', 'stats', '--json'], env)).json() as {
        backups: number;
        packBytes: number;
      };
      assert.equal(after.backups, 1);
      assert.ok(after.packBytes < before.packBytes);
      const gc = await cli(['repo', 'gc', '--json'], env);
      assert.equal((gc.json() as { deletedPacks: number }).deletedPacks, 0);
      const refused = await cli(['repo', 'prune'], env);
      assert.equal(refused.code, 1);
    }));

  it('key add, list, passwd and remove', () =>
    withFixture(async (env, dir) => {
      await writeFile(join(dir, 'new'), 'zweites');
      const add = await cli(['repo', 'key', 'add', '--label', 'ops', '--json'], {
        ...env,
        BRANKAS_NEW_PASSWORD_FILE: join(dir, 'new'),
      });
      assert.equal(add.code, 0, add.stdout + add.stderr);
      const added = add.json()['added'] as string;
      const list = (await cli(['repo', 'key', 'list', '--json'], env)).json() as unknown as {
        id: string;
        label: string;
      }[];
      assert.deepEqual(list.map((k) => k.label).sort(), ['initial', 'ops']);
      const viaNew = await cli(['repo', 'stats'], {
        ...env,
        BRANKAS_PASSWORD_FILE: join(dir, 'new'),
      });
      assert.equal(viaNew.code, 0);
      const rm = await cli(['repo', 'key', 'remove', added.slice(0, 10)], env);
      assert.equal(rm.code, 0, rm.stderr);
      await writeFile(join(dir, 'third'), 'dritte');
      const pw = await cli(['repo', 'key', 'passwd'], {
        ...env,
        BRANKAS_NEW_PASSWORD_FILE: join(dir, 'third'),
      });
      assert.equal(pw.code, 0, pw.stderr);
      assert.equal(
        (await cli(['repo', 'stats'], env)).code,
        1,
        'the old password no longer opens it',
      );
      const last = await cli(['repo', 'key', 'list', '--json'], {
        ...env,
        BRANKAS_PASSWORD_FILE: join(dir, 'third'),
      });
      const only = (last.json() as unknown as { id: string }[])[0]!.id;
      const refuse = await cli(['repo', 'key', 'remove', only, '--json'], {
        ...env,
        BRANKAS_PASSWORD_FILE: join(dir, 'third'),
      });
      assert.equal((refuse.json()['error'] as { code: string }).code, 'REPO_LAST_KEY');
    }));
});

/** Ctrl-C as main.ts delivers it, the moment the command takes the signal (before any step). */
class CtrlC extends Interrupt {
  override take(): AbortSignal {
    const signal = super.take();
    queueMicrotask(() => this.fire());
    return signal;
  }
}

async function interrupted(args: string[], env: NodeJS.ProcessEnv) {
  const out = new PassThrough();
  const err = new PassThrough();
  const stdin = new PassThrough();
  stdin.end();
  let stderr = '';
  out.resume();
  err.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await run(args, {
    stdout: out,
    stderr: err,
    stdin,
    env: { LANG: 'C', BRANKAS_STATE_DIR: TEST_STATE_DIR, ...env },
    interrupt: new CtrlC(),
  });
  return { code, stderr };
}

describe('brankas repo prune and gc stopped by Ctrl-C', () => {
  it('stop at a safe point with exit 130, the lock released and nothing forgotten; verify is clean', () =>
    withFixture(async (env, _dir, ids) => {
      for (const args of [
        ['repo', 'prune', '--keep-last', '1'],
        ['repo', 'gc'],
      ]) {
        const r = await interrupted(args, env);
        assert.equal(r.code, 130, r.stderr);
        assert.match(r.stderr, /Stopped at a safe point: the repository is consistent/);
      }
      assert.deepEqual(await readdir(join(env['BRANKAS_REPO']!, 'locks')).catch(() => []), []);
      const listed = await cli(['backups', '--json'], env);
      assert.equal(listed.code, 0, listed.stderr);
      assert.deepEqual(
        (listed.json()['backups'] as { id: string }[]).map((b) => b.id).sort(),
        [...ids].sort(),
      );
      const ok = await cli(['repo', 'verify', '--read-data'], env);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    }));
});
