/**
 * Snapshot create, revert and delete take the VM's lock, on libvirt's test
 * driver (a private instance per connection): while another job holds the
 * VM they are refused with VM_BUSY and change nothing; once it is free they
 * work.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VmLock } from '../src/service/index.js';
import { repoPath } from './support/guest.js';
import { cli } from './support/cli.js';

const URI = `test://${repoPath('test', 'fixtures', 'test-host.xml')}`;
const APP = 'brankas-test-app01';

let dir: string;
let held: VmLock;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'brankas-test-state-'));
  const lock = await VmLock.tryTake(dir, APP, 'backup');
  assert.ok(lock instanceof VmLock);
  held = lock;
});
after(async () => {
  await held?.release();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const env = (): NodeJS.ProcessEnv => ({ BRANKAS_STATE_DIR: dir });

async function refused(args: string[]): Promise<void> {
  const r = await cli([...args, '-c', URI, '--json'], env());
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const error = JSON.parse(r.stdout).error;
  assert.equal(error.code, 'VM_BUSY', r.stdout);
  assert.equal(error.pid, process.pid);
}

describe('snapshot commands on a VM another job holds', () => {
  test('create, revert and delete are refused with VM_BUSY; the text names the job', async () => {
    await refused(['snapshot', 'create', APP, 'brankas-busy']);
    await refused(['snapshot', 'revert', APP, 'snap-awal', '--yes']);
    await refused(['snapshot', 'delete', APP, 'snap-kedua']);
    const text = await cli(['snapshot', 'create', APP, 'brankas-busy', '-c', URI], env());
    assert.match(
      text.stderr,
      new RegExp(`VM '${APP}' is busy: a backup \\(process ${process.pid}\\)`),
    );
  });

  test('once it is free they work', async () => {
    await held.release();
    const r = await cli(['snapshot', 'create', APP, 'brankas-free', '-c', URI, '--json'], env());
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
});
