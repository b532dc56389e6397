// Integration tests of the qemu-nbd manager against the real qemu-nbd.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { existsSync } from 'node:fs';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NbdClient } from './client.js';
import { QemuNbdError } from './errors.js';
import { liveQemuNbdCount, QemuNbd, qemuNbdArgs } from './qemu-nbd.js';
import { run, testDir } from './testing/index.js';

const MiB = 1024 * 1024;

function hasCode(code: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof Error, String(err));
    assert.equal((err as { code?: unknown }).code, code, err.message);
    return true;
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** How many handlers the process has for the events a library must leave to the executable. */
function processHandlers(): number[] {
  return (['SIGINT', 'SIGTERM', 'SIGHUP', 'exit'] as const).map((e) => process.listenerCount(e));
}

/** Waits until `pid` is gone (it may linger a moment as the kernel reaps it); ms only bounds a hang. */
async function gone(pid: number, ms = 60_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return !alive(pid);
}

async function managerDirs(): Promise<string[]> {
  return (await readdir(tmpdir())).filter((n) => n.startsWith('brankas-nbd-'));
}

async function image(t: TestContext, size = '64M', fill?: string): Promise<string> {
  const dir = await testDir((fn) => t.after(fn));
  const path = join(dir, 'disk.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', path, size]);
  if (fill) await run('qemu-io', ['-f', 'qcow2', '-c', fill, path]);
  return path;
}

describe('QemuNbd', () => {
  test('builds the qemu-nbd command line from its options', () => {
    assert.deepEqual(
      qemuNbdArgs(
        {
          image: '/i.qcow2',
          format: 'qcow2',
          bitmaps: ['a', 'b'],
          allocationDepth: true,
          cache: 'none',
        },
        '/d/nbd.sock',
      ),
      [
        '--socket', '/d/nbd.sock', '--persistent', '--shared', '8', '--export-name', '',
        '--format', 'qcow2', '--read-only', '--bitmap', 'a', '--bitmap', 'b',
        '--allocation-depth', '--cache=none', '/i.qcow2',
      ], // prettier-ignore
    );
    assert.ok(qemuNbdArgs({ image: '/i', readOnly: false }, '/s').includes('--discard=unmap'));
  });

  test('exports on a private socket in a mode-0700 directory, and stop() removes all of it', async (t) => {
    const path = await image(t, '8M', 'write -P 0x5a 0 1M');
    const handlers = processHandlers();
    const server = await QemuNbd.start({ image: path, format: 'qcow2' });
    const pid = server.pid!;
    try {
      assert.equal((await stat(server.dir)).mode & 0o777, 0o700);
      assert.ok((await stat(server.socketPath)).isSocket());
      assert.deepEqual(processHandlers(), handlers, 'no process-wide handler while running');
      // Persistent: a second connection after the first one closed still works.
      for (let i = 0; i < 2; i++) {
        const client = await NbdClient.connect(server.target);
        assert.ok(client.readOnly);
        assert.ok((await client.read(0, MiB)).equals(Buffer.alloc(MiB, 0x5a)));
        await client.close();
      }
      assert.equal(server.stderr, '', 'qemu-nbd logged nothing (probes leave cleanly)');
    } finally {
      await server.stop();
    }
    assert.ok(await gone(pid), 'qemu-nbd exited');
    assert.equal(existsSync(server.dir), false, 'socket directory removed');
    assert.deepEqual(processHandlers(), handlers, 'no handler left behind');
    assert.equal(liveQemuNbdCount(), 0);
    await server.stop(); // idempotent
  });

  test('a missing image is QEMU_NBD_IMAGE_NOT_FOUND, leaving nothing behind', async () => {
    const before = await managerDirs();
    await assert.rejects(
      QemuNbd.start({ image: join(tmpdir(), 'brankas-test-no-such-image.qcow2') }),
      hasCode('QEMU_NBD_IMAGE_NOT_FOUND'),
    );
    assert.deepEqual(await managerDirs(), before);
  });

  test('an image qemu-nbd cannot open fails with qemu-nbd’s own message, leaving nothing behind', async (t) => {
    const dir = await testDir((fn) => t.after(fn));
    const path = join(dir, 'not-qcow2.img');
    await writeFile(path, 'this is not a qcow2 image');
    const before = await managerDirs();
    const err = await QemuNbd.start({ image: path, format: 'qcow2' }).catch((e: unknown) => e);
    assert.ok(err instanceof QemuNbdError);
    assert.equal(err.code, 'QEMU_NBD_START_FAILED');
    assert.match(err.message, /qcow2/i);
    assert.deepEqual(await managerDirs(), before);
    assert.equal(liveQemuNbdCount(), 0);
  });

  test('an image locked by another writer is QEMU_NBD_IMAGE_LOCKED with qemu-nbd’s stderr', async (t) => {
    const path = await image(t, '8M');
    const writer = await QemuNbd.start({ image: path, format: 'qcow2', readOnly: false });
    try {
      const err = await QemuNbd.start({ image: path, format: 'qcow2' }).catch((e: unknown) => e);
      assert.ok(err instanceof QemuNbdError, String(err));
      assert.equal(err.code, 'QEMU_NBD_IMAGE_LOCKED');
      assert.match(err.message, /Failed to get .*lock/);
    } finally {
      await writer.stop();
    }
  });

  test('a missing qemu-nbd binary is QEMU_NBD_NOT_INSTALLED', async (t) => {
    const path = await image(t, '1M');
    await assert.rejects(
      QemuNbd.start({ image: path, binary: 'brankas-test-no-such-qemu-nbd' }),
      hasCode('QEMU_NBD_NOT_INSTALLED'),
    );
    assert.equal(liveQemuNbdCount(), 0);
  });

  test('qemu-nbd killed mid-read fails every read with a clear error, no hang, nothing left', async (t) => {
    const path = await image(t, '256M', 'write -P 0x33 0 256M');
    const server = await QemuNbd.start({ image: path, format: 'qcow2' });
    const pid = server.pid!;
    try {
      const client = await NbdClient.connect(server.target);
      const reads = Array.from({ length: 64 }, (_, i) =>
        client.read((i % 64) * 4 * MiB, 4 * MiB).then(
          () => 'ok',
          (err: unknown) => err,
        ),
      );
      // Once the first reply is in, kill the server outright: the other 252 MiB cannot all be
      // on their way by then (a socket buffers far less), however fast or slow the machine.
      await Promise.race(reads);
      process.kill(pid, 'SIGKILL');
      // Only a hang reaches this bound.
      let timer: NodeJS.Timeout | undefined;
      const results = await Promise.race([
        Promise.all(reads),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('reads hang')), 60_000);
        }),
      ]).finally(() => clearTimeout(timer));
      const failures = results.filter((r) => r !== 'ok');
      assert.ok(failures.length > 0, 'some reads were cut off');
      for (const f of failures) hasCode('NBD_CONNECTION_CLOSED')(f);
      assert.equal(client.closed, true);
    } finally {
      await server.stop();
    }
    assert.ok(await gone(pid));
    assert.equal(existsSync(server.dir), false);
  });

  test('aborting the caller’s signal stops qemu-nbd and removes its directory before abort() returns', async (t) => {
    const path = await image(t, '1M');
    const controller = new AbortController();
    const server = await QemuNbd.start({ image: path, format: 'qcow2', signal: controller.signal });
    const pid = server.pid!;
    t.after(() => server.stop());
    assert.ok(alive(pid) && existsSync(server.dir));
    // Synchronously, as from a signal handler or an 'exit' hook: nothing may wait.
    controller.abort(new Error('stop'));
    assert.equal(existsSync(server.dir), false, 'socket directory removed at once');
    assert.equal(liveQemuNbdCount(), 0);
    assert.ok(await gone(pid), 'qemu-nbd stopped');
    await server.stop(); // still fine afterwards
  });

  test('an already aborted signal fails start() with its reason, starting nothing', async (t) => {
    const path = await image(t, '1M');
    const before = await managerDirs();
    const reason = new Error('aborted before');
    await assert.rejects(
      QemuNbd.start({ image: path, format: 'qcow2', signal: AbortSignal.abort(reason) }),
      (err) => err === reason,
    );
    assert.deepEqual(await managerDirs(), before);
    assert.equal(liveQemuNbdCount(), 0);
  });

  test('a stopped server no longer listens to the signal', async (t) => {
    const path = await image(t, '1M');
    const { signal } = new AbortController();
    const server = await QemuNbd.start({ image: path, format: 'qcow2', signal });
    assert.equal(getEventListeners(signal, 'abort').length, 1);
    await server.stop();
    assert.equal(
      getEventListeners(signal, 'abort').length,
      0,
      'a long-lived signal keeps no stopped server',
    );
  });
});
