/**
 * The script a remote live backup runs on the VM's host (job-dir.ts), run
 * here by the real `sh`: it makes the private directory with the job's
 * marker, says when it is ready, and removes the directory when its stdin
 * closes (brankas done) or it is hung up on (the ssh session gone).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jobDirScript } from './job-dir.js';

async function started(dir: string, marker: string) {
  // Its own process group, as a session's commands have theirs: a hang-up reaches all of it.
  const child = spawn('sh', ['-c', jobDirScript(dir, marker, undefined)], {
    stdio: ['pipe', 'pipe', 'inherit'],
    detached: true,
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (s: string) => {
      out += s;
      if (out.includes('brankas-live-dir-ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`script exited ${code}`)));
  });
  return child;
}

test('the job directory script makes a private directory with the marker and removes it when its stdin closes', async () => {
  const root = await mkdtemp(join(tmpdir(), 'brankas-jobdir-'));
  try {
    const dir = join(root, 'brankas-live-0123456789abcdef');
    const marker = JSON.stringify({ vm: "it's", uuid: 'u' });
    const child = await started(dir, marker);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal(await readFile(join(dir, 'job.json'), 'utf8'), marker + '\n');
    child.stdin.end();
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
    await assert.rejects(stat(dir), { code: 'ENOENT' });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('the job directory script removes its directory when hung up on, and refuses a directory that exists', async () => {
  const root = await mkdtemp(join(tmpdir(), 'brankas-jobdir-'));
  try {
    const dir = join(root, 'brankas-live-0123456789abcdef');
    const child = await started(dir, '{}');
    // A second job given the same name never shares it.
    const again = spawn('sh', ['-c', jobDirScript(dir, '{}', undefined)], { stdio: 'ignore' });
    const [againCode] = await once(again, 'exit');
    assert.equal(againCode, 90);
    assert.equal((await stat(dir)).isDirectory(), true);
    process.kill(-child.pid!, 'SIGHUP');
    await once(child, 'exit');
    await assert.rejects(stat(dir), { code: 'ENOENT' });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
