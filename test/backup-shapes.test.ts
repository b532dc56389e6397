/**
 * Cold backup and restore of the disk shapes a real VM has, end to end on
 * real QEMU: a raw disk, two disks, a qcow2 over a backing file (restored
 * flat, the base untouched), one disk restored to a file (--disk), a
 * restore into a directory without space and a forced restore that runs
 * out of space (tmpfs mounts of our own: the original stays intact), and
 * SIGTERM sent to the real CLI in the middle of a copy.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Connection, DomainUndefine, isNotFound, type Domain } from '../src/libvirt/index.js';
import { imageInfo, openImage } from '../src/image/index.js';
import { GUEST_DIR_MODE } from '../src/engine/guest/work-dir.js';
import {
  BOOT_TIMEOUT_MS,
  ensureGuestImages,
  guestDomainXml,
  makeScratchDir,
  SerialConsole,
  testName,
  type GuestDisk,
  type ScratchDir,
} from './support/guest.js';
import { cli, initPlainRepo } from './support/cli.js';
import { BRANKAS_MAIN } from './support/main-path.js';

const run = promisify(execFile);
const MiB = 1 << 20;

let conn: Connection;
let repoDir: string;
let scratch: ScratchDir;
/** Domains this file defined (originals and restored copies), removed in after(). */
const domains: string[] = [];
const mounts: string[] = [];
const env = (): NodeJS.ProcessEnv => ({ BRANKAS_REPO: repoDir });

async function qemuImg(...args: string[]): Promise<void> {
  await run('qemu-img', args);
}

async function qemuIo(path: string, format: string, ...commands: string[]): Promise<void> {
  await run('qemu-io', ['-f', format, ...commands.flatMap((c) => ['-c', c]), path]);
}

/** SHA-256 of what the guest sees on the disk (across any backing chain). */
async function guestHash(path: string, format?: 'raw' | 'qcow2'): Promise<string> {
  const img = await openImage(path, format ? { format } : {});
  try {
    const h = createHash('sha256');
    for (let off = 0; off < img.virtualSize; off += 4 * MiB) {
      h.update(await img.read(off, Math.min(4 * MiB, img.virtualSize - off)));
    }
    return h.digest('hex');
  } finally {
    await img.close();
  }
}

/** SHA-256 of the file's own bytes. */
async function fileHash(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

/**
 * A directory of its own under the scratch directory, private like it (0711): libvirt gives the
 * disks in it to QEMU's user and creates the sockets itself (src/engine/guest/work-dir.ts).
 */
async function subdir(name: string): Promise<string> {
  const dir = join(scratch.path, name);
  await mkdir(dir);
  await chmod(dir, GUEST_DIR_MODE);
  return dir;
}

/** Defines (does not start) a tiny-guest domain with the given disks. */
async function defineVm(name: string, dir: string, disks: GuestDisk[]): Promise<Domain> {
  const images = await ensureGuestImages();
  domains.push(name);
  return conn.defineDomain(
    guestDomainXml({
      name,
      kernel: images.kernel,
      initrd: images.initrd,
      disks,
      serialSocket: join(dir, 'console.sock'),
      memoryMiB: 128,
    }),
  );
}

/** A copy of the tiny guest's ext4 disk (qcow2) at path. */
async function baseDiskCopy(path: string): Promise<void> {
  await copyFile((await ensureGuestImages()).baseDisk, path);
}

async function backup(vm: string): Promise<{ id: string; disks: Record<string, unknown>[] }> {
  const r = await cli(['backup', vm, '--mode', 'cold', '--json'], env());
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return JSON.parse(r.stdout).manifest;
}

async function backupsOf(vm: string): Promise<{ id: string }[]> {
  const r = await cli(['backups', vm, '--json'], env());
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).backups;
}

async function lookup(name: string): Promise<Domain | undefined> {
  return conn
    .lookupDomain(name)
    .catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
}

/** Files in dir, hidden ones included (a staged restore's temporaries start with a dot). */
async function listing(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

async function mountTmpfs(dir: string, size: string): Promise<void> {
  await run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0711`, 'brankas-test', dir]);
  mounts.push(dir);
}

before(async () => {
  conn = await Connection.open('qemu:///system');
  repoDir = await initPlainRepo();
  scratch = await makeScratchDir('shapes');
});

after(async () => {
  try {
    for (const name of domains) {
      const d = await lookup(name).catch(() => undefined);
      if (!d) continue;
      if (await d.isActive().catch(() => false)) await d.destroy().catch(() => undefined);
      await d
        .undefine(DomainUndefine.SNAPSHOTS_METADATA | DomainUndefine.CHECKPOINTS_METADATA)
        .catch(() => undefined);
    }
    for (const dir of mounts.reverse()) {
      await run('umount', [dir]).catch(() => run('umount', ['-l', dir]));
    }
  } finally {
    await conn?.close();
    await scratch?.remove();
    if (repoDir) await rm(repoDir, { recursive: true, force: true });
  }
});

describe('disk shapes', () => {
  // Shared with the --disk and no-space tests below.
  const two = testName('two-disks');
  let twoDir: string;

  test('a raw disk is backed up and restored raw, sparse, with the same content', async () => {
    const vm = testName('raw');
    const dir = await subdir('raw');
    const disk = join(dir, 'vda.raw');
    await qemuImg(
      'convert',
      '-f',
      'qcow2',
      '-O',
      'raw',
      (await ensureGuestImages()).baseDisk,
      disk,
    );
    await qemuIo(disk, 'raw', 'write -P 0x61 40M 3M');
    await defineVm(vm, dir, [{ path: disk, format: 'raw', target: 'vda' }]);

    const m = await backup(vm);
    assert.equal(m.disks[0]!['format'], 'raw');

    const copy = testName('raw-copy');
    domains.push(copy);
    const out = await subdir('raw-out');
    const r = await cli(['restore', m.id, '--as', copy, '--to', out, '--json'], env());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const restored = JSON.parse(r.stdout).disks[0];
    assert.equal(restored.format, 'raw');
    const head = Buffer.alloc(4);
    const fh = await open(restored.path, 'r');
    await fh.read(head, 0, 4, 0);
    await fh.close();
    assert.notEqual(head.toString('latin1'), 'QFI\xfb', 'not a qcow2');
    assert.equal(await guestHash(restored.path, 'raw'), await guestHash(disk, 'raw'));
    const st = await stat(restored.path);
    assert.equal(st.size, 64 * MiB);
    assert.ok(st.blocks * 512 < 16 * MiB, `sparse: ${st.blocks * 512} bytes allocated`);
    assert.match(await (await conn.lookupDomain(copy)).xml(), /<driver name='qemu' type='raw'/);
  });

  test('a VM with two disks: both come back, and the restored copy boots and reads its data disk', async () => {
    twoDir = await subdir('two');
    const vda = join(twoDir, 'vda.qcow2');
    const vdb = join(twoDir, 'vdb.qcow2');
    await baseDiskCopy(vda);
    await qemuImg('create', '-q', '-f', 'qcow2', vdb, '64M');
    // A data disk the guest does not mount: known bytes at known places (16 MiB in all).
    await qemuIo(vdb, 'qcow2', 'write -P 0x5a 0 4M', 'write -P 0xa5 32M 12M');
    await defineVm(two, twoDir, [
      { path: vda, format: 'qcow2', target: 'vda' },
      { path: vdb, format: 'qcow2', target: 'vdb' },
    ]);

    const m = await backup(two);
    assert.deepEqual(
      m.disks.map((d) => d['name']),
      ['vda', 'vdb', 'boot-kernel', 'boot-initrd'],
    );

    const copy = testName('two-copy');
    domains.push(copy);
    const out = await subdir('two-out');
    const r = await cli(['restore', two, '--as', copy, '--to', out, '--json'], env());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const result = JSON.parse(r.stdout);
    const paths = Object.fromEntries(
      result.disks.map((d: { disk: string; path: string }) => [d.disk, d.path]),
    );
    assert.equal(await guestHash(paths.vda), await guestHash(vda));
    assert.equal(await guestHash(paths.vdb), await guestHash(vdb));

    // Compared before it boots: mounting /data writes to vda.
    const domain = await conn.lookupDomain(copy);
    await domain.start();
    const sock = /<source mode='bind' path='([^']+)'/.exec(await domain.xml())?.[1];
    assert.ok(sock, 'the copy has a serial socket');
    const console = await SerialConsole.connect(sock!, { timeoutMs: 10_000 });
    try {
      await console.waitReady(BOOT_TIMEOUT_MS);
      const sums = await console.run(
        'dd if=/dev/vdb bs=1M count=4 2>/dev/null | md5sum; ' +
          'dd if=/dev/vdb bs=1M skip=32 count=12 2>/dev/null | md5sum',
        30_000,
      );
      const expected = [md5(Buffer.alloc(4 * MiB, 0x5a)), md5(Buffer.alloc(12 * MiB, 0xa5))];
      assert.deepEqual(
        sums
          .trim()
          .split('\n')
          .map((l) => l.split(/\s+/)[0]),
        expected,
      );
    } finally {
      console.close();
      await domain.destroy().catch(() => undefined);
    }
  });

  test('a qcow2 over a backing file is restored as its flattened content, without the base, which is untouched', async () => {
    const vm = testName('overlay');
    const dir = await subdir('overlay');
    const base = join(dir, 'base.qcow2');
    const overlay = join(dir, 'overlay.qcow2');
    await baseDiskCopy(base);
    await qemuIo(base, 'qcow2', 'write -P 0x11 20M 2M');
    await qemuImg('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', overlay);
    await qemuIo(overlay, 'qcow2', 'write -P 0x22 21M 2M');
    const baseBefore = await fileHash(base);
    await defineVm(vm, dir, [{ path: overlay, format: 'qcow2', target: 'vda' }]);

    const m = await backup(vm);
    const vda = m.disks[0]!;
    assert.deepEqual((vda['formatOptions'] as { backingChain: string[] }).backingChain, [base]);

    const copy = testName('ovl-copy');
    domains.push(copy);
    const out = await subdir('ovl-out');
    const r = await cli(['restore', m.id, '--as', copy, '--to', out, '--json'], env());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const restored = JSON.parse(r.stdout).disks[0].path;
    const info = await imageInfo(restored);
    assert.equal(info.backingChain.length, 0, 'the restored disk has no backing file');
    assert.equal(info.qcow2?.backingFile, undefined);
    const flat = await guestHash(restored);
    assert.equal(flat, await guestHash(overlay), 'the overlay and the base, flattened');
    assert.notEqual(flat, await guestHash(base));
    // Checked by QEMU too: the base's bytes below the overlay's, the overlay's on top.
    await qemuIo(restored, 'qcow2', 'read -P 0x11 20M 1M', 'read -P 0x22 21M 2M');
    assert.equal(await fileHash(base), baseBefore, 'the base is untouched');
    assert.doesNotMatch(await (await conn.lookupDomain(copy)).xml(), /base\.qcow2/);
  });

  describe('restore --disk NAME --to PATH', () => {
    test('writes only that disk, in the format asked, and defines nothing', async () => {
      const out = await subdir('one-disk');
      const target = join(out, 'data.raw');
      // Only names this restore could define count: other VMs may come and go meanwhile.
      const names = async (): Promise<string[]> =>
        (await conn.listDomains()).map((d) => d.name).filter((n) => n.startsWith(two));
      const before = await names();
      const r = await cli(
        ['restore', two, '--disk', 'vdb', '--to', target, '--format', 'raw', '--json'],
        env(),
      );
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const result = JSON.parse(r.stdout);
      assert.equal(result.path, target);
      assert.equal(result.format, 'raw');
      assert.equal(result.dataBytes, 16 * MiB);
      assert.deepEqual(await listing(out), ['data.raw']);
      assert.equal(await guestHash(target, 'raw'), await guestHash(join(twoDir, 'vdb.qcow2')));
      assert.deepEqual(await names(), before);
    });

    test('an existing file is refused without --force and replaced with it', async () => {
      const out = await subdir('one-disk-force');
      const target = join(out, 'vdb.qcow2');
      await qemuImg('create', '-q', '-f', 'qcow2', target, '1M');
      const old = await fileHash(target);
      const refused = await cli(['restore', two, '--disk', 'vdb', '--to', target, '--json'], env());
      assert.equal(refused.code, 1);
      assert.equal(JSON.parse(refused.stdout).error.code, 'RESTORE_FILE_EXISTS');
      assert.equal(await fileHash(target), old);

      const forced = await cli(
        ['restore', two, '--disk', 'vdb', '--to', target, '--force', '--json'],
        env(),
      );
      assert.equal(forced.code, 0, forced.stdout + forced.stderr);
      assert.equal(JSON.parse(forced.stdout).format, 'qcow2');
      assert.equal(await guestHash(target), await guestHash(join(twoDir, 'vdb.qcow2')));
      assert.deepEqual(await listing(out), ['vdb.qcow2'], 'no temporary file is left');
    });

    test('an unknown disk is a clear error listing the disks the backup has', async () => {
      const out = await subdir('one-disk-unknown');
      const r = await cli(
        ['restore', two, '--disk', 'vdz', '--to', join(out, 'x.qcow2'), '--json'],
        env(),
      );
      assert.equal(r.code, 1);
      const error = JSON.parse(r.stdout).error;
      assert.equal(error.code, 'RESTORE_DISK_NOT_FOUND');
      assert.deepEqual(error.disks, ['vda', 'vdb']);
      const id = await cli(
        ['restore', two, '--disk', 'vdz', '--to', join(out, 'x.qcow2'), '--lang', 'id'],
        env(),
      );
      assert.equal(id.code, 1);
      assert.match(
        id.stderr,
        /^galat: .*tidak punya disk bernama 'vdz'; disk yang ada: vda, vdb\n$/,
      );
      assert.deepEqual(await listing(out), []);

      const usage = await cli(['restore', two, '--disk', 'vdb'], env());
      assert.equal(usage.code, 2);
      assert.match(usage.stderr, /--disk needs --to/);
    });
  });

  describe('restore without space (tmpfs mounts of our own)', () => {
    test('into a directory without space: a clear error, no file left, no domain defined', async () => {
      const dir = await subdir('full');
      await mountTmpfs(dir, '8m');
      const copy = testName('full-copy');
      domains.push(copy);
      // Refused before anything is written, naming what does not fit.
      const r = await cli(['restore', two, '--as', copy, '--to', dir, '--json'], env());
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const error = JSON.parse(r.stdout).error;
      assert.equal(error.code, 'RESTORE_NO_SPACE');
      assert.equal(error.dir, dir);
      assert.ok(error.needMiB > error.freeMiB && error.freeMiB <= 8, JSON.stringify(error));
      assert.deepEqual(await listing(dir), []);
      assert.equal(await lookup(copy), undefined);

      // Without the check, the write itself runs out of space and cleans up.
      const text = await cli(
        ['restore', two, '--as', copy, '--to', dir, '--no-space-check'],
        env(),
      );
      assert.equal(text.code, 1);
      // Progress notes, then the error as one line: no stack trace.
      const lines = text.stderr.trimEnd().split('\n');
      assert.match(lines.at(-1)!, /^error: not enough space in .* to restore vd[ab] of backup /);
      assert.ok(
        lines.slice(0, -1).every((l) => l.startsWith('  vda -> ')),
        text.stderr,
      );
      assert.deepEqual(await listing(dir), []);
    });

    test('a forced restore that runs out of space leaves the file it replaces intact; with room it replaces it', async () => {
      const vm = testName('tight');
      const dir = await subdir('tight');
      await mountTmpfs(dir, '16m');
      const disk = join(dir, 'vda.qcow2');
      await baseDiskCopy(disk);
      await qemuIo(disk, 'qcow2', 'write -P 0x33 16M 9M');
      await defineVm(vm, dir, [{ path: disk, format: 'qcow2', target: 'vda' }]);
      const backedUp = await guestHash(disk);
      await backup(vm);
      // Later the VM has another, small disk at that path, and the file system shrinks:
      // the backup's 9 MiB cannot fit in 8 MiB even with the present file gone, so a
      // restore that truncated the file in place would lose it.
      await rm(disk);
      await qemuImg('create', '-q', '-f', 'qcow2', disk, '64M');
      await qemuIo(disk, 'qcow2', 'write -P 0x77 0 512k');
      await run('mount', ['-o', 'remount,size=8m', dir]);
      const present = await fileHash(disk);
      const inode = (await stat(disk)).ino;
      const xml = await (await conn.lookupDomain(vm)).xml();

      const r = await cli(['restore', vm, '--force', '--json'], env());
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.equal(JSON.parse(r.stdout).error.code, 'RESTORE_NO_SPACE');
      assert.equal(await fileHash(disk), present, 'the file it would replace is intact');
      assert.equal((await stat(disk)).ino, inode);
      assert.deepEqual(await listing(dir), ['vda.qcow2']);
      assert.equal(await (await conn.lookupDomain(vm)).xml(), xml);

      await run('mount', ['-o', 'remount,size=32m', dir]);
      const ok = await cli(['restore', vm, '--force', '--json'], env());
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.equal(await guestHash(disk), backedUp, 'the backup replaced it');
      assert.deepEqual(await listing(dir), ['vda.qcow2'], 'no temporary or set-aside file is left');
    });
  });
});

/**
 * Runs the real CLI as a child process and sends it SIGTERM once `begun` says its work has
 * begun; resolves with its exit code and output. The child never outlives the call.
 */
async function interruptCli(
  args: string[],
  begun: (stderr: string) => Promise<boolean>,
  what: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BRANKAS_MAIN, ...args], {
    env: { ...process.env, BRANKAS_REPO: repoDir, LANG: 'C' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let running = true;
  void exited.then(() => (running = false));
  try {
    // The child is paused (SIGSTOP) while `begun` looks and until SIGTERM is on its way, so it
    // cannot finish in between: how fast this machine copies does not decide the outcome, as
    // long as the work lasts longer than one 20 ms slice after it has begun.
    const deadline = Date.now() + BOOT_TIMEOUT_MS;
    let started = false;
    while (running && Date.now() < deadline) {
      child.kill('SIGSTOP');
      started = running && (await begun(stderr));
      if (started) break;
      child.kill('SIGCONT');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(running, `the ${what} ended before SIGTERM could be sent: ${stdout}${stderr}`);
    assert.ok(started, `the ${what} did not begin: ${stderr}`);
    child.kill('SIGTERM'); // pending until the child runs again
    child.kill('SIGCONT');
    const code = await Promise.race([
      exited,
      new Promise<'hung'>((r) => setTimeout(() => r('hung'), BOOT_TIMEOUT_MS).unref()),
    ]);
    assert.notEqual(code, 'hung', `the CLI did not exit after SIGTERM: ${stderr}`);
    return { code: code as number | null, stdout, stderr };
  } finally {
    if (running) child.kill('SIGKILL');
  }
}

describe('SIGTERM in the middle of the copy', () => {
  test('the CLI stops with a clear message, the VM runs again, nothing is listed, the next backup works', async () => {
    const vm = testName('sigterm');
    const dir = await subdir('sigterm');
    const vda = join(dir, 'vda.qcow2');
    const vdb = join(dir, 'vdb.raw');
    await baseDiskCopy(vda);
    // Incompressible data, so the copy takes a few seconds.
    const fh = await open(vdb, 'w');
    for (let i = 0; i < 320 / 4; i++) await fh.write(randomBytes(4 * MiB));
    await fh.close();
    const domain = await defineVm(vm, dir, [
      { path: vda, format: 'qcow2', target: 'vda' },
      { path: vdb, format: 'raw', target: 'vdb' },
    ]);
    await domain.start();
    let serial = await SerialConsole.connect(join(dir, 'console.sock'), { timeoutMs: 10_000 });
    await serial.waitReady(BOOT_TIMEOUT_MS);
    serial.close();

    const packDir = join(repoDir, 'data');
    const packs = async (): Promise<number> => {
      let n = 0;
      const walk = async (d: string): Promise<void> => {
        for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
          if (e.isDirectory()) await walk(join(d, e.name));
          else if (!e.name.startsWith('.tmp-')) n++;
        }
      };
      await walk(packDir);
      return n;
    };
    const packsBefore = await packs();

    // The copy has begun once the VM is off and a first pack of its data is stored.
    const stopped = await interruptCli(
      ['backup', vm, '--mode', 'cold'],
      async (stderr) => /is off after/.test(stderr) && (await packs()) > packsBefore,
      'backup',
    );
    assert.notEqual(stopped.code, 0);
    assert.equal(stopped.code, 130, stopped.stderr);
    assert.match(
      stopped.stderr,
      /interrupted: no backup was recorded; the VM is back in the state/,
    );
    assert.doesNotMatch(stopped.stderr, /\n\s+at /, 'no stack trace');
    assert.equal((await domain.state()).state, 'running');
    assert.deepEqual(await backupsOf(vm), []);

    // The guest must be up again to answer the next shutdown request quickly.
    serial = await SerialConsole.connect(join(dir, 'console.sock'), { timeoutMs: 10_000 });
    try {
      await serial.waitReady(BOOT_TIMEOUT_MS);
    } finally {
      serial.close();
    }
    const m = await backup(vm);
    assert.deepEqual(
      (await backupsOf(vm)).map((b) => b.id),
      [m.id],
    );
    assert.equal((await domain.state()).state, 'running');
    assert.equal(m.disks.find((d) => d['name'] === 'vdb')!['dataBytes'], 320 * MiB);

    // SIGTERM in the middle of a restore of that backup: nothing is left, nothing defined.
    const copy = testName('sigterm-copy');
    domains.push(copy);
    // Short: the copy's console socket goes in it, and the XML (socket paths included) is
    // checked before anything is written.
    const target = await subdir('sr');
    // The copy of vdb has begun once its temporary file holds some data.
    const restored = await interruptCli(
      ['restore', m.id, '--as', copy, '--to', target],
      async () => {
        for (const f of await readdir(target)) {
          if (f.includes('vdb') && (await stat(join(target, f))).size > 0) return true;
        }
        return false;
      },
      'restore',
    );
    assert.equal(restored.code, 130, restored.stderr);
    assert.match(restored.stderr, /interrupted: nothing was restored/);
    assert.doesNotMatch(restored.stderr, /\n\s+at /, 'no stack trace');
    assert.deepEqual(await listing(target), [], 'what the restore wrote is removed');
    assert.equal(await lookup(copy), undefined, 'nothing is defined');
  });
});
