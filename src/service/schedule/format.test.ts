/**
 * The schedule file's parser and its file: every mistake is its own code, names the file and the
 * line, and reads in the registry's English text; writes keep the rest of the file as written.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorTemplate, fillTemplate } from '../../util/error-registry.js';
import { BrankasError } from '../../util/errors.js';
import { matches, parseSchedule } from './format.js';
import { ScheduleFile } from './file.js';
import { selfIdentity } from '../process-identity.js';

const GOOD = `# nightly
[policy web-nightly]
vms = web* shop01
when = 30 2 * * *
mode = cold
keep-last = 7
keep-daily = 14
restore-test-days = 7

[policy db]
vms = db01
when = 0 * * * *
timezone = UTC
`;

function englishOf(err: unknown): string {
  assert.ok(err instanceof BrankasError);
  return fillTemplate(errorTemplate(err.code)!, err.details, err.message)!;
}

function fails(text: string, code: string, line: number, words: RegExp): void {
  assert.throws(
    () => parseSchedule(text, 'sched.conf'),
    (err: unknown) => {
      assert.ok(err instanceof BrankasError, String(err));
      assert.equal(err.code, code);
      assert.equal(err.details['line'], line);
      assert.equal(err.details['file'], 'sched.conf');
      const en = englishOf(err);
      assert.ok(en.startsWith(`sched.conf:${line}: `), en);
      assert.match(en, words);
      return true;
    },
  );
}

describe('schedule file format', () => {
  test('a good file gives its policies with defaults filled in', () => {
    const [web, db] = parseSchedule(GOOD, 'x');
    assert.deepEqual(web, {
      id: 'web-nightly',
      vms: ['web*', 'shop01'],
      when: '30 2 * * *',
      mode: 'cold',
      consistency: 'auto',
      freezeTimeoutSeconds: null,
      keep: { last: 7, daily: 14 },
      restoreTestDays: 7,
      timezone: null,
      line: 2,
      endLine: 8,
    });
    assert.equal(db!.mode, 'auto');
    assert.equal(db!.restoreTestDays, null);
    assert.equal(db!.timezone, 'UTC');
    assert.deepEqual(parseSchedule('', 'x'), []);
  });

  test("a policy's consistency and freeze timeout are read as brankas backup takes them", () => {
    const [p] = parseSchedule(
      '[policy a]\nvms = a\nwhen = @daily\nmode = live\nconsistency = shutdown\nfreeze-timeout-seconds = 30\n',
      'x',
    );
    assert.equal(p!.consistency, 'shutdown');
    assert.equal(p!.freezeTimeoutSeconds, 30);
  });

  test('every kind of mistake is its own code and names its line', () => {
    fails(
      '[policy a]\nvms = a\nwhen = * * * * *\nthis is not a line\n',
      'SCHEDULE_SYNTAX',
      4,
      /key = value/,
    );
    fails('\nvms = web*\n[policy a]\n', 'SCHEDULE_OUTSIDE_POLICY', 2, /'vms' comes before/);
    fails('[policy Web]\n', 'SCHEDULE_BAD_ID', 1, /'Web' is not a policy id/);
    fails('[policy ]\n', 'SCHEDULE_BAD_ID', 1, /is not a policy id/);
    fails(
      '[policy a]\nvms = a\nwhen = @daily\n\n[policy a]\n',
      'SCHEDULE_DUPLICATE_POLICY',
      5,
      /defined already at line 1/,
    );
    fails(
      '[policy a]\nvms = a\nwhen = @daily\nvms = b\n',
      'SCHEDULE_DUPLICATE_KEY',
      4,
      /'vms' is set twice in policy 'a' \(first at line 2\)/,
    );
    fails(
      '[policy a]\nvms = a\nkeep-dialy = 3\n',
      'SCHEDULE_UNKNOWN_KEY',
      3,
      /unknown key 'keep-dialy'.*keep-daily/,
    );
    fails('# x\n[policy a]\nvms = a\n', 'SCHEDULE_MISSING_KEY', 2, /policy 'a' has no 'when'/);
    fails('[policy a]\nwhen = @daily\n', 'SCHEDULE_MISSING_KEY', 1, /has no 'vms'/);
    fails(
      '[policy a]\nvms = a\nwhen = @daily\nmode = hot\n',
      'SCHEDULE_BAD_VALUE',
      4,
      /'mode' cannot be 'hot'; allowed: auto, live, cold/,
    );
    fails(
      '[policy a]\nvms = a\nwhen = @daily\nconsistency = strong\n',
      'SCHEDULE_BAD_VALUE',
      4,
      /'consistency' cannot be 'strong'; allowed: auto, application, shutdown/,
    );
    fails(
      '[policy a]\nvms = a\nwhen = @daily\nmode = cold\nconsistency = shutdown\n',
      'SCHEDULE_BAD_VALUE',
      5,
      /'consistency' cannot be 'shutdown'; allowed: auto, application/,
    );
    fails(
      '[policy a]\nvms = a\nwhen = @daily\nfreeze-timeout-seconds = 0\n',
      'SCHEDULE_BAD_VALUE',
      4,
      /'freeze-timeout-seconds' cannot be '0'; allowed: 1 to 600/,
    );
    fails(
      '[policy a]\nvms = a\nwhen = @daily\nkeep-last = -1\n',
      'SCHEDULE_BAD_VALUE',
      4,
      /'keep-last' cannot be '-1'/,
    );
    fails(
      '[policy a]\nvms = a\nwhen = @daily\nrestore-test-days = 0\n',
      'SCHEDULE_BAD_VALUE',
      4,
      /1 to 3650/,
    );
    fails(
      '[policy a]\nvms = a\nwhen = @daily\ntimezone = Mars/Olympus\n',
      'SCHEDULE_BAD_VALUE',
      4,
      /time zone/,
    );
    fails('[policy a]\nvms =\nwhen = @daily\n', 'SCHEDULE_BAD_VALUE', 2, /'vms' cannot be ''/);
    fails(
      '[policy a]\nvms = a\nwhen = 61 * * * *\n',
      'SCHEDULE_BAD_CRON',
      3,
      /'61 \* \* \* \*' is not a cron expression/,
    );
    fails('[policy a]\nvms = a\nwhen = 0 0 * * * *\n', 'SCHEDULE_BAD_CRON', 3, /6 field/);
    fails(
      '[policy a]\nvms = web/../x\nwhen = @daily\n',
      'SCHEDULE_BAD_PATTERN',
      2,
      /'web\/\.\.\/x' is not a VM name or pattern/,
    );
  });

  test('patterns match whole names with * and ?, and nothing else is special', () => {
    assert.ok(matches('web*', 'web01'));
    assert.ok(matches('web*', 'web'));
    assert.ok(!matches('web*', 'xweb01'));
    assert.ok(matches('db0?', 'db01'));
    assert.ok(!matches('db0?', 'db012'));
    assert.ok(matches('a.b', 'a.b'));
    assert.ok(!matches('a.b', 'axb'));
  });
});

describe('schedule file on disk', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'brankas-test-schedule-'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('add appends a validated policy and remove cuts only its lines, comments kept', async () => {
    const f = new ScheduleFile(dir);
    assert.deepEqual(await f.read(), []);
    await writeFile(f.path, GOOD);
    const added = await f.add('extra', { vms: 'app?', when: '15 3 * * 1', 'keep-weekly': 4 });
    assert.equal(added.line, 15);
    assert.deepEqual(added.keep, { weekly: 4 });
    assert.equal((await stat(f.path)).mode & 0o777, 0o600);
    assert.deepEqual(
      (await f.read()).map((p) => p.id),
      ['web-nightly', 'db', 'extra'],
    );
    await f.remove('web-nightly');
    const text = await readFile(f.path, 'utf8');
    assert.ok(text.startsWith('# nightly\n[policy db]\n'), text);
    assert.deepEqual(
      (await f.read()).map((p) => p.id),
      ['db', 'extra'],
    );
  });

  test('policies added at once through one file are all kept', async () => {
    const f = new ScheduleFile(join(dir, 'many'));
    const ids = Array.from({ length: 8 }, (_, i) => `p${i}`);
    await Promise.all(ids.map((id) => f.add(id, { vms: 'a', when: '@daily' })));
    assert.deepEqual((await f.read()).map((p) => p.id).sort(), ids);
  });

  test('a lock left by a killed process does not stop the next change', async () => {
    const f = new ScheduleFile(join(dir, 'stale'));
    await mkdir(join(dir, 'stale'));
    const dead = { ...selfIdentity(), pid: 2 ** 22 + 1, start: '1', nonce: 'dead' };
    await writeFile(
      `${f.path}.lock`,
      JSON.stringify({ version: 1, what: 'x', since: '', ...dead }),
    );
    await f.add('after', { vms: 'a', when: '@daily' });
    assert.deepEqual(
      (await f.read()).map((p) => p.id),
      ['after'],
    );
    assert.deepEqual(await readdir(join(dir, 'stale')), ['schedules.conf']);
  });

  test('a bad policy, a second one of the same id or an unknown id changes nothing', async () => {
    const f = new ScheduleFile(dir);
    const before = await readFile(f.path, 'utf8');
    await assert.rejects(f.add('bad', { vms: 'x', when: 'often' }), { code: 'SCHEDULE_BAD_CRON' });
    await assert.rejects(f.add('two', { vms: 'x', when: '@daily\n[policy evil]' }), {
      code: 'SCHEDULE_BAD_VALUE',
    });
    await assert.rejects(f.add('db', { vms: 'x', when: '@daily' }), { code: 'SCHEDULE_EXISTS' });
    await assert.rejects(f.add('../x', { vms: 'x', when: '@daily' }), { code: 'SCHEDULE_BAD_ID' });
    await assert.rejects(f.remove('nope'), { code: 'SCHEDULE_NOT_FOUND' });
    assert.equal(await readFile(f.path, 'utf8'), before);
  });
});
