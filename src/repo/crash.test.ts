/**
 * Crash safety: a child writing a backup is killed with SIGKILL at many random
 * moments. Afterwards no partial backup is listed, every listed backup reads
 * back exactly, the whole repository verifies, and gc removes the debris.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { collectGarbage } from './gc.js';
import { BackupDisk } from './reader.js';
import type { Repository } from './repository.js';
import { realisticBytes, TEST_PASSWORD, withRepo } from './testing/support.js';
import { verifyRepository } from './verify.js';

const CHILD = fileURLToPath(new URL('./testing/crash-writer.js', import.meta.url));
const SIZE = 3 * 1024 * 1024 + 4321;
const KILLS = Number(process.env['BRANKAS_CRASH_KILLS'] ?? 14);

/** Runs the writer; killAfterMs counts from the moment it has its lock and starts writing. */
function runChild(
  dir: string,
  seed: number,
  killAfterMs?: number,
): Promise<{ committed?: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [CHILD, dir, String(seed), String(SIZE)], {
      env: { ...process.env, BRANKAS_TEST_PASSWORD: TEST_PASSWORD },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    let startedAt = 0;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!startedAt && out.includes('started')) {
        startedAt = Date.now();
        if (killAfterMs !== undefined) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0 && signal !== 'SIGKILL') reject(new Error(`child failed (${code}): ${err}`));
      void t0;
      resolve({ committed: /committed (\S+)/.exec(out)?.[1], ms: Date.now() - (startedAt || t0) });
    });
  });
}

async function readsBack(repo: Repository, id: string): Promise<void> {
  const { manifest } = await repo.manifest(id);
  const data = realisticBytes(SIZE, Number(manifest.labels['seed']));
  for (const [name, want] of [
    ['vda', data],
    ['vdb', data.subarray(0, data.length >> 1)],
  ] as const) {
    const d = await BackupDisk.open(repo, id, name);
    try {
      assert.ok((await d.read(0, d.virtualSize)).equals(want), `${id}/${name} reads back`);
    } finally {
      await d.close();
    }
  }
}

describe('crash safety', () => {
  it(`a writer killed with SIGKILL at ${KILLS} random moments leaves no partial backup and loses no earlier one`, (t) =>
    withRepo({ packSize: 64 * 1024, chunkSize: 64 * 1024 }, async (repo, dir) => {
      const first = await runChild(dir, 1);
      assert.ok(first.committed);
      const confirmed = [first.committed];
      for (let i = 0; i < KILLS; i++) {
        // Uniform over the child's whole life, start-up included.
        const { committed } = await runChild(dir, 100 + i, Math.random() * first.ms * 1.1);
        if (committed) confirmed.push(committed);
        const { backups, damaged } = await repo.listBackups();
        assert.deepEqual(damaged, []);
        const listed = backups.map((b) => b.id);
        for (const c of confirmed) assert.ok(listed.includes(c), `confirmed backup ${c} is listed`);
        for (const b of backups) {
          assert.equal(b.manifest.disks.length, 2, 'a listed backup is complete');
        }
        await repo.index.refresh();
        const v = await verifyRepository(repo);
        assert.ok(v.ok, JSON.stringify(v.problems.slice(0, 3)));
      }
      const { backups } = await repo.listBackups();
      for (const b of backups) await readsBack(repo, b.id);
      const gc = await collectGarbage(repo);
      assert.deepEqual(gc.waiting, [], 'killed writers hold no live lock');
      const v = await verifyRepository(repo, { readData: true });
      assert.ok(v.ok, JSON.stringify(v.problems.slice(0, 3)));
      for (const b of (await repo.listBackups()).backups) await readsBack(repo, b.id);
      assert.ok(backups.length >= confirmed.length);
      t.diagnostic(
        `${KILLS} kills: ${confirmed.length - 1} finished first, ${gc.deletedPacks} packs and ` +
          `${gc.deletedPartialBackups.length} partial backups collected`,
      );
    }));
});
