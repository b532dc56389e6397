/**
 * The executable, not the library, owns the process: a `brankas disk info` stopped by SIGTERM
 * while its qemu-nbd runs still stops that qemu-nbd and removes its socket directory, through
 * the AbortSignal main.ts fires on the signal and in its exit hook.
 *
 * The qemu-nbd on PATH here is a stand-in that records its pid and then never answers, so the
 * command is caught inside QemuNbd.start() every time, however fast the machine is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitUntil } from '../src/util/testing/index.js';

import { BRANKAS_MAIN } from './support/main-path.js';

const exec = promisify(execFile);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('SIGTERM to the CLI while its qemu-nbd starts stops that qemu-nbd and removes its directory', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'brankas-test-nbd-exit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const bin = join(dir, 'bin');
  const tmp = join(dir, 'tmp');
  await exec('mkdir', [bin, tmp]);
  const pidFile = join(dir, 'qemu-nbd.pid');
  await writeFile(join(bin, 'qemu-nbd'), `#!/bin/sh\necho $$ > '${pidFile}'\nexec sleep 600\n`);
  await chmod(join(bin, 'qemu-nbd'), 0o755);
  // A format the native reader declines, so disk info goes through qemu-nbd.
  const image = join(dir, 'disk.vmdk');
  await exec('qemu-img', ['create', '-q', '-f', 'vmdk', image, '1M']);

  const child = spawn(process.execPath, [BRANKAS_MAIN, 'disk', 'info', image, '--json'], {
    // TMPDIR: the qemu-nbd directory is made where only this test looks.
    env: { ...process.env, PATH: `${bin}:${process.env['PATH']}`, TMPDIR: tmp, LANG: 'C' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));

  const pidText = async (): Promise<string> => readFile(pidFile, 'utf8').catch(() => '');
  await waitUntil(async () => /^\d+\n$/.test(await pidText()), 'the stand-in qemu-nbd to run');
  const pid = Number(await pidText());
  t.after(() => {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  assert.equal((await readdir(tmp)).filter((n) => n.startsWith('brankas-nbd-')).length, 1);

  child.kill('SIGTERM');
  assert.equal(await exited, 130, stderr);
  await waitUntil(() => !alive(pid), 'qemu-nbd to be gone');
  assert.deepEqual(await readdir(tmp), [], 'the socket directory is removed');
});
