/**
 * The file-restore helper VM when it cannot boot: a broken initramfs makes its kernel panic;
 * the helper reboots (panic=-1), which ends the transient domain, and the call fails at once
 * with FILES_HELPER_FAILED instead of waiting for its deadline. No backup needed: a tiny
 * in-memory NBD export stands for the disk.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Connection } from '../src/libvirt/index.js';
import { ensureGuestImages } from '../src/engine/guest/tiny-guest.js';
import { runHelper } from '../src/engine/files/helper-vm.js';
import { NbdServer } from '../src/nbd/index.js';
import { makeScratchDir } from './support/guest.js';

const MiB = 1 << 20;
let conn: Connection;

before(async () => {
  conn = await Connection.open('qemu:///system');
});

after(async () => {
  await conn?.close();
});

describe('the helper VM failing to boot', () => {
  test('a broken initramfs (the kernel panics) is FILES_HELPER_FAILED with its console, and no VM stays', async () => {
    const dir = await makeScratchDir('files-broken');
    const server = await NbdServer.listen({
      name: 'x',
      export: {
        size: MiB,
        readInto: (target: Buffer, _offset: number, length: number) => {
          target.fill(0, 0, length);
          return Promise.resolve();
        },
        extents: () => Promise.resolve([{ offset: 0, length: MiB, kind: 'hole' as const }]),
      },
      listen: { socketPath: join(dir.path, 'nbd.sock') },
    });
    try {
      await chmod(join(dir.path, 'nbd.sock'), 0o666);
      const junk = join(dir.path, 'junk-initrd.img');
      await writeFile(junk, Buffer.alloc(4096, 0x5a));
      const images = await ensureGuestImages();
      await assert.rejects(
        runHelper({
          conn,
          dir: dir.path,
          name: dir.name,
          nbdSocket: join(dir.path, 'nbd.sock'),
          request: { op: 'ls', device: 'vda', fs: 'ext4', paths: ['.'] },
          onPayload: () => Promise.resolve(),
          images: { kernel: images.kernel, initrd: junk },
        }),
        (err: { code: string; details: { reason: string } }) => {
          assert.equal(err.code, 'FILES_HELPER_FAILED');
          // Not the deadline: the VM's end is seen at once.
          assert.match(err.details.reason, /stopped without answering|could not be reached/);
          return true;
        },
      );
      const names = (await conn.listDomains()).map((d) => d.name);
      assert.ok(!names.includes(dir.name));
    } finally {
      await server.close();
      await dir.remove();
    }
  });
});
