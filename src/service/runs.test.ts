import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfIdentity } from './process-identity.js';
import {
  listRunRecords,
  readRunRecord,
  removeRunRecord,
  runLogPath,
  runsDir,
  writeRunRecord,
  type RunRecord,
} from './runs.js';

const record = (vm: string): RunRecord => ({
  version: 1,
  vm,
  backup: '20261206T000000Z-abcdef01',
  repo: '/srv/repo',
  disks: [{ disk: 'vda', socket: `/vm/${vm}-vda.sock`, overlay: `/vm/${vm}-vda.qcow2` }],
  server: selfIdentity(),
  since: new Date(0).toISOString(),
  persisted: null,
});

test('a run record is written, read back, listed and removed with its log', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'brankas-test-runs-'));
  try {
    await writeRunRecord(dir, record('web/01'));
    await writeRunRecord(dir, record('db'));
    await writeFile(runLogPath(dir, 'web/01'), 'serving\n');
    assert.deepEqual(await readRunRecord(dir, 'web/01'), record('web/01'));
    assert.deepEqual(
      (await listRunRecords(dir)).map((r) => r.vm),
      ['db', 'web/01'],
    );
    await removeRunRecord(dir, 'web/01');
    assert.deepEqual(await readdir(runsDir(dir)), ['vm-db.json']);
    await assert.rejects(readRunRecord(dir, 'web/01'), { code: 'RUN_NOT_FOUND' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a file that is not a run record counts as none', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'brankas-test-runs-'));
  try {
    await writeRunRecord(dir, record('x'));
    await writeFile(join(runsDir(dir), 'vm-x.json'), '{"version": 2}');
    await assert.rejects(readRunRecord(dir, 'x'), { code: 'RUN_NOT_FOUND' });
    assert.deepEqual(await listRunRecords(dir), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
