import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { privateTempDir } from './private-temp.js';

/** The pid of a process that has exited (and been reaped): no process has it now. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await once(child, 'exit');
  return child.pid!;
}

it("private temp dirs: 0700, named by the pid; a dead process's are removed at the next, a live one's and others stay", async () => {
  // Its own temp dir: nothing of anybody else's is looked at.
  const root = await mkdtemp(join(tmpdir(), 'brankas-test-ptemp-'));
  const saved = process.env['TMPDIR'];
  process.env['TMPDIR'] = root;
  try {
    const dead = await deadPid();
    const parent = process.ppid; // alive for as long as this test runs
    const left = [
      `brankas-x-${dead}-AbC123`, // a killed process's: removed
      `brankas-x-${parent}-AbC123`, // a live process's: kept
      `brankas-x-${dead}-not-made-so`, // not a name this makes: kept
      `brankas-y-${dead}-AbC123`, // another prefix: kept
    ];
    for (const n of left) await mkdir(join(root, n, 'inside'), { recursive: true });
    const dir = await privateTempDir('brankas-x-');
    assert.ok(dir.startsWith(join(root, `brankas-x-${process.pid}-`)), dir);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    const names = (await readdir(root)).sort();
    assert.deepEqual(names, [...left.slice(1), dir.slice(root.length + 1)].sort());
  } finally {
    if (saved === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = saved;
    await rm(root, { recursive: true, force: true });
  }
});

it("elsewhere, with emptyOnly: a dead process's directory goes only when empty", async () => {
  const root = await mkdtemp(join(tmpdir(), 'brankas-test-ptemp-'));
  try {
    const dead = await deadPid();
    await mkdir(join(root, `brankas-z-${dead}-Empty1`));
    await mkdir(join(root, `brankas-z-${dead}-Full12`, 'scratch'), { recursive: true });
    const dir = await privateTempDir('brankas-z-', { root, emptyOnly: true });
    assert.ok(dir.startsWith(join(root, `brankas-z-${process.pid}-`)), dir);
    const names = (await readdir(root)).sort();
    assert.deepEqual(names, [`brankas-z-${dead}-Full12`, dir.slice(root.length + 1)].sort());
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
