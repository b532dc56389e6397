/**
 * `brankas schedule list|add|remove|run` in-process, each run with a state directory of its
 * own: policies added and removed in the file, listed in text and JSON, a mistake in the file
 * named by its line in English and Indonesian, and `run` recording the run (libvirt's test
 * driver; a policy that matches no VM runs no job).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { cli, initPlainRepo } from '../../../test/support/cli.js';

const MAIN = fileURLToPath(new URL('../main.js', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../../../../test/fixtures/test-host.xml', import.meta.url));

let dir: string;
let repo: string;
let env: NodeJS.ProcessEnv;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'brankas-test-schedule-cli-'));
  repo = await initPlainRepo();
  env = { BRANKAS_STATE_DIR: dir, BRANKAS_REPO: repo };
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  if (repo) await rm(repo, { recursive: true, force: true });
});

describe('brankas schedule', () => {
  test('add, list (text and JSON) and remove a policy', async () => {
    const empty = await cli(['schedule', 'list'], env);
    assert.equal(empty.code, 0, empty.stderr);
    assert.match(empty.stdout, /No schedule policies/);
    const add = await cli(
      [
        'schedule',
        'add',
        'web',
        '--vms',
        'web* shop01',
        '--when',
        '30 2 * * *',
        '--keep-last',
        '7',
      ],
      env,
    );
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /Added policy web/);
    await cli(
      ['schedule', 'add', 'db', '--vms', 'db01', '--when', '@hourly', '--mode', 'cold'],
      env,
    );
    const app = [
      '--mode',
      'live',
      '--consistency',
      'application',
      '--freeze-timeout-seconds',
      '30',
    ];
    await cli(['schedule', 'add', 'app', '--vms', 'app01', '--when', '@daily', ...app], env);
    const text = await cli(['schedule', 'list'], env);
    assert.match(text.stdout, /^POLICY\s+VMS\s+WHEN/);
    assert.match(text.stdout, /web\s+web\* shop01\s+30 2 \* \* \*\s+auto\s+last 7\s+-\s+never/);
    // A consistency other than the default is shown with the mode.
    assert.match(text.stdout, /app\s+app01\s+@daily\s+live, application\s/);
    const json = await cli(['schedule', 'list', '--json'], env);
    const listed = JSON.parse(json.stdout) as {
      policies: {
        id: string;
        nextRun: string;
        consistency: string;
        freezeTimeoutSeconds: number | null;
      }[];
    };
    assert.deepEqual(
      listed.policies.map((p) => [p.id, p.consistency, p.freezeTimeoutSeconds]),
      [
        ['web', 'auto', null],
        ['db', 'auto', null],
        ['app', 'application', 30],
      ],
    );
    assert.ok(Date.parse(listed.policies[0]!.nextRun) > Date.now());
    const rm1 = await cli(['schedule', 'remove', 'web', '--json'], env);
    assert.equal(rm1.code, 0, rm1.stderr);
    assert.deepEqual(JSON.parse(rm1.stdout).removed, 'web');
    const gone = await cli(['schedule', 'remove', 'web'], env);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /no schedule policy 'web'/);
  });

  test('a bad policy on the command line is a usage error naming its line; the file is unchanged', async () => {
    const r = await cli(['schedule', 'add', 'x', '--vms', 'a', '--when', '* * *'], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /<new policy>:3: '\* \* \*' is not a cron expression of five fields/);
    // In Indonesian it is said once, without the English sentence repeated after it.
    const inId = await cli(
      ['schedule', 'add', 'x', '--vms', 'a', '--when', '* * *', '--lang', 'id'],
      env,
    );
    assert.equal(inId.code, 2);
    assert.match(
      inId.stderr,
      /<new policy>:3: '\* \* \*' bukan ekspresi cron lima kolom: it has 3 field/,
    );
    assert.doesNotMatch(inId.stderr, /is not a cron expression/);
    const id = await cli(
      ['schedule', 'add', 'x', '--vms', 'a', '--when', '@daily', '--lang', 'id', '--mode', 'hot'],
      env,
    );
    assert.equal(id.code, 2);
    assert.match(
      id.stderr,
      /<new policy>:4: 'mode' tidak boleh 'hot'; yang boleh: auto, live, cold/,
    );
  });

  test('a mistake in the file is named by its line, in English and in Indonesian', async () => {
    const own = await mkdtemp(join(tmpdir(), 'brankas-test-schedule-bad-'));
    try {
      await writeFile(join(own, 'schedules.conf'), '[policy a]\nvms = a\nkeep-dialy = 3\n');
      const en = await cli(['schedule', 'list'], { BRANKAS_STATE_DIR: own });
      assert.equal(en.code, 1);
      assert.match(
        en.stderr,
        /schedules\.conf:3: unknown key 'keep-dialy'; the keys are: vms, when/,
      );
      const id = await cli(['schedule', 'list', '--lang', 'id'], { BRANKAS_STATE_DIR: own });
      assert.equal(id.code, 1);
      assert.match(id.stderr, /schedules\.conf:3: kunci 'keep-dialy' tidak dikenal/);
    } finally {
      await rm(own, { recursive: true, force: true });
    }
  });

  test('run runs a policy now and records it as the last run; one matching no VM runs no job', async () => {
    await cli(
      ['schedule', 'add', 'nothing', '--vms', 'brankas-test-none*', '--when', '@daily'],
      env,
    );
    const r = await cli(['schedule', 'run', 'nothing', '--json', '-c', `test://${FIXTURE}`], env);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { vms: string[]; jobs: unknown[] };
    assert.deepEqual(out.vms, []);
    assert.deepEqual(out.jobs, []);
    const list = JSON.parse((await cli(['schedule', 'list', '--json'], env)).stdout) as {
      policies: { id: string; lastRun: string | null }[];
    };
    assert.ok(list.policies.find((p) => p.id === 'nothing')?.lastRun);
    const none = await cli(['schedule', 'run', 'nope', '-c', `test://${FIXTURE}`], env);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no schedule policy 'nope'/);
  });
});

/** `brankas schedule add` as a process of its own, as two people (or the API and a person) run it. */
function addProcess(state: string, id: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(
    process.execPath,
    [MAIN, 'schedule', 'add', id, '--vms', 'x', '--when', '@daily', '--json'],
    {
      env: { ...process.env, BRANKAS_STATE_DIR: state, LANG: 'C' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
}

describe('brankas schedule add from several processes at once', () => {
  test('every policy added by concurrent processes is kept, and no lock or temporary file is left', async () => {
    const own = await mkdtemp(join(tmpdir(), 'brankas-test-schedule-procs-'));
    try {
      const ids = Array.from({ length: 10 }, (_, i) => `p${i}`);
      const results = await Promise.all(ids.map((id) => addProcess(own, id)));
      for (const r of results) assert.equal(r.code, 0, r.stderr);
      const json = await cli(['schedule', 'list', '--json'], { BRANKAS_STATE_DIR: own });
      const listed = JSON.parse(json.stdout) as { policies: { id: string }[] };
      assert.deepEqual(listed.policies.map((p) => p.id).sort(), ids);
      const left = (await readdir(own)).filter((f) => f.startsWith('.') || f.includes('.lock'));
      assert.deepEqual(left, []);
    } finally {
      await rm(own, { recursive: true, force: true });
    }
  });
});
