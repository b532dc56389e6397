/**
 * The API's files and instant-recovery routes in-process (`app.request()`), against the real
 * libvirtd and a real cold backup: a VM that never boots, whose disk is an ext4 filesystem
 * made on the host (`mkfs.ext4 -d`) with known bytes. Bad requests refused before any helper
 * boots, and a tar of two paths downloaded (one helper VM boot) and compared byte for byte (a
 * listing and one file as it is go through the same routes in the dashboard's test,
 * test/web-dashboard.test.ts, to keep the helper boots few); then a VM run from the backup as a job (not started: nothing boots), listed as
 * serving, its stop refused while it depends on the export, persisted as a job (qemu-img, the
 * VM being off) and then stopped.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createApi, type ApiApp } from '../src/api/index.js';
import { runOperations } from '../src/cli/run-ops.js';
import { ensureGuestImages, guestDomainXml } from '../src/engine/guest/tiny-guest.js';
import { Connection, type Domain } from '../src/libvirt/index.js';
import { LocalBackend } from '../src/repo/backend/local.js';
import { Repository } from '../src/repo/repository.js';
import { isAlive, JobHistory, JobQueue, type ProcessIdentity } from '../src/service/index.js';
import { cli, initPlainRepo } from './support/cli.js';
import { makeScratchDir, testName, type ScratchDir } from './support/guest.js';
import { removeDomain } from './support/guest-lab.js';

const run = promisify(execFile);
const TOKEN = 'api-recovery-test-token';
const AUTH = { authorization: `Bearer ${TOKEN}`, host: '127.0.0.1' };
const MiB = 1 << 20;

let conn: Connection;
let repoDir: string;
let stateDir: string;
let scratch: ScratchDir;
let source: Domain | undefined;
let history: JobHistory;
let queue: JobQueue;
let app: ApiApp;
let backup: string;
const hello = 'halo dari cadangan\n';
const big = randomBytes(3 * MiB + 321);
const runName = testName('api-run');
let server: ProcessIdentity | undefined;

before(async () => {
  conn = await Connection.open('qemu:///system');
  repoDir = await initPlainRepo();
  stateDir = await mkdtemp(join(tmpdir(), 'brankas-test-api-recovery-state-'));
  scratch = await makeScratchDir('api-recovery');
  const tree = join(scratch.path, 'tree');
  await mkdir(join(tree, 'docs'), { recursive: true });
  await writeFile(join(tree, 'docs', 'hello.txt'), hello);
  await writeFile(join(tree, 'docs', 'big.bin'), big);
  const disk = join(scratch.path, 'vda.raw');
  await writeFile(disk, '');
  await truncate(disk, 64 * MiB);
  await run('mkfs.ext4', ['-q', '-F', '-d', tree, disk]);
  const images = await ensureGuestImages();
  source = await conn.defineDomain(
    guestDomainXml({
      name: scratch.name,
      kernel: images.kernel,
      initrd: images.initrd,
      disks: [{ path: disk, format: 'raw', target: 'vda' }],
      serialSocket: join(scratch.path, 'console.sock'),
    }),
  );
  const b = await cli(['backup', scratch.name, '--mode', 'cold', '--json'], {
    BRANKAS_REPO: repoDir,
  });
  assert.equal(b.code, 0, b.stdout + b.stderr);
  backup = JSON.parse(b.stdout).manifest.id;
  history = JobHistory.open(stateDir);
  queue = new JobQueue({ stateDir, history, connect: async () => conn });
  const openRepo = () => Repository.open(new LocalBackend(repoDir));
  app = createApi({
    token: TOKEN,
    queue,
    connect: async () => conn,
    openRepo,
    runs: runOperations({
      stateDir,
      connect: async () => conn,
      location: repoDir,
      password: undefined,
      openRepo,
      env: {},
    }),
  });
});

after(async () => {
  try {
    const copy = await conn?.lookupDomain(runName).catch(() => undefined);
    if (copy) await removeDomain(copy);
    if (server && isAlive(server)) process.kill(server.pid, 'SIGKILL');
    if (source) await removeDomain(source);
    await queue?.close();
    history?.close();
    await conn?.close();
  } finally {
    await scratch?.remove();
    for (const d of [repoDir, stateDir]) if (d) await rm(d, { recursive: true, force: true });
  }
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed JSON, checked field by field
type Json = any;

async function call(path: string, method = 'GET', body?: unknown) {
  const res = await app.request(path, {
    method,
    headers: { ...AUTH, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

async function job(path: string, body: unknown) {
  const r = await call(path, 'POST', body);
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return queue.settled(r.body.id as string);
}

describe('files of a backup through the API', () => {
  test('a path leading outside is a 400 before any helper boots, several paths as one file too, and no token a 401', async () => {
    const out = await call(`/api/v1/backups/${backup}/files?path=/docs/../..`);
    assert.equal(out.status, 400);
    assert.equal(out.body.error.code, 'FILES_PATH_OUTSIDE');
    // Refused by the engine before it opened the stream's FIFO: the request ends, with its code.
    const outDl = await call(`/api/v1/backups/${backup}/files/download?path=/docs/../../etc`);
    assert.equal(outDl.status, 400);
    assert.equal(outDl.body.error.code, 'FILES_PATH_OUTSIDE');
    const bad = await call(`/api/v1/backups/${backup}/files/download?path=/a&path=/b&format=file`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'API_BAD_REQUEST');
    const res = await app.request(`/api/v1/backups/${backup}/files?path=/`, {
      headers: { host: '127.0.0.1' },
    });
    assert.equal(res.status, 401);
  });

  test('downloads a tar of two paths that tar reads back to the same bytes', async () => {
    const q = ['/docs/hello.txt', '/docs/big.bin'].map((p) => `path=${encodeURIComponent(p)}`);
    const res = await app.request(`/api/v1/backups/${backup}/files/download?${q.join('&')}`, {
      headers: AUTH,
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-tar');
    assert.match(res.headers.get('content-disposition') ?? '', /\.tar"/);
    const dir = join(scratch.path, 'untar');
    await mkdir(dir);
    const tarFile = join(scratch.path, 'got.tar');
    await writeFile(tarFile, Buffer.from(await res.arrayBuffer()));
    await run('tar', ['-xf', tarFile, '-C', dir]);
    assert.equal(await readFile(join(dir, 'docs', 'hello.txt'), 'utf8'), hello);
    assert.ok((await readFile(join(dir, 'docs', 'big.bin'))).equals(big));
  });
});

describe('instant recovery through the API', () => {
  test('runs a VM from the backup as a job, lists it, refuses to stop it while it depends, persists it, then stops', async () => {
    const dry = await call(`/api/v1/backups/${backup}/run`, 'POST', { as: runName, dryRun: true });
    assert.equal(dry.status, 200, JSON.stringify(dry.body));
    assert.equal(dry.body.plan.vm, runName);
    assert.equal(dry.body.plan.xml, undefined, 'no XML (console passwords) in the answer');

    const started = await job(`/api/v1/backups/${backup}/run`, { as: runName });
    assert.equal(started.state, 'succeeded', JSON.stringify(started.error));
    const result = started.result as Json;
    server = result.server;
    assert.equal(result.started, false);

    const list = await call('/api/v1/runs');
    const row = list.body.runs.find((x: { vm: string }) => x.vm === runName);
    assert.equal(row.state, 'serving');
    assert.equal(row.defined, true);
    assert.equal(row.dependsOnExport, true);

    const refused = await call(`/api/v1/runs/${runName}/stop`, 'POST', {});
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, 'RUN_VM_DEPENDS');
    const unconfirmed = await call(`/api/v1/runs/${runName}/stop`, 'POST', { force: true });
    assert.equal(unconfirmed.status, 400);
    assert.equal(unconfirmed.body.error.code, 'API_CONFIRM_REQUIRED');
    const plan = await call(`/api/v1/runs/${runName}/stop`, 'POST', { force: true, dryRun: true });
    assert.equal(plan.status, 200, JSON.stringify(plan.body));
    assert.equal(plan.body.plan.dependsOnExport, true, 'the plan says the VM reads from it');
    assert.ok(isAlive(server!));

    const persisted = await job(`/api/v1/runs/${runName}/persist`, {});
    assert.equal(persisted.state, 'succeeded', JSON.stringify(persisted.error));
    const local = (persisted.result as Json).disks[0].path as string;
    assert.ok(existsSync(local));
    const after = (await call('/api/v1/runs')).body.runs.find(
      (x: { vm: string }) => x.vm === runName,
    );
    assert.equal(after.state, 'persisted');
    assert.equal(after.dependsOnExport, false);
    assert.equal(isAlive(server!), false, 'the serving process has stopped');

    const stopped = await call(`/api/v1/runs/${runName}/stop`, 'POST', {});
    assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
    assert.deepEqual((await call('/api/v1/runs')).body.runs, []);
    const missing = await call(`/api/v1/runs/${runName}/stop`, 'POST', {});
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'RUN_NOT_FOUND');
  });
});
