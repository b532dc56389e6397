/**
 * The API's snapshot, backup and repository routes in-process, on libvirt's test driver and a
 * fresh repository holding backups written directly: the snapshot tree, create/revert/delete as
 * jobs, the destructive calls refused without `confirm` and planned with `dryRun`, a restore
 * test recorded in the backup and shown as its verification, and the repository's figures with
 * one growth point per backup.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '../libvirt/index.js';
import { LocalBackend } from '../repo/backend/local.js';
import { Repository } from '../repo/repository.js';
import { manifestObjectName } from '../repo/manifest.js';
import { TEST_KDF } from '../repo/keys.js';
import { repoStats } from '../repo/stats.js';
import { verifyRepository } from '../repo/verify.js';
import { backupBytes, realisticBytes } from '../repo/testing/support.js';
import { JobHistory, JobQueue } from '../service/index.js';
import { cli } from '../../test/support/cli.js';
import { createApi, type ApiApp } from './app.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/test-host.xml', import.meta.url));
const VM = 'brankas-test-app01';
const TOKEN = 'test-token-actions';
const AUTH = { authorization: `Bearer ${TOKEN}`, host: '127.0.0.1' };

let conn: Connection;
let dir: string;
let history: JobHistory;
let queue: JobQueue;
let app: ApiApp;
let backups: string[];

before(async () => {
  conn = await Connection.open(`test://${FIXTURE}`);
  dir = await mkdtemp(join(tmpdir(), 'brankas-test-api-actions-'));
  const location = join(dir, 'repo');
  await Repository.init(new LocalBackend(location), { password: undefined, kdf: TEST_KDF });
  const repo = await Repository.open(new LocalBackend(location));
  try {
    const data = realisticBytes(3 * 1024 * 1024, 7);
    backups = [await backupBytes(repo, data, 'brankas-test-db01')];
    data.fill(1, 0, 4096); // the second backup shares all but one chunk
    backups.push(await backupBytes(repo, data, 'brankas-test-db01', backups[0]));
  } finally {
    await repo.close();
  }
  history = JobHistory.open(join(dir, 'state'));
  queue = new JobQueue({ stateDir: join(dir, 'state'), history, connect: async () => conn });
  app = createApi({
    token: TOKEN,
    queue,
    connect: async () => conn,
    openRepo: () => Repository.open(new LocalBackend(location)),
  });
});
after(async () => {
  await queue?.close();
  history?.close();
  await conn?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed JSON, checked field by field
type Json = any;

async function call(
  path: string,
  method = 'GET',
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  const res = await app.request(path, {
    method,
    headers: { ...AUTH, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: await res.json() };
}

/** Submits a job through the API and waits for its end (the queue's own promise, no polling). */
async function job(path: string, method: string, body: unknown) {
  const r = await call(path, method, body);
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return queue.settled(r.body.id as string);
}

describe('snapshot routes', () => {
  test('GET snapshots is the tree of the VM with the current one marked', async () => {
    const r = await call(`/api/v1/vms/${VM}/snapshots`);
    assert.equal(r.status, 200);
    assert.deepEqual(
      r.body.snapshots.map((n: { name: string; depth: number }) => [n.name, n.depth]),
      [
        ['snap-awal', 0],
        ['snap-kedua', 1],
      ],
    );
    assert.deepEqual(r.body.warnings, []);
  });

  test('a snapshot created through a job is in the tree', async () => {
    const done = await job(`/api/v1/vms/${VM}/snapshots`, 'POST', { name: 'api-snap' });
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    const r = await call(`/api/v1/vms/${VM}/snapshots`);
    const made = r.body.snapshots.find((n: { name: string }) => n.name === 'api-snap');
    assert.ok(made?.current, JSON.stringify(r.body));
  });

  test('revert without confirm is 400 API_CONFIRM_REQUIRED, dryRun says what is lost, confirm reverts', async () => {
    const refused = await call(`/api/v1/vms/${VM}/snapshots/snap-awal/revert`, 'POST', {});
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error.code, 'API_CONFIRM_REQUIRED');
    assert.equal(refused.body.error.details.action, 'revert');
    const plan = await call(`/api/v1/vms/${VM}/snapshots/snap-awal/revert`, 'POST', {
      dryRun: true,
    });
    assert.equal(plan.status, 200);
    assert.equal(plan.body.plan.snapshot.name, 'snap-awal');
    assert.equal(typeof plan.body.plan.loseChangesSince, 'number');
    const before = await call(`/api/v1/vms/${VM}/snapshots`);
    assert.notEqual(
      before.body.snapshots.find((n: { current: boolean }) => n.current).name,
      'snap-awal',
    );
    const done = await job(`/api/v1/vms/${VM}/snapshots/snap-awal/revert`, 'POST', {
      confirm: true,
    });
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    const after = await call(`/api/v1/vms/${VM}/snapshots`);
    assert.equal(
      after.body.snapshots.find((n: { current: boolean }) => n.current).name,
      'snap-awal',
    );
  });

  test('delete plans, refuses without confirm, and deletes with it', async () => {
    const path = `/api/v1/vms/${VM}/snapshots/api-snap`;
    assert.equal((await call(path, 'DELETE', {})).body.error.code, 'API_CONFIRM_REQUIRED');
    assert.deepEqual((await call(path, 'DELETE', { dryRun: true })).body.plan.removes, [
      'api-snap',
    ]);
    const done = await job(path, 'DELETE', { confirm: true });
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    const r = await call(`/api/v1/vms/${VM}/snapshots`);
    assert.ok(!r.body.snapshots.some((n: { name: string }) => n.name === 'api-snap'));
    const gone = await call(path, 'DELETE', { dryRun: true });
    assert.equal(gone.status, 404, JSON.stringify(gone.body));
  });
});

describe('backup and repository routes', () => {
  test('a restore test through a job is recorded and shown as the backup verification', async () => {
    const before = await call('/api/v1/backups?vm=brankas-test-db01');
    assert.equal(before.body.backups[1].verification, null);
    const done = await job(`/api/v1/backups/${backups[1]}/verify`, 'POST', {});
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    const after = await call('/api/v1/backups?vm=brankas-test-db01');
    assert.equal(after.body.backups[1].verification.passed, true);
    assert.equal(after.body.backups[1].verification.how, 'data');
    assert.equal(after.body.backups[0].verification, null);
    assert.deepEqual(after.body.backups[0].diskBytes, [
      { name: 'vda', virtualSize: 3 * 1024 * 1024, dataBytes: 3 * 1024 * 1024 },
    ]);
  });

  test('a restore over the VM needs confirm, a copy a VM name; an unknown backup is 404', async () => {
    const r = await call(`/api/v1/backups/${backups[0]}/restore`, 'POST', { force: true });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'API_CONFIRM_REQUIRED');
    for (const as of [42, '../x', '']) {
      const bad = await call(`/api/v1/backups/${backups[0]}/restore`, 'POST', { as });
      assert.equal(bad.status, 400, JSON.stringify(as));
      assert.equal(bad.body.error.code, 'API_BAD_REQUEST');
    }
    const none = await call('/api/v1/backups/20200101T000000Z-00000000/verify', 'POST', {});
    assert.equal(none.status, 404, JSON.stringify(none.body));
  });

  test('GET repo gives logical and stored bytes, ratios, free space, and one growth point per backup', async () => {
    const r = await call('/api/v1/repo');
    assert.equal(r.status, 200);
    assert.equal(r.body.stats.backups, 2);
    assert.equal(r.body.stats.logicalBytes, 6 * 1024 * 1024);
    assert.ok(r.body.stats.dedupRatio > 1.5, JSON.stringify(r.body.stats));
    // A local repository says how much room its file system has left.
    assert.ok(r.body.space.totalBytes >= r.body.space.freeBytes, JSON.stringify(r.body.space));
    assert.equal(r.body.space.nearlyFull, r.body.space.freeBytes < r.body.space.totalBytes / 10);
    const space = await call('/api/v1/repo/space');
    assert.equal(space.body.space.totalBytes, r.body.space.totalBytes);
    assert.deepEqual(
      r.body.growth.map((g: { backup: string }) => g.backup),
      backups,
    );
    const [first, second] = r.body.growth;
    assert.equal(second.logicalBytes, 2 * first.logicalBytes);
    assert.ok(second.storedBytes > first.storedBytes);
    assert.ok(second.storedBytes - first.storedBytes < first.storedBytes / 2);
  });

  test('GET repo and GET a backup show what brankas repo info --json does (one engine, two faces)', async () => {
    const env = { BRANKAS_REPO: join(dir, 'repo') };
    const cliInfo = await cli(['repo', 'info', '--json'], env);
    assert.equal(cliInfo.code, 0, cliInfo.stderr);
    const fromCli = JSON.parse(cliInfo.stdout) as Record<string, unknown>;
    const api = (await call('/api/v1/repo')).body;
    assert.deepEqual(Object.keys(fromCli).sort(), [
      'backups',
      'compressionLevel',
      'config',
      'damaged',
      'keys',
      'location',
    ]);
    for (const [k, v] of Object.entries(fromCli)) assert.deepEqual(api[k], v, k);
    assert.deepEqual(
      api.backups.map((b: { id: string }) => b.id),
      backups,
    );
    const one = await cli(['repo', 'info', backups[1]!, '--json'], env);
    assert.equal(one.code, 0, one.stderr);
    const b = await call(`/api/v1/backups/${backups[1]}`);
    assert.equal(b.status, 200);
    assert.deepEqual(b.body, JSON.parse(one.stdout));
    assert.equal(b.body.parent, backups[0]);
    const none = await call(`/api/v1/backups/${'0'.repeat(backups[1]!.length)}`);
    assert.equal(none.status, 404, JSON.stringify(none.body));
  });

  test('gc and prune need confirm, dryRun plans in the request, and verify and gc run as repository jobs', async () => {
    assert.equal(
      (await call('/api/v1/repo/gc', 'POST', {})).body.error.code,
      'API_CONFIRM_REQUIRED',
    );
    const gc = await call('/api/v1/repo/gc', 'POST', { dryRun: true });
    assert.equal(gc.body.dryRun, true);
    const prune = await call('/api/v1/repo/prune', 'POST', { dryRun: true, keepLast: 1 });
    assert.equal(prune.status, 200, JSON.stringify(prune.body));
    assert.deepEqual(
      prune.body.forget.decisions
        .filter((d: { keep: boolean }) => !d.keep)
        .map((d: { id: string }) => d.id),
      [backups[0]],
    );
    assert.equal((await call('/api/v1/repo/prune', 'POST', { confirm: true })).status, 400);
    // The check and a confirmed gc are jobs on the repository: no VM, one after the other.
    const v = await call('/api/v1/repo/verify', 'POST', { readData: true });
    assert.equal(v.status, 202, JSON.stringify(v.body));
    assert.equal(v.body.vm, null);
    assert.equal(v.body.kind, 'repo-verify');
    const events: string[] = [];
    queue.subscribe(v.body.id, (e) => events.push(e.type));
    const g = await call('/api/v1/repo/gc', 'POST', { confirm: true });
    assert.equal(g.status, 202, JSON.stringify(g.body));
    const verified = await queue.settled(v.body.id);
    assert.equal(verified.state, 'succeeded', JSON.stringify(verified.error));
    assert.equal((verified.result as { ok: boolean }).ok, true);
    assert.ok(events.includes('progress'), `the check's progress is sent: ${events.join(' ')}`);
    const collected = await queue.settled(g.body.id);
    assert.equal(collected.state, 'succeeded', JSON.stringify(collected.error));
    assert.ok(Date.parse(collected.startedAt!) >= Date.parse(verified.endedAt!), 'one at a time');
    assert.equal((collected.result as { deletedPacks: number }).deletedPacks, 0);
    const listed = (await call('/api/v1/jobs')).body.jobs.map((j: { kind: string }) => j.kind);
    assert.ok(listed.includes('repo-verify') && listed.includes('gc'), listed.join(' '));
    assert.equal((await call('/api/v1/repo')).body.stats.backups, 2);
    // A confirmed prune is a repository job too; its result is what it forgot and collected.
    const pruned = await job('/api/v1/repo/prune', 'POST', { confirm: true, keepLast: 1 });
    assert.equal(pruned.state, 'succeeded', JSON.stringify(pruned.error));
    assert.equal(pruned.vm, null);
    assert.deepEqual((pruned.result as { forget: { removed: string[] } }).forget.removed, [
      backups[0],
    ]);
    assert.equal((await call('/api/v1/repo')).body.stats.backups, 1);
  });
  test('a running gc cancelled through the API stops at a safe point: no plan, nothing deleted; the next gc collects', async () => {
    // Garbage to collect: a backup of data of its own, forgotten.
    const location = join(dir, 'repo');
    const repo = await Repository.open(new LocalBackend(location));
    let packs: number;
    try {
      const extra = await backupBytes(
        repo,
        realisticBytes(2 * 1024 * 1024, 99),
        'brankas-test-tmp',
      );
      await repo.backend.delete(manifestObjectName(extra)); // forgotten
      packs = (await repoStats(repo)).packs;
    } finally {
      await repo.close();
    }
    const g = await call('/api/v1/repo/gc', 'POST', { confirm: true });
    assert.equal(g.status, 202, JSON.stringify(g.body));
    // Cancelled through the API at its first progress event (the live set being read).
    let cancel: Response | Promise<Response> | undefined;
    queue.subscribe(g.body.id, (e) => {
      if (e.type === 'progress' && !cancel) {
        cancel = app.request(`/api/v1/jobs/${g.body.id}/cancel`, { method: 'POST', headers: AUTH });
      }
    });
    const stopped = await queue.settled(g.body.id);
    assert.equal((await cancel!).status, 200);
    assert.equal(stopped.state, 'cancelled', JSON.stringify(stopped));
    const after = await Repository.open(new LocalBackend(location));
    try {
      assert.equal((await after.gcPlans()).length, 0);
      assert.equal((await repoStats(after)).packs, packs);
      assert.ok((await verifyRepository(after, { readData: true })).ok);
    } finally {
      await after.close();
    }
    const again = await job('/api/v1/repo/gc', 'POST', { confirm: true });
    assert.equal(again.state, 'succeeded', JSON.stringify(again.error));
    assert.ok((again.result as { deletedPacks: number }).deletedPacks > 0);
  });
});
