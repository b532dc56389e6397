/**
 * The API in-process (`app.request()`) against libvirt's test driver, a fresh repository and
 * a real job queue with its SQLite history in a temp state directory: the token and the Host
 * are required, every input is checked with a clear 4xx, errors carry the registry's code,
 * a busy VM is a 409, and the OpenAPI document describes every route.
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
import { TEST_KDF } from '../repo/keys.js';
import { JobHistory, JobQueue, VmLock } from '../service/index.js';
import { createApi, type ApiApp } from './app.js';
import { OPENAPI } from './openapi.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/test-host.xml', import.meta.url));
const VM = 'brankas-test-web01';
const TOKEN = 'test-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}`, host: '127.0.0.1:8765' };

let conn: Connection;
let dir: string;
let history: JobHistory;
let queue: JobQueue;
let app: ApiApp;

before(async () => {
  conn = await Connection.open(`test://${FIXTURE}`);
  dir = await mkdtemp(join(tmpdir(), 'brankas-test-api-'));
  const location = join(dir, 'repo');
  await Repository.init(new LocalBackend(location), { password: undefined, kdf: TEST_KDF });
  history = JobHistory.open(join(dir, 'state'));
  queue = new JobQueue({ stateDir: join(dir, 'state'), history, connect: async () => conn });
  app = createApi({
    token: TOKEN,
    queue,
    connect: async () => conn,
    openRepo: () => Repository.open(new LocalBackend(location)),
    bodyLimit: 1024,
  });
});
after(async () => {
  await queue?.close();
  history?.close();
  await conn?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function call(
  path: string,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {},
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed JSON, checked field by field
): Promise<{ status: number; body: any }> {
  const res = await app.request(path, {
    method: init.method ?? 'GET',
    headers: {
      ...AUTH,
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...init.headers,
    },
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text,
  };
}

describe('API security', () => {
  test('a call without the token, or with a wrong one, is 401 API_UNAUTHORIZED', async () => {
    for (const authorization of [undefined, 'Bearer wrong', `Basic ${TOKEN}`, `Bearer ${TOKEN}x`]) {
      const headers: Record<string, string> = { host: '127.0.0.1' };
      if (authorization) headers['authorization'] = authorization;
      const res = await app.request('/api/v1/host', { headers });
      assert.equal(res.status, 401, String(authorization));
      assert.equal(
        ((await res.json()) as { error: { code: string } }).error.code,
        'API_UNAUTHORIZED',
      );
    }
  });

  test('a Host that is not a loopback name is refused (DNS rebinding), even with the token', async () => {
    const r = await call('/api/v1/host', { headers: { host: 'evil.example:8765' } });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, 'API_HOST_REFUSED');
    for (const host of ['localhost:1', '[::1]:8765', '127.0.0.1']) {
      assert.equal((await call('/api/v1/host', { headers: { host } })).status, 200, host);
    }
  });

  test('a body over the limit is 413 API_BODY_TOO_LARGE', async () => {
    const r = await call(`/api/v1/vms/${VM}/backup`, {
      method: 'POST',
      body: JSON.stringify({ wait: false, x: 'y'.repeat(2000) }),
    });
    assert.equal(r.status, 413);
    assert.equal(r.body.error.code, 'API_BODY_TOO_LARGE');
  });
});

describe('API routes on the test driver', () => {
  test('GET /host names the hypervisor and /vms lists power state, disks, snapshot count and last backup', async () => {
    const host = await call('/api/v1/host');
    assert.equal(host.status, 200);
    assert.equal(host.body.hypervisor.type, 'TEST');
    const vms = await call('/api/v1/vms');
    assert.equal(vms.status, 200);
    const app01 = vms.body.vms.find((v: { name: string }) => v.name === 'brankas-test-app01');
    assert.ok(app01, JSON.stringify(vms.body));
    assert.equal(
      app01.snapshotCount,
      await (await conn.lookupDomain('brankas-test-app01')).snapshotCount(),
    );
    assert.ok(app01.snapshotCount > 0);
    assert.equal(app01.lastBackup, null);
    assert.equal(app01.schedule, null, 'no scheduler: no VM has a schedule');
    assert.ok(Array.isArray(app01.disks));
    assert.equal((await call(`/api/v1/vms/${VM}`)).body.name, VM);
  });

  test('a server without a scheduler answers 404 on /schedules (the dashboard says "no scheduler")', async () => {
    const r = await call('/api/v1/schedules');
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, 'API_NOT_FOUND');
  });

  test('an unknown VM is 404 VM_NOT_FOUND with the English text of the registry', async () => {
    const r = await call('/api/v1/vms/brankas-test-nope');
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, 'VM_NOT_FOUND');
    assert.equal(r.body.error.message, "no VM named 'brankas-test-nope'");
  });

  test('bad input is 400 API_BAD_REQUEST: a VM name, a body that is not JSON, a non-boolean, an unknown field, a job id', async () => {
    const bad = [
      await call('/api/v1/vms/..%2Fetc'),
      await call('/api/v1/backups?vm=%20x'),
      await call(`/api/v1/vms/${VM}/backup`, { method: 'POST', body: '{not json' }),
      await call(`/api/v1/vms/${VM}/backup`, { method: 'POST', body: '{"wait":"yes"}' }),
      await call(`/api/v1/vms/${VM}/backup`, {
        method: 'POST',
        body: '{"shutdownTimeoutSeconds":0}',
      }),
      await call(`/api/v1/vms/${VM}/backup`, { method: 'POST', body: '{"force":true}' }),
      await call(`/api/v1/vms/${VM}/backup`, { method: 'POST', body: '[]' }),
      await call('/api/v1/jobs/42'),
      await call('/api/v1/jobs?limit=0'),
    ];
    for (const r of bad) {
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error.code, 'API_BAD_REQUEST');
    }
    const mode = await call(`/api/v1/vms/${VM}/backup`, {
      method: 'POST',
      body: '{"mode":"hot"}',
    });
    assert.equal(mode.status, 400);
    assert.equal(mode.body.error.message, "'mode' is one of auto, live, cold");
  });

  test('a backup takes consistency and freezeTimeoutSeconds as the CLI does: checked (400 saying what is allowed), then given to the engine', async () => {
    const refused = [
      ['{"consistency":"strong"}', "'consistency' is one of auto, application, shutdown"],
      [
        '{"consistency":"shutdown","mode":"cold"}',
        "'consistency' shutdown is for live backups: a cold backup is shut down already",
      ],
      ['{"freezeTimeoutSeconds":0}', "'freezeTimeoutSeconds' must be a whole number from 1 to 600"],
      [
        '{"freezeTimeoutSeconds":"10s"}',
        "'freezeTimeoutSeconds' must be a whole number from 1 to 600",
      ],
    ];
    for (const [body, message] of refused) {
      const r = await call(`/api/v1/vms/${VM}/backup`, { method: 'POST', body });
      assert.equal(r.status, 400, body);
      assert.equal(r.body.error.code, 'API_BAD_REQUEST');
      assert.equal(r.body.error.message, message);
    }
    // The test driver's VM has no guest agent: asked for application consistency, the engine
    // refuses before it does anything (without the field it would try, and fail otherwise).
    const r = await call(`/api/v1/vms/${VM}/backup`, {
      method: 'POST',
      body: '{"consistency":"application","freezeTimeoutSeconds":30}',
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const ended = await queue.settled(r.body.id);
    assert.equal(ended.state, 'failed');
    assert.equal(ended.error?.code, 'BACKUP_LIVE_NO_AGENT', JSON.stringify(ended.error));
  });

  test('a backup request for a VM another job holds is 409 VM_BUSY', async () => {
    const lock = await VmLock.tryTake(join(dir, 'state'), VM, 'restore');
    assert.ok(lock instanceof VmLock);
    try {
      const r = await call(`/api/v1/vms/${VM}/backup`, { method: 'POST', body: '{}' });
      assert.equal(r.status, 409);
      assert.equal(r.body.error.code, 'VM_BUSY');
      assert.equal(r.body.error.details.vm, VM);
    } finally {
      await lock.release();
    }
  });

  test('an unknown job is 404 JOB_NOT_FOUND and an unknown path 404 API_NOT_FOUND', async () => {
    const job = await call('/api/v1/jobs/00000000-0000-4000-8000-000000000000');
    assert.equal(job.status, 404);
    assert.equal(job.body.error.code, 'JOB_NOT_FOUND');
    const cancel = await call('/api/v1/jobs/00000000-0000-4000-8000-000000000000/cancel', {
      method: 'POST',
    });
    assert.equal(cancel.body.error.code, 'JOB_NOT_FOUND');
    const none = await call('/api/v1/nothing');
    assert.equal(none.status, 404);
    assert.equal(none.body.error.code, 'API_NOT_FOUND');
  });

  test("a job's events stream its state to the end, and the job is in /jobs", async () => {
    const job = await queue.submit({
      vm: 'brankas-test-db01',
      kind: 'backup',
      work: async ({ progress }) => {
        progress({ done: 1 });
        return { ok: true };
      },
    });
    const events = await call(`/api/v1/jobs/${job.id}/events`);
    assert.equal(events.status, 200);
    assert.match(events.body, /event: state\ndata: .*"state":"succeeded"/);
    const list = await call('/api/v1/jobs?vm=brankas-test-db01');
    assert.equal(list.body.jobs[0].id, job.id);
    assert.deepEqual((await call(`/api/v1/jobs/${job.id}`)).body.result, { ok: true });
  });

  test("a finished job's log (its states and notes) is kept and served; an unknown job's is 404", async () => {
    const job = await queue.submit({
      vm: 'brankas-test-db01',
      kind: 'verify',
      work: async ({ note }) => {
        note({ step: 'reading the disks' });
        return { ok: true };
      },
    });
    await queue.settled(job.id);
    const r = await call(`/api/v1/jobs/${job.id}/log`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const lines = r.body.log.map((l: { type: string; data: unknown }) =>
      l.type === 'state' ? l.data : (l.data as { step?: string }).step,
    );
    assert.ok(lines.includes('reading the disks'), JSON.stringify(r.body.log));
    assert.deepEqual(
      lines.filter((l: unknown) => ['queued', 'running', 'succeeded'].includes(l as string)),
      ['queued', 'running', 'succeeded'],
    );
    const none = await call('/api/v1/jobs/00000000-0000-4000-8000-000000000000/log');
    assert.equal(none.body.error.code, 'JOB_NOT_FOUND');
  });
});

describe('OpenAPI', () => {
  test('the document describes every API route the app serves, and no other', async () => {
    const served = new Set(
      app.routes
        .filter((r) => r.method !== 'ALL' && r.path.startsWith('/api/'))
        .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, '{$1}')}`),
    );
    const described = new Set(
      Object.entries(OPENAPI.paths).flatMap(([path, ops]) =>
        Object.keys(ops).map((m) => `${m} ${path}`),
      ),
    );
    assert.deepEqual([...served].sort(), [...described].sort());
    const doc = await call('/api/v1/openapi.json');
    assert.equal(doc.body.openapi, '3.0.3');
  });
});
