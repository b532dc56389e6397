import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseMarker, WORK_DIR_PREFIX, workDirs, writeMarker } from './leftovers.js';

const marker = {
  vm: 'vm1',
  uuid: '3c66f88a-33f3-4e53-9424-e689184d38c6',
  pid: 12345,
  checkpoint: null,
  startedAt: '2026-12-06T19:00:00.000Z',
};

describe('live job directories', () => {
  it('a marker left empty or cut short reads as none, and the listing goes on', async () => {
    const root = await mkdtemp(join(tmpdir(), 'brankas-test-workroot-'));
    try {
      const dir = (name: string): string => join(root, `${WORK_DIR_PREFIX}${name}`);
      await Promise.all(['a', 'b', 'c', 'd'].map((n) => mkdir(dir(n))));
      await writeFile(join(dir('a'), 'job.json'), ''); // killed while writing it
      await writeMarker(dir('b'), marker);
      await writeFile(join(dir('c'), 'job.json'), JSON.stringify(marker).slice(0, 20));
      await mkdir(join(root, 'not-a-job-dir'));
      assert.deepEqual(await workDirs(root), [
        { path: dir('a'), marker: null },
        { path: dir('b'), marker },
        { path: dir('c'), marker: null },
        { path: dir('d'), marker: null },
      ]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('parseMarker takes only a marker naming a VM by uuid', () => {
    assert.deepEqual(parseMarker(JSON.stringify(marker)), marker);
    assert.equal(parseMarker('{"vm":"x"}'), null);
    assert.equal(parseMarker('null'), null);
    assert.equal(parseMarker('{"vm":'), null);
  });
});
