import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { link, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanLeftovers, finalPathOf, Staging } from './staging.js';
import { EngineError } from '../errors.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function dir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'brankas-test-staging-'));
  dirs.push(d);
  return d;
}

test('nothing appears at a final path before commit, and a rollback then leaves nothing', async () => {
  const d = await dir();
  const s = new Staging(false);
  const { path, inPlace } = s.add(join(d, 'vda.qcow2'));
  assert.equal(inPlace, false);
  await writeFile(path, 'new');
  assert.deepEqual(await readdir(d), [path.slice(d.length + 1)]);
  assert.match(path, new RegExp(`/\\.vda\\.qcow2\\.brankas-new-${process.pid}-[0-9a-f]{8}$`));
  await s.rollback();
  assert.deepEqual(await readdir(d), []);
});

test('a replaced file is kept until finish, and comes back on a rollback after commit', async () => {
  const d = await dir();
  const a = join(d, 'a.qcow2');
  const b = join(d, 'b.raw');
  await writeFile(a, 'old a');
  const s = new Staging(true);
  await writeFile(s.add(a).path, 'new a');
  await writeFile(s.add(b).path, 'new b');
  await s.commit();
  assert.equal(await readFile(a, 'utf8'), 'new a');
  assert.equal(await readFile(b, 'utf8'), 'new b');
  // Say defining the VM failed now: everything goes back as it was.
  await s.rollback();
  assert.equal(await readFile(a, 'utf8'), 'old a');
  assert.deepEqual(await readdir(d), ['a.qcow2']);
});

test('finish removes the set-aside originals and keeps the new files', async () => {
  const d = await dir();
  const a = join(d, 'a.qcow2');
  await writeFile(a, 'old');
  const s = new Staging(true);
  await writeFile(s.add(a).path, 'new');
  await s.commit();
  await s.finish();
  assert.deepEqual(await readdir(d), ['a.qcow2']);
  assert.equal(await readFile(a, 'utf8'), 'new');
});

test('without replace, a file that appeared at the final path meanwhile is not overwritten', async () => {
  const d = await dir();
  const a = join(d, 'a.qcow2');
  const s = new Staging(false);
  await writeFile(s.add(a).path, 'restored');
  await writeFile(a, 'precious');
  await assert.rejects(
    s.commit(),
    (e: unknown) => e instanceof EngineError && e.code === 'RESTORE_FILE_EXISTS',
  );
  await s.rollback();
  assert.equal(await readFile(a, 'utf8'), 'precious');
  assert.deepEqual(await readdir(d), ['a.qcow2']);
});

/** The pid of a process that has ended (a child run to completion). */
async function deadPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, ['-e', '']);
    child.on('error', reject);
    child.on('exit', () => resolve(child.pid!));
  });
}

test("a dead restore's leftovers in a directory are cleaned; a live one's are not", async () => {
  const d = await dir();
  const a = join(d, 'a.qcow2');
  const dead = await deadPid();
  const partial = `.a.qcow2.brankas-new-${dead}-0123abcd`;
  const sameFile = `.a.qcow2.brankas-old-${dead}-0123abce`;
  const running = `.a.qcow2.brankas-new-${process.pid}-0123abcf`;
  const otherFile = `.b.qcow2.brankas-new-${dead}-0123abd0`;
  await writeFile(a, 'original');
  await link(a, join(d, sameFile));
  for (const f of [partial, running, otherFile]) await writeFile(join(d, f), 'x');

  const cleaned = await cleanLeftovers(d);
  assert.deepEqual(
    cleaned.sort(),
    [join(d, partial), join(d, sameFile), join(d, otherFile)].sort(),
  );
  assert.deepEqual((await readdir(d)).sort(), [running, 'a.qcow2'].sort());
  assert.equal(await readFile(a, 'utf8'), 'original');
});

test('an original a dead restore had set aside comes back when its place is empty, and is kept when another file is there', async () => {
  const d = await dir();
  const a = join(d, 'a.qcow2');
  const dead = await deadPid();
  const old = `.a.qcow2.brankas-old-${dead}-0123abcd`;
  await writeFile(join(d, old), 'original');
  assert.deepEqual(await cleanLeftovers(d), [join(d, old)]);
  assert.equal(await readFile(a, 'utf8'), 'original');

  await writeFile(join(d, old), 'another original');
  assert.deepEqual(await cleanLeftovers(d), []);
  assert.deepEqual((await readdir(d)).sort(), [old, 'a.qcow2'].sort());
});

test('a hidden staging name stands for its final path in messages', () => {
  assert.equal(finalPathOf('/x/.vda.qcow2.brankas-new-123-0123abcd'), '/x/vda.qcow2');
  assert.equal(finalPathOf('/x/vda.qcow2'), '/x/vda.qcow2');
});
