/**
 * A live backup killed at any moment, on one real running TCG guest: the real
 * CLI (`node dist/src/cli/main.js backup VM`) is SIGKILLed at 20+ points
 * spread from its start to its measured duration (starting up, planning, the
 * backup job begun, reading, committing, deleting old checkpoints). After
 * each kill: no partial backup is listed, the next backup aborts the leftover
 * job, removes the job's directory and succeeds, and leaves nothing behind.
 * At the end every backup verifies and the last one restores identical to
 * the disk as it was at its backup point.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '../src/libvirt/index.js';
import { TinyGuest } from '../src/engine/guest/tiny-guest.js';
import { workDirs } from '../src/engine/backup/live/leftovers.js';
import { repoPath, testName } from './support/guest.js';
import { cli, initPlainRepo } from './support/cli.js';

const run = promisify(execFile);
const KILLS = 20;

let conn: Connection;
let repoDir: string;
let guest: TinyGuest;
let vm: string;
const children = new Set<ChildProcess>();
const env = (): NodeJS.ProcessEnv => ({ BRANKAS_REPO: repoDir });

before(async () => {
  conn = await Connection.open('qemu:///system');
  repoDir = await initPlainRepo();
  vm = testName('live-kill');
  guest = await TinyGuest.launch(conn, { name: vm });
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  // A failed run may leave a killed job's directory: only this guest's are removed.
  for (const d of await workDirs()) {
    if (guest && d.marker?.uuid === guest.domain.uuid) await rm(d.path, { recursive: true });
  }
  await guest?.dispose();
  await conn?.close();
  if (repoDir) await rm(repoDir, { recursive: true, force: true });
});

/** The real CLI backing the guest up, as a child process; resolves when it has exited. */
function spawnBackup(extra: string[] = []): { child: ChildProcess; exited: Promise<unknown> } {
  const child = spawn(
    process.execPath,
    [repoPath('dist/src/cli/main.js'), 'backup', vm, '--mode', 'live', '--json', ...extra],
    { env: { ...process.env, ...env(), LANG: 'C' }, stdio: 'ignore' },
  );
  children.add(child);
  const exited = new Promise((resolve) =>
    child.on('exit', () => {
      children.delete(child);
      resolve(undefined);
    }),
  );
  return { child, exited };
}

async function backupIds(): Promise<string[]> {
  const r = await cli(['backups', vm, '--json'], env());
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { backups: { id: string }[]; damaged: unknown[] };
  // A killed writer never leaves a manifest that reads as damaged either.
  assert.deepEqual(out.damaged, []);
  return out.backups.map((b) => b.id);
}

async function liveBackup(): Promise<{
  manifest: { id: string };
  checkpoint: string;
  clearedLeftovers: { job: string | null; dirs: string[] } | null;
}> {
  const r = await cli(['backup', vm, '--mode', 'live', '--json'], env());
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return JSON.parse(r.stdout);
}

/** Nothing of a live job is left on the VM or on the host. */
async function nothingLeft(checkpoint: string): Promise<void> {
  assert.equal((await guest.domain.jobInfo()).type, 0);
  const dirs = (await workDirs()).filter((d) => d.marker?.uuid === guest.domain.uuid);
  assert.deepEqual(dirs, []);
  assert.deepEqual(
    (await guest.domain.listCheckpoints()).map((c) => c.name),
    [checkpoint],
  );
}

describe('a live backup killed at any moment', () => {
  test(`SIGKILL at ${KILLS} points: nothing partial is listed, the next backup cleans up and succeeds, all verify and restore`, async (t) => {
    const first = await liveBackup();
    // The duration of a whole run of the CLI (process start included), to spread the kills over.
    const t0 = Date.now();
    const whole = spawnBackup(['--reread']);
    await whole.exited;
    const duration = Date.now() - t0;
    assert.equal(whole.child.exitCode, 0);
    t.diagnostic(`a whole live backup run takes ${duration} ms`);
    let ids = await backupIds();
    assert.equal(ids.length, 2);

    let cleared = 0;
    for (let i = 0; i < KILLS; i++) {
      // Every other run reads the disk whole, so more of the kills land in the reading.
      const c = spawnBackup(i % 2 === 0 ? ['--reread'] : []);
      const at = Math.round((duration * (i + 0.5)) / KILLS);
      // The offset only chooses where the kill lands; every outcome below must hold wherever.
      await new Promise((r) => setTimeout(r, at));
      c.child.kill('SIGKILL');
      await c.exited;
      const now = await backupIds();
      // Nothing partial: the killed run either committed its backup whole, or recorded nothing.
      assert.deepEqual(now.slice(0, ids.length), ids);
      assert.ok(now.length - ids.length <= 1, `kill ${i} at ${at} ms: ${now.length - ids.length}`);
      const next = await liveBackup();
      if (next.clearedLeftovers) cleared++;
      await nothingLeft(next.checkpoint);
      ids = await backupIds();
      assert.equal(ids.at(-1), next.manifest.id);
      // Some fresh data for the next incremental.
      await guest.console.run(`echo ${i} > /data/kill-${i}; sync`);
    }
    t.diagnostic(`${cleared} of ${KILLS} kills left a job or directory the next backup removed`);
    // Spread from start to end, some kills must land while the job runs.
    assert.ok(cleared > 0);

    for (const id of [first.manifest.id, ...ids.slice(-3)]) {
      const v = await cli(['verify', id, '--json'], env());
      assert.equal(v.code, 0, v.stdout + v.stderr);
    }
    // Paused, so the disk stays as it is at the last backup point to compare with.
    await guest.domain.suspend();
    try {
      const last = await liveBackup();
      const to = join(guest.dir, 'restored.qcow2');
      const res = await cli(
        ['restore', last.manifest.id, '--disk', 'vda', '--to', to, '--format', 'qcow2', '--json'],
        env(),
      );
      assert.equal(res.code, 0, res.stdout + res.stderr);
      await run('qemu-img', [
        'compare',
        '-U',
        '-f',
        'qcow2',
        '-F',
        'qcow2',
        to,
        join(guest.dir, 'vda.qcow2'),
      ]);
    } finally {
      await guest.domain.resume();
    }
  });
});
