/**
 * What killed live backups leave, and its removal, on one real running TCG
 * guest. A live backup killed at any moment: the real
 * CLI (`node dist/cli/brankas.js backup VM`) is SIGKILLed at 20+ points
 * spread from its start to its measured duration (starting up, planning, the
 * backup job begun, reading, committing, deleting old checkpoints). After
 * each kill: no partial backup is listed, the next backup aborts the leftover
 * job, removes the job's directory and succeeds, and leaves nothing behind.
 * At the end every backup verifies and the last one restores identical to
 * the disk as it was at its backup point. `brankas doctor`: a killed job's
 * leftovers made on purpose (the backup job left running, its directory, its
 * checkpoint; a directory of a VM that is gone; a VM an interrupted cold
 * backup left off) are shown without being changed, and repaired with --fix.
 * `backup --dry-run` says what would be read and changes nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { hostname, tmpdir } from 'node:os';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '../src/libvirt/index.js';
import { TinyGuest } from '../src/engine/guest/tiny-guest.js';
import { LiveExport } from '../src/engine/backup/live/export.js';
import { WORK_DIR_PREFIX, workDirs, writeMarker } from '../src/engine/backup/live/leftovers.js';
import type { DoctorFinding } from '../src/engine/doctor/index.js';
import { writeJournal } from '../src/service/journal.js';
import { repoPath, testName } from './support/guest.js';
import { cli, initPlainRepo, TEST_STATE_DIR } from './support/cli.js';
import { BRANKAS_MAIN } from './support/main-path.js';

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
    [BRANKAS_MAIN, 'backup', vm, '--mode', 'live', '--json', ...extra],
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
    // The duration of a whole run of the CLI, and when its job directory appears (the process
    // started and the VM looked at: the job is about to begin).
    const t0 = Date.now();
    const whole = spawnBackup(['--reread']);
    let exited = false;
    void whole.exited.then(() => (exited = true));
    let begins: number | undefined;
    while (!exited) {
      if (
        begins === undefined &&
        (await workDirs()).some((d) => d.marker?.pid === whole.child.pid)
      ) {
        begins = Date.now() - t0;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    const duration = Date.now() - t0;
    begins ??= duration / 2;
    assert.equal(whole.child.exitCode, 0);
    t.diagnostic(`a whole live backup run takes ${duration} ms, its job begins at ${begins} ms`);
    let ids = await backupIds();
    assert.equal(ids.length, 2);

    let cleared = 0;
    for (let i = 0; i < KILLS; i++) {
      // Every other run reads the disk whole, so more of the kills land in the reading.
      const c = spawnBackup(i % 2 === 0 ? ['--reread'] : []);
      // A quarter of the kills spread over starting up, the rest over the job and the commit.
      const early = Math.floor(KILLS / 4);
      const at = Math.round(
        i < early
          ? (begins * (i + 0.5)) / early
          : begins + ((duration - begins) * (i - early + 0.5)) / (KILLS - early),
      );
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
      ids = [...now, next.manifest.id];
      // Now and then fresh data for the next incremental.
      if (i % 5 === 4) await guest.console.run(`echo ${i} > /data/kill-${i}; sync`);
    }
    assert.deepEqual(await backupIds(), ids);
    t.diagnostic(`${cleared} of ${KILLS} kills left a job or directory the next backup removed`);
    // Spread from start to end, some kills must land while the job runs.
    assert.ok(cleared > 0);

    for (const id of [first.manifest.id, ids.at(-1)!]) {
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
  test('SIGTERM and SIGINT in the middle of a live backup end it cleanly: nothing recorded, nothing left', async (t) => {
    // Enough data that reading the disk whole takes a while after the job has begun.
    await guest.console.run(
      'dd if=/dev/urandom of=/data/big bs=1M count=24 2>/dev/null; sync',
      60_000,
    );
    const last = await liveBackup();
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      const ids = await backupIds();
      const c = spawnBackup(['--reread']);
      // A wait for a state (its job directory made), by a deadline that only reports a hang.
      const deadline = Date.now() + 120_000;
      while (c.child.exitCode === null && Date.now() < deadline) {
        const dirs = await workDirs();
        if (dirs.some((d) => d.marker?.pid === c.child.pid)) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      c.child.kill(sig);
      await c.exited;
      const now = await backupIds();
      t.diagnostic(`${sig}: exit ${c.child.exitCode}`);
      if (c.child.exitCode === 130) assert.deepEqual(now, ids);
      else {
        // It had committed before the signal came: whole, and listed.
        assert.equal(c.child.exitCode, 0);
        assert.deepEqual(now.slice(0, -1), ids);
      }
      assert.equal((await guest.domain.jobInfo()).type, 0);
      assert.deepEqual(
        (await workDirs()).filter((d) => d.marker?.uuid === guest.domain.uuid),
        [],
      );
      const cps = (await guest.domain.listCheckpoints()).map((c) => c.name);
      if (c.child.exitCode === 130) assert.deepEqual(cps, [last.checkpoint]);
    }
  });
});

interface DoctorJson {
  findings: DoctorFinding[];
  busy: string[];
  checkpointsChecked: boolean;
  fixed: boolean;
  results: { finding: DoctorFinding; outcome: string; message?: string }[] | null;
}

async function doctor(...args: string[]): Promise<DoctorJson> {
  const r = await cli(['doctor', ...args, '--json'], env());
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return JSON.parse(r.stdout) as DoctorJson;
}

const MiB = 1 << 20;

/** What a dry run must not change: the VM's state and job, its checkpoints, directories, repository files. */
async function snapshotOfState(): Promise<unknown> {
  const files = async (dir: string): Promise<string[]> => {
    const out: string[] = [];
    for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
      if (!e.isFile()) continue;
      const path = join(e.parentPath, e.name);
      const st = await stat(path);
      out.push(`${path} ${st.size} ${st.mtimeMs}`);
    }
    return out.sort();
  };
  return {
    state: (await guest.domain.state()).state,
    job: (await guest.domain.jobInfo()).type,
    checkpoints: (await guest.domain.listCheckpoints()).map((c) => c.name).sort(),
    dirs: (await workDirs()).filter((d) => d.marker?.uuid === guest.domain.uuid),
    repo: await files(repoDir),
  };
}

const kinds = (fs: DoctorFinding[]): string[] => fs.map((f) => f.kind).sort();

describe('faults during a live backup', () => {
  test('the NBD export vanishing mid-read (the job aborted from outside) is a clear error', async () => {
    const ex = await LiveExport.begin(guest.domain, {
      disks: [{ target: 'vda' }],
      checkpoint: null,
    });
    try {
      const reader = await ex.open('vda');
      try {
        const src = ex.source(reader);
        assert.equal((await src.read(0, 65536)).length, 65536);
        // As `virsh domjobabort` would: the export and its socket go away under the reader.
        await guest.domain.abortJob();
        // libvirt tears the export down after the abort returns (until then reads still succeed).
        const deadline = Date.now() + 60_000;
        while ((await guest.domain.jobInfo()).type !== 0 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 20));
        }
        await assert.rejects(src.read(65536, 65536), { code: 'BACKUP_LIVE_JOB_FAILED' });
      } finally {
        await reader.close().catch(() => undefined);
      }
    } finally {
      await ex.end();
    }
    assert.equal((await guest.domain.state()).state, 'running');
    assert.equal((await guest.domain.jobInfo()).type, 0);
  });

  test('a full repository: one clear error, nothing recorded, the VM as it was', async () => {
    await guest.console.run(
      'dd if=/dev/urandom of=/data/full bs=1M count=16 2>/dev/null; sync',
      60_000,
    );
    const mnt = await mkdtemp(join(tmpdir(), 'brankas-test-full-'));
    await run('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', mnt]);
    try {
      const small = join(mnt, 'repo');
      const init = await cli(['repo', 'init', '--no-encryption'], { BRANKAS_REPO: small });
      assert.equal(init.code, 0, init.stderr);
      const before = (await guest.domain.listCheckpoints()).map((c) => c.name).sort();
      const r = await cli(['backup', vm, '--mode', 'live', '--json'], { BRANKAS_REPO: small });
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const error = JSON.parse(r.stdout).error as { code: string; message: string };
      assert.equal(error.code, 'REPO_FULL', error.message);
      const text = await cli(['backup', vm, '--mode', 'live'], { BRANKAS_REPO: small });
      assert.match(
        text.stderr,
        /^error: the repository is full \(no space left on its file system\): cannot write .*\n$/,
      );
      const id = await cli(['backup', vm, '--mode', 'live', '--lang', 'id'], {
        BRANKAS_REPO: small,
      });
      assert.match(id.stderr, /repositori penuh \(ruang di filesystem-nya habis\)/);
      const listed = await cli(['backups', vm, '--json'], { BRANKAS_REPO: small });
      assert.deepEqual(JSON.parse(listed.stdout).backups, []);
      assert.equal((await guest.domain.state()).state, 'running');
      assert.equal((await guest.domain.jobInfo()).type, 0);
      assert.deepEqual((await guest.domain.listCheckpoints()).map((c) => c.name).sort(), before);
      assert.deepEqual(
        (await workDirs()).filter((d) => d.marker?.uuid === guest.domain.uuid),
        [],
      );
    } finally {
      await run('umount', [mnt]).catch(() => undefined);
      await rm(mnt, { recursive: true, force: true });
    }
  });

  test('--consistency application without a guest agent is refused at once, in English and Indonesian', async () => {
    const before = await snapshotOfState();
    const r = await cli(['backup', vm, '--consistency', 'application', '--json'], env());
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const error = JSON.parse(r.stdout).error;
    assert.deepEqual([error.code, error.reason], ['BACKUP_LIVE_NO_AGENT', 'no-agent-channel']);
    const en = await cli(['backup', vm, '--consistency', 'application'], env());
    assert.match(
      en.stderr,
      new RegExp(
        `^error: VM '${vm}' cannot be backed up application-consistent \\(no-agent-channel: .*\n$`,
      ),
    );
    const id = await cli(['backup', vm, '--consistency', 'application', '--lang', 'id'], env());
    assert.match(id.stderr, /tidak bisa di-backup application-consistent/);
    assert.deepEqual(await snapshotOfState(), before);
    const bad = await cli(['backup', vm, '--consistency', 'perfect'], env());
    assert.equal(bad.code, 2);
  });

  test('a scratch directory without space: one clear error, nothing recorded, nothing left', async () => {
    const mnt = await mkdtemp(join(tmpdir(), 'brankas-test-scratch-'));
    await run('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt]);
    try {
      await run('dd', ['if=/dev/zero', `of=${join(mnt, 'filler')}`, 'bs=64k']).catch(
        () => undefined,
      );
      const before = await snapshotOfState();
      const r = await cli(['backup', vm, '--mode', 'live', '--scratch', mnt, '--json'], env());
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const error = JSON.parse(r.stdout).error as { code: string; path: string };
      assert.equal(error.code, 'FILE_NO_SPACE', JSON.stringify(error));
      assert.ok(error.path.startsWith(mnt), error.path);
      const id = await cli(['backup', vm, '--scratch', mnt, '--lang', 'id'], env());
      assert.match(id.stderr, /^galat: ruang di filesystem .* habis\n$/);
      assert.deepEqual(await snapshotOfState(), before);
      assert.deepEqual(await readdir(mnt), ['filler']);
    } finally {
      await run('umount', [mnt]).catch(() => undefined);
      await rm(mnt, { recursive: true, force: true });
    }
  });
});

describe('backup --dry-run', () => {
  test('backup --dry-run says what would be read, the consistency and estimates, and changes nothing', async () => {
    await liveBackup();
    await guest.console.run(
      'dd if=/dev/urandom of=/data/dry bs=1M count=2 2>/dev/null; sync',
      60_000,
    );
    const before = await snapshotOfState();
    const r = await cli(['backup', vm, '--dry-run', '--json'], env());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const p = JSON.parse(r.stdout);
    assert.equal(p.dryRun, true);
    assert.equal(p.mode, 'live');
    assert.equal(p.consistency, 'crash-consistent');
    assert.equal(p.consistencyReason, 'no-agent-channel');
    const cps = (await guest.domain.listCheckpoints()).map((c) => c.name);
    assert.deepEqual([p.parentCheckpoint], cps);
    const vda = p.disks.find((d: { target: string }) => d.target === 'vda');
    assert.equal(vda.read, 'incremental');
    // libvirt's size of the dirty bitmap: at least what was written, far less than the disk.
    assert.ok(vda.readBytes >= 2 * MiB && vda.readBytes < vda.capacity / 4, String(vda.readBytes));
    assert.ok(p.estimate.basedOn > 0);
    assert.equal(typeof p.estimate.newStoredBytes, 'number');
    assert.ok(p.repository.freeBytes > 0);
    const whole = JSON.parse(
      (await cli(['backup', vm, '--dry-run', '--reread', '--json'], env())).stdout,
    );
    const wholeVda = whole.disks.find((d: { target: string }) => d.target === 'vda');
    assert.deepEqual([wholeVda.read, wholeVda.reason], ['full', 'reread']);
    assert.ok(wholeVda.readBytes > vda.readBytes);
    const cold = JSON.parse(
      (await cli(['backup', vm, '--dry-run', '--mode', 'cold', '--json'], env())).stdout,
    );
    assert.deepEqual([cold.mode, cold.shutdown, cold.consistency], ['cold', true, 'shutdown']);
    const text = await cli(['backup', vm, '--dry-run', '--lang', 'id'], env());
    assert.match(text.stdout, /Uji coba: tidak ada yang diubah/);
    assert.match(text.stdout, /vda: incremental \(incremental\): membaca/);
    // Nothing touched: the VM, its checkpoints, no job, no directory, the repository's files.
    assert.deepEqual(await snapshotOfState(), before);
    const real = await liveBackup();
    assert.equal(real.checkpoint, p.checkpoint);
  });
});

describe('brankas doctor', () => {
  test('shows what a killed live backup left without changing it; --fix repairs it and the line goes on', async () => {
    const last = await liveBackup();
    const sequence = Number(/\d+$/.exec(last.checkpoint)![0]);
    const orphan = last.checkpoint.replace(/\d+$/, String(sequence + 1));
    // As a SIGKILL leaves it: the job running with its export, its directory, its checkpoint.
    const ex = await LiveExport.begin(guest.domain, {
      disks: [{ target: 'vda', incremental: last.checkpoint }],
      checkpoint: { name: orphan, description: 'killed', bitmapDisks: ['vda'] },
    });
    const left = async (): Promise<[boolean, boolean, string[]]> => [
      (await guest.domain.jobInfo()).type !== 0,
      existsSync(ex.dir),
      (await guest.domain.listCheckpoints()).map((c) => c.name).sort(),
    ];
    const plan = await doctor(vm);
    assert.deepEqual(kinds(plan.findings), ['backup-job', 'orphan-checkpoint', 'work-dir']);
    assert.deepEqual(
      plan.findings.find((f) => f.kind === 'orphan-checkpoint'),
      { kind: 'orphan-checkpoint', vm, checkpoint: orphan, reason: 'not-in-repository' },
    );
    assert.equal(plan.findings.find((f) => f.kind === 'work-dir' && f.path === ex.dir)?.vm, vm);
    assert.equal(plan.results, null);
    const text = await cli(['doctor', vm], env());
    assert.match(text.stdout, /Found 3 thing\(s\) left behind/);
    assert.match(text.stdout, /a brankas backup job is still running with no brankas behind it/);
    assert.match(text.stdout, /Nothing was changed/);
    const id = await cli(['doctor', vm, '--lang', 'id'], env());
    assert.match(id.stdout, /job backup brankas masih berjalan/);
    const dry = await doctor(vm, '--fix', '--dry-run');
    assert.equal(dry.fixed, false);
    assert.deepEqual(await left(), [true, true, [last.checkpoint, orphan].sort()]);

    const fixed = await doctor(vm, '--fix');
    assert.deepEqual(
      fixed.results!.map((r) => [r.finding.kind, r.outcome]),
      [
        ['backup-job', 'fixed'],
        ['work-dir', 'fixed'],
        ['orphan-checkpoint', 'fixed'],
      ],
    );
    assert.deepEqual(await left(), [false, false, [last.checkpoint]]);
    assert.deepEqual((await doctor(vm)).findings, []);
    assert.match((await cli(['doctor', vm], env())).stdout, /Nothing left behind/);
    const next = await liveBackup();
    assert.equal(next.clearedLeftovers, null);
    const r = await cli(['backups', vm, '--json'], env());
    const row = (
      JSON.parse(r.stdout).backups as {
        id: string;
        live: { disks: Record<string, { read: string }> };
      }[]
    ).at(-1)!;
    assert.equal(row.id, next.manifest.id);
    assert.equal(row.live.disks['vda']!.read, 'incremental');
  });

  test('host-wide: directories of a VM that is gone, or of no job and old, are found and removed', async () => {
    // A scratch directory and a test-driver host of this test's own: no other VM is looked at.
    const root = await mkdtemp(join(tmpdir(), 'brankas-test-doctor-'));
    const host = [
      '-c',
      `test://${repoPath('test', 'fixtures', 'test-host.xml')}`,
      '--scratch',
      root,
    ];
    try {
      const gone = await mkdtemp(join(root, WORK_DIR_PREFIX));
      await writeMarker(gone, {
        vm: 'brankas-test-gone',
        uuid: randomUUID(),
        pid: 999_999_999,
        checkpoint: null,
        startedAt: new Date().toISOString(),
      });
      // Without a marker: old enough to be a dead job's, or so young it may be one being made.
      const old = await mkdtemp(join(root, WORK_DIR_PREFIX));
      const hour = new Date(Date.now() - 3600_000);
      await utimes(old, hour, hour);
      await mkdtemp(join(root, WORK_DIR_PREFIX));
      const plan = await doctor(...host);
      assert.deepEqual(
        plan.findings.sort((a, b) =>
          a.kind === 'work-dir' && b.kind === 'work-dir' ? a.reason.localeCompare(b.reason) : 0,
        ),
        [
          { kind: 'work-dir', vm: null, path: old, reason: 'unknown-job' },
          { kind: 'work-dir', vm: 'brankas-test-gone', path: gone, reason: 'vm-gone' },
        ],
      );
      const fixed = await doctor(...host, '--fix');
      assert.deepEqual(
        fixed.results!.map((r) => r.outcome),
        ['fixed', 'fixed'],
      );
      assert.ok(!existsSync(gone) && !existsSync(old));
      assert.equal((await readdir(root)).length, 1);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test('a VM an interrupted cold backup left shut off is shown, and started again with --fix', async () => {
    guest.console.close();
    await guest.domain.destroy();
    await writeJournal(TEST_STATE_DIR, {
      version: 1,
      vm,
      // This host, a pid that is not running: a gone owner.
      owner: { pid: 999_999_999, start: '1', boot: null, host: hostname(), job: 'backup' },
      changes: [
        {
          kind: 'powered-off',
          vm,
          uuid: guest.domain.uuid,
          initial: 'running',
          at: '2026-12-06T04:00:00.000Z',
          job: 'backup',
          pid: 999_999_999,
        },
      ],
    });
    const plan = await doctor(vm);
    assert.deepEqual(kinds(plan.findings), ['left-shut-off']);
    assert.match(
      (await cli(['doctor', vm], env())).stdout,
      /shut off by a backup that was interrupted \(process 999999999/,
    );
    assert.equal((await guest.domain.state()).state, 'shutoff');
    const fixed = await doctor(vm, '--fix');
    assert.deepEqual(
      fixed.results!.map((r) => [r.finding.kind, r.outcome]),
      [['left-shut-off', 'fixed']],
    );
    assert.equal((await guest.domain.state()).state, 'running');
    assert.deepEqual((await doctor(vm)).findings, []);
  });
});
