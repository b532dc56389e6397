/**
 * `brankas serve` as a process (libvirt's test driver, temp state directory and repository):
 * it prints where it listens, the token file is 0600 and --print-token prints it, calls without
 * it are 401 over a real socket (TCP and unix), SIGTERM stops it cleanly, and a non-loopback
 * --listen without TLS is a usage error.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JobHistory } from '../src/service/index.js';
import { cli, initPlainRepo } from './support/cli.js';
import { repoPath } from './support/guest.js';
import { BRANKAS_MAIN } from './support/main-path.js';

const URI = `test://${repoPath('test', 'fixtures', 'test-host.xml')}`;
const MAIN = BRANKAS_MAIN;

let stateDir: string;
let repoDir: string;
const env = (): NodeJS.ProcessEnv => ({
  BRANKAS_STATE_DIR: stateDir,
  BRANKAS_REPO: repoDir,
  LANG: 'C',
});

before(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'brankas-test-serve-'));
  repoDir = await initPlainRepo();
});
after(async () => {
  await rm(stateDir, { recursive: true, force: true });
  await rm(repoDir, { recursive: true, force: true });
});

interface Served {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  exit: Promise<number | null>;
}

/** Starts `brankas serve` and resolves once it says where it listens. */
function serve(listen: string, extra: string[] = []): Promise<Served> {
  const child = spawn(process.execPath, [MAIN, 'serve', '-c', URI, '--listen', listen, ...extra], {
    env: { ...process.env, ...env() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listens on (\S+) /.exec(err);
      if (m) resolve({ child, url: m[1]!, stderr: () => err, exit });
    });
    void exit.then((code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
}

function get(
  target: { url?: string; socketPath?: string },
  path: string,
  token?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: 'localhost' };
    if (token) headers['authorization'] = `Bearer ${token}`;
    const req = target.url
      ? request(new URL(path, target.url), { headers })
      : request({ socketPath: target.socketPath, path, headers });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('brankas serve', () => {
  test('serves the API on loopback with the token from a 0600 file, and stops cleanly on SIGTERM', async () => {
    const s = await serve('127.0.0.1:0');
    try {
      const printed = await cli(['serve', '--print-token'], env());
      assert.equal(printed.code, 0, printed.stderr);
      const token = printed.stdout.trim();
      assert.match(token, /^[A-Za-z0-9_-]{43}$/);
      assert.equal((await stat(join(stateDir, 'api-token'))).mode & 0o777, 0o600);

      const refused = await get({ url: s.url }, '/api/v1/host');
      assert.equal(refused.status, 401);
      assert.equal(JSON.parse(refused.body).error.code, 'API_UNAUTHORIZED');
      const host = await get({ url: s.url }, '/api/v1/host', token);
      assert.equal(host.status, 200, host.body);
      assert.equal(JSON.parse(host.body).hypervisor.type, 'TEST');
    } finally {
      s.child.kill('SIGTERM');
    }
    assert.equal(await s.exit, 0, s.stderr());
    assert.match(s.stderr(), /Stopped\./);
  });

  test('serves on a unix socket; at its start, old jobs beyond --history-per-vm are removed', async () => {
    // Three jobs of a VM ended 200 days ago: the newest is kept, the other two go at the start.
    const seeded = JobHistory.open(stateDir);
    const at = (d: number) => new Date(Date.now() - d * 86_400_000).toISOString();
    for (const [i, days] of [200, 201, 202].entries()) {
      seeded.put({
        id: `00000000-0000-4000-8000-00000000000${i}`,
        vm: 'brankas-test-gone',
        kind: 'backup',
        state: 'succeeded',
        createdAt: at(days),
        startedAt: at(days),
        endedAt: at(days),
        result: null,
        error: null,
      });
    }
    seeded.close();
    const socketPath = join(stateDir, 'api.sock');
    const s = await serve(`unix:${socketPath}`, ['--history-per-vm', '1']);
    try {
      assert.match(s.stderr(), /Job history: 2 old job\(s\) removed with their logs/);
      const token = (await cli(['serve', '--print-token'], env())).stdout.trim();
      const vms = await get({ socketPath }, '/api/v1/vms', token);
      assert.equal(vms.status, 200, vms.body);
      assert.ok(JSON.parse(vms.body).vms.length > 0);
      const jobs = await get({ socketPath }, '/api/v1/jobs?vm=brankas-test-gone', token);
      assert.deepEqual(
        JSON.parse(jobs.body).jobs.map((j: { id: string }) => j.id),
        ['00000000-0000-4000-8000-000000000000'],
      );
    } finally {
      s.child.kill('SIGTERM');
    }
    assert.equal(await s.exit, 0, s.stderr());
  });

  test('a --listen address that is not loopback is refused without TLS (exit 2)', async () => {
    const r = await cli(['serve', '-c', URI, '--listen', '0.0.0.0:8765'], env());
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not a loopback address: it needs --tls-cert and --tls-key/);
    const bad = await cli(['serve', '-c', URI, '--listen', 'nonsense'], env());
    assert.equal(bad.code, 2);
  });
});
