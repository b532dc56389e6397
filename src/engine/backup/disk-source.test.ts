import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDiskForBackup } from './disk-source.js';

test('a disk the native reader declines (vmdk) is read through qemu-nbd, its client loaded then', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'brankas-test-disk-source-'));
  try {
    const raw = join(dir, 'disk.raw');
    const data = Buffer.alloc(1024 * 1024, 0x5a);
    await writeFile(raw, data);
    const vmdk = join(dir, 'disk.vmdk');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', raw, vmdk]);
    const opened = await openDiskForBackup(vmdk, 'vmdk');
    try {
      assert.equal(opened.via, 'qemu-nbd');
      assert.deepEqual(await opened.reader.read(0, data.length), data);
    } finally {
      await opened.reader.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
