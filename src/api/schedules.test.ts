/**
 * The schedule routes in-process (`app.request()`) against libvirt's test driver, a real job
 * queue and schedule file in a temp state directory: a policy added is validated (a bad one is
 * a 400 naming the line and the file stays as it was), listed with its next run, run now as jobs
 * on the queue, and removed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '../libvirt/index.js';
import { LocalBackend } from '../repo/backend/local.js';
import { Repository } from '../repo/repository.js';
import { TEST_KDF } from '../repo/keys.js';
import {
  JobHistory,
  JobQueue,
  runPolicy,
  ScheduleFile,
  ScheduleRuns,
  Scheduler,
} from '../service/index.js';
import { createApi, type ApiApp } from './app.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/test-host.xml', import.meta.url));
const TOKEN = 'test-token-schedules';
const AUTH = { authorization: `Bearer ${TOKEN}`, host: '127.0.0.1:8765' };

let conn: Connection;
let dir: string;
let history: JobHistory;
let runs: ScheduleRuns;
let queue: JobQueue;
let file: ScheduleFile;
let app: ApiApp;
let changes = 0;

before(async () => {
  conn = await Connection.open(`test://${FIXTURE}`);
  dir = await mkdtemp(join(tmpdir(), 'brankas-test-api-schedules-'));
  const location = join(dir, 'repo');
  await Repository.init(new LocalBackend(location), { password: undefined, kdf: TEST_KDF });
  const state = join(dir, 'state');
  history = JobHistory.open(state);
  runs = ScheduleRuns.open(state);
  queue = new JobQueue({ stateDir: state, history, connect: async () => conn });
  file = new ScheduleFile(state);
  const deps = {
    queue,
    connect: async () => conn,
    openRepo: () => Repository.open(new LocalBackend(location)),
    runs,
  };
  const scheduler = new Scheduler({ runs, load: () => file.read(), fire: async () => undefined });
  app = createApi({
    token: TOKEN,
    queue,
    connect: async () => conn,
    openRepo: deps.openRepo,
    schedules: {
      file,
      run: (p) => runPolicy(deps, p),
      nextRun: (p) => scheduler.nextRun(p),
      lastRun: (p) => runs.lastRun(p.id),
      changed: () => changes++,
    },
  });
});
after(async () => {
  await queue?.close();
  runs?.close();
  history?.close();
  await conn?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function call(
  path: string,
  method = 'GET',
  body?: unknown,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed JSON, checked field by field
): Promise<{ status: number; body: any }> {
  const res = await app.request(path, {
    method,
    headers: { ...AUTH, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: await res.json() };
}

describe('schedule routes', () => {
  test('a policy added is in the file and listed with its next run; the scheduler is told', async () => {
    const r = await call('/api/v1/schedules', 'POST', {
      id: 'web',
      vms: ['brankas-test-web*'],
      when: '30 2 * * *',
      mode: 'cold',
      'keep-last': 3,
      'restore-test-days': 7,
      timezone: 'UTC',
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.deepEqual(r.body.keep, { last: 3 });
    assert.match(r.body.nextRun, /T02:30:00\.000Z$/);
    assert.equal(changes, 1);
    assert.match(await readFile(file.path, 'utf8'), /\[policy web\]\nvms = brankas-test-web\*\n/);
    const list = await call('/api/v1/schedules');
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.body.policies.map((p: { id: string }) => p.id),
      ['web'],
    );
  });

  test('a bad policy is a 400 with the code and line, a second of the same id a 409, and the file stays as it was', async () => {
    const before = await readFile(file.path, 'utf8');
    const cron = await call('/api/v1/schedules', 'POST', { id: 'x', vms: 'a', when: '99 * * * *' });
    assert.equal(cron.status, 400);
    assert.equal(cron.body.error.code, 'SCHEDULE_BAD_CRON');
    assert.equal(cron.body.error.details.line, 3);
    assert.match(cron.body.error.message, /^<new policy>:3: '99 \* \* \* \*' is not a cron/);
    const mode = await call('/api/v1/schedules', 'POST', {
      id: 'x',
      vms: 'a',
      when: '@daily',
      mode: 'hot',
    });
    assert.equal(mode.body.error.code, 'SCHEDULE_BAD_VALUE');
    const lines = await call('/api/v1/schedules', 'POST', {
      id: 'x',
      vms: 'a\n[policy y]',
      when: '@daily',
    });
    assert.equal(lines.status, 400);
    const unknown = await call('/api/v1/schedules', 'POST', {
      id: 'x',
      vms: 'a',
      when: '@daily',
      keep: 1,
    });
    assert.equal(unknown.body.error.code, 'API_BAD_REQUEST');
    const id = await call('/api/v1/schedules', 'POST', { id: '../x', vms: 'a', when: '@daily' });
    assert.equal(id.status, 400);
    const twice = await call('/api/v1/schedules', 'POST', { id: 'web', vms: 'a', when: '@daily' });
    assert.equal(twice.status, 409);
    assert.equal(twice.body.error.code, 'SCHEDULE_EXISTS');
    assert.equal(await readFile(file.path, 'utf8'), before);
  });

  test('running a policy now queues a backup job per matching VM', async () => {
    const r = await call('/api/v1/schedules/web/run', 'POST');
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.deepEqual(r.body.vms, ['brankas-test-web01']);
    assert.equal(r.body.jobs.length, 1);
    assert.equal(r.body.jobs[0].kind, 'backup');
    assert.equal(r.body.jobs[0].vm, 'brankas-test-web01');
    // Its outcome on the test driver does not matter here; it must end before the queue closes.
    await queue.settled(r.body.jobs[0].id);
    assert.ok(runs.lastRun('web'), 'the run is recorded as the last');
    const listed = (await call('/api/v1/schedules')).body.policies[0];
    assert.equal(listed.lastRun, runs.lastRun('web')!.toISOString());
    const none = await call('/api/v1/schedules/nope/run', 'POST');
    assert.equal(none.status, 404);
    assert.equal(none.body.error.code, 'SCHEDULE_NOT_FOUND');
  });

  test("a policy's consistency and freeze timeout are kept, listed and given to its backups", async () => {
    const bad = await call('/api/v1/schedules', 'POST', {
      id: 'strict-cold',
      vms: 'brankas-test-db01',
      when: '@daily',
      mode: 'cold',
      consistency: 'shutdown',
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'SCHEDULE_BAD_VALUE');
    const added = await call('/api/v1/schedules', 'POST', {
      id: 'strict',
      vms: 'brankas-test-db01',
      when: '@daily',
      consistency: 'application',
      'freeze-timeout-seconds': 30,
    });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    assert.equal(added.body.consistency, 'application');
    assert.equal(added.body.freezeTimeoutSeconds, 30);
    assert.match(
      await readFile(file.path, 'utf8'),
      /consistency = application\nfreeze-timeout-seconds = 30\n/,
    );
    // The test driver's VM has no guest agent: application consistency fails before anything.
    const run = await call('/api/v1/schedules/strict/run', 'POST');
    assert.equal(run.status, 202, JSON.stringify(run.body));
    const ended = await queue.settled(run.body.jobs[0].id);
    assert.equal(ended.error?.code, 'BACKUP_LIVE_NO_AGENT', JSON.stringify(ended.error));
    assert.equal((await call('/api/v1/schedules/strict', 'DELETE')).status, 200);
  });

  test('each VM carries the schedule that covers it (its policies, next run and period); a VM no policy matches has none', async () => {
    const r = await call('/api/v1/vms');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const of = (name: string) => r.body.vms.find((v: { name: string }) => v.name === name).schedule;
    const web = of('brankas-test-web01');
    assert.deepEqual(web.policies, ['web']);
    assert.match(web.nextRun, /T02:30:00\.000Z$/);
    assert.equal(web.everySeconds, 86_400);
    assert.equal(of('brankas-test-db01'), null);
    const one = await call('/api/v1/vms/brankas-test-web01');
    assert.deepEqual(one.body.schedule, web);
  });

  test('a policy removed is gone; an unknown one is 404', async () => {
    const r = await call('/api/v1/schedules/web', 'DELETE');
    assert.equal(r.status, 200);
    assert.equal(r.body.id, 'web');
    assert.deepEqual((await call('/api/v1/schedules')).body.policies, []);
    const again = await call('/api/v1/schedules/web', 'DELETE');
    assert.equal(again.status, 404);
    assert.equal(again.body.error.code, 'SCHEDULE_NOT_FOUND');
  });
});
