/**
 * The HTTP API end to end with a real tiny guest on qemu:///system: a backup started through
 * the API runs as a service job (a second request for the busy VM is 409), its events stream
 * the engine's progress to the end, the backup is in /backups, the job is in the SQLite job
 * history, and the VM is running again. Temp state directory and repository.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createApi, type ApiApp } from '../src/api/index.js';
import { TinyGuest } from '../src/engine/guest/tiny-guest.js';
import { Connection } from '../src/libvirt/index.js';
import { LocalBackend } from '../src/repo/backend/local.js';
import { Repository } from '../src/repo/repository.js';
import { JobHistory, JobQueue } from '../src/service/index.js';
import { initPlainRepo } from './support/cli.js';
import { testName } from './support/guest.js';

const TOKEN = 'api-backup-test-token';
const HEADERS = { authorization: `Bearer ${TOKEN}`, host: 'localhost' };

let conn: Connection;
let repoDir: string;
let stateDir: string;
let guest: TinyGuest;
let history: JobHistory;
let queue: JobQueue;
let app: ApiApp;

before(async () => {
  conn = await Connection.open('qemu:///system');
  repoDir = await initPlainRepo();
  stateDir = await mkdtemp(join(tmpdir(), 'brankas-test-api-state-'));
  history = JobHistory.open(stateDir);
  queue = new JobQueue({ stateDir, history, connect: async () => conn });
  app = createApi({
    token: TOKEN,
    queue,
    connect: async () => conn,
    openRepo: () => Repository.open(new LocalBackend(repoDir)),
  });
  guest = await TinyGuest.launch(conn, { name: testName('api') });
});

after(async () => {
  await queue?.close();
  history?.close();
  await guest?.dispose();
  await conn?.close();
  if (repoDir) await rm(repoDir, { recursive: true, force: true });
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

/** Server-Sent Events as [event, data] pairs. */
function sse(text: string): [string, unknown][] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
      const data = /^data: (.*)$/m.exec(block)?.[1] ?? 'null';
      return [event, JSON.parse(data)];
    });
}

describe('HTTP API with a real guest', () => {
  test('a backup through the API: 202, busy VM 409, events to the end, in /backups and in the SQLite history', async () => {
    const vm = guest.domain.name;
    const started = await app.request(`/api/v1/vms/${vm}/backup`, {
      method: 'POST',
      headers: { ...HEADERS, 'content-type': 'application/json' },
      body: JSON.stringify({ mode: 'cold', shutdownTimeoutSeconds: 120 }),
    });
    assert.equal(started.status, 202);
    const job = (await started.json()) as { id: string; state: string };

    const again = await app.request(`/api/v1/vms/${vm}/backup`, {
      method: 'POST',
      headers: HEADERS,
    });
    assert.equal(again.status, 409);
    assert.equal(((await again.json()) as { error: { code: string } }).error.code, 'VM_BUSY');

    // The stream ends when the job does.
    const stream = await app.request(`/api/v1/jobs/${job.id}/events`, { headers: HEADERS });
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get('content-type') ?? '', /text\/event-stream/);
    const events = sse(await stream.text());
    const last = events.at(-1)!;
    assert.equal(last[0], 'state');
    const ended = last[1] as { state: string; result: { backup: string }; error: unknown };
    assert.equal(ended.state, 'succeeded', JSON.stringify(ended.error));
    assert.ok(
      events.some(([e]) => e === 'progress'),
      'the engine reported progress',
    );
    assert.ok(
      events.some(([e, d]) => e === 'note' && (d as { kind: string }).kind === 'started'),
      'power events',
    );

    const backups = await app.request(`/api/v1/backups?vm=${vm}`, { headers: HEADERS });
    const listed = ((await backups.json()) as { backups: { id: string }[] }).backups.map(
      (b) => b.id,
    );
    assert.deepEqual(listed, [ended.result.backup]);

    const vmInfo = (await (
      await app.request(`/api/v1/vms/${vm}`, { headers: HEADERS })
    ).json()) as {
      state: string;
      lastBackup: { id: string };
    };
    assert.equal(vmInfo.lastBackup.id, ended.result.backup);
    assert.equal((await guest.domain.state()).state, 'running', 'the VM was started again');

    // The history's own file, read as a witness.
    const db = new Database(join(stateDir, 'jobs.sqlite'), { readonly: true });
    try {
      const row = db
        .prepare('SELECT vm, kind, state, result FROM jobs WHERE id = ?')
        .get(job.id) as {
        vm: string;
        kind: string;
        state: string;
        result: string;
      };
      assert.equal(row.vm, vm);
      assert.equal(row.kind, 'backup');
      assert.equal(row.state, 'succeeded');
      assert.equal(JSON.parse(row.result).backup, ended.result.backup);
    } finally {
      db.close();
    }
  });

  test('a backup cancelled through the API while the VM shuts down puts the VM back and records nothing', async () => {
    const vm = guest.domain.name;
    await guest.reattach();
    const before = (await queue.list({ vm })).length;
    const started = await app.request(`/api/v1/vms/${vm}/backup`, {
      method: 'POST',
      headers: { ...HEADERS, 'content-type': 'application/json' },
      body: JSON.stringify({ mode: 'cold' }),
    });
    assert.equal(started.status, 202);
    const job = (await started.json()) as { id: string };
    // Cancelled as soon as the engine asks the guest to shut down.
    const cancelled = new Promise<number>((resolve) => {
      const off = queue.subscribe(job.id, (e) => {
        if (e.type === 'note' && (e.note as { kind: string }).kind === 'shutdown-requested') {
          off?.();
          void Promise.resolve(
            app.request(`/api/v1/jobs/${job.id}/cancel`, { method: 'POST', headers: HEADERS }),
          ).then((r) => resolve(r.status));
        }
      });
    });
    assert.equal(await cancelled, 200);
    const ended = await queue.settled(job.id);
    assert.equal(ended.state, 'cancelled', JSON.stringify(ended));
    assert.equal((await guest.domain.state()).state, 'running', 'the VM was started again');
    const backups = await app.request(`/api/v1/backups?vm=${vm}`, { headers: HEADERS });
    assert.equal(
      ((await backups.json()) as { backups: unknown[] }).backups.length,
      1,
      'nothing recorded',
    );
    assert.equal((await queue.list({ vm })).length, before + 1);
  });
});
