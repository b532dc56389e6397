/**
 * Restores onto a remote host and doctor on one, through a private sshd on
 * 127.0.0.1 (test/support/sshd.ts; "remote" is this same machine, so ssh's
 * own command log, test/support/ssh-log.ts, is the witness that the work
 * went over ssh): restoring over an existing VM and file with --force, the
 * free-space check made there before writing, `--disk --to PATH` writing on
 * that host, the staging's roll-back putting a replaced file back, and
 * doctor listing and removing a job directory a killed remote live backup
 * left (but not one a live session holds).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { chmod, copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection, DomainUndefine, type Domain } from '../src/libvirt/index.js';
import { LocalBackend } from '../src/repo/backend/local.js';
import { Repository } from '../src/repo/repository.js';
import { BackupDisk } from '../src/repo/reader.js';
import { openImage } from '../src/image/index.js';
import { RemoteStaging } from '../src/engine/restore/remote-staging.js';
import { RemoteJobDir } from '../src/engine/remote/job-dir.js';
import { shellQuote, sshExec, type SshTarget } from '../src/util/ssh.js';
import {
  ensureGuestImages,
  guestDomainXml,
  makeScratchDir,
  testName,
  type ScratchDir,
} from './support/guest.js';
import { cli, initPlainRepo } from './support/cli.js';
import { loggedSsh, type LoggedSsh } from './support/ssh-log.js';
import { TestSshd } from './support/sshd.js';

const run = promisify(execFile);
let conn: Connection;
let sshd: TestSshd;
let ssh: LoggedSsh;
let target: SshTarget;
let repoDir: string;
let scratch: ScratchDir;
let domain: Domain | undefined;
let disk: string;
let backupId: string;
const env = (): NodeJS.ProcessEnv => ({ BRANKAS_REPO: repoDir });

async function hashOf(d: { virtualSize: number; read(o: number, n: number): Promise<Buffer> }) {
  const h = createHash('sha256');
  for (let off = 0; off < d.virtualSize; off += 4 << 20) {
    h.update(await d.read(off, Math.min(4 << 20, d.virtualSize - off)));
  }
  return h.digest('hex');
}

async function imageHash(path: string): Promise<string> {
  const img = await openImage(path);
  try {
    return await hashOf(img);
  } finally {
    await img.close();
  }
}

async function backupHash(name: string): Promise<string> {
  const repo = await Repository.open(new LocalBackend(repoDir));
  try {
    const d = await BackupDisk.open(repo, backupId, name);
    try {
      return await hashOf(d);
    } finally {
      await d.close();
    }
  } finally {
    await repo.close();
  }
}

/** Hidden staging names (restore/remote-staging.ts) left in `dir`. */
async function stagingLeftovers(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.includes('.brankas-remote'));
}

/** Processes whose command line names `text` (and matches `start`). */
async function processesNaming(text: string, start = /./): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(
      /[\0\n]/g,
      ' ',
    );
    if (cmd.includes(text) && start.test(cmd)) found.push(pid);
  }
  return found;
}

async function childrenOf(pid: string): Promise<string[]> {
  const found: string[] = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const st = await readFile(`/proc/${p}/stat`, 'utf8').catch(() => '');
    if (st.slice(st.lastIndexOf(')') + 2).split(' ')[1] === pid) found.push(p);
  }
  return found;
}

/** The command's JSON output (untyped, as every CLI test reads it). */
function json(r: { stdout: string }) {
  return JSON.parse(r.stdout);
}

before(async () => {
  sshd = await TestSshd.start();
  ssh = await loggedSsh(sshd);
  target = {
    host: '127.0.0.1',
    port: sshd.port,
    user: 'root',
    keyfile: sshd.clientKey,
    knownHosts: sshd.knownHosts,
    noVerify: false,
    command: 'ssh',
  };
  conn = await Connection.open('qemu:///system');
  repoDir = await initPlainRepo();
  const images = await ensureGuestImages();
  scratch = await makeScratchDir('remote-restore');
  disk = join(scratch.path, 'vda.qcow2');
  await copyFile(images.baseDisk, disk);
  await chmod(disk, 0o644);
  domain = await conn.defineDomain(
    guestDomainXml({
      name: scratch.name,
      kernel: images.kernel,
      initrd: images.initrd,
      disks: [{ path: disk, format: 'qcow2', target: 'vda' }],
      serialSocket: join(scratch.path, 'console.sock'),
    }),
  );
  // Backed up here (the data path of a backup over ssh is remote-backup.test.ts's).
  const r = await cli(['backup', scratch.name, '--mode', 'cold', '--json'], env());
  assert.equal(r.code, 0, r.stderr + r.stdout);
  backupId = json(r).manifest.id;
});

after(async () => {
  try {
    await domain
      ?.undefine(DomainUndefine.SNAPSHOTS_METADATA | DomainUndefine.CHECKPOINTS_METADATA)
      .catch(() => undefined);
    await conn?.close();
  } finally {
    await scratch?.remove();
    await sshd?.stop();
    if (repoDir) await rm(repoDir, { recursive: true, force: true });
  }
});

describe('restore onto a remote host', () => {
  test('restoring over an existing VM through qemu+ssh:// is refused without --force and replaces its disk with it', async () => {
    // The disaster case: the VM is still defined, its disk now holds other data.
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xcd 0 1M', disk]);
    const before = await imageHash(disk);
    assert.notEqual(before, await backupHash('vda'));
    const uuid = domain!.uuid;

    const refused = await cli(['restore', backupId, '-c', ssh.uri(), '--json'], env());
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.equal(json(refused).error.code, 'RESTORE_VM_EXISTS');
    assert.equal(await imageHash(disk), before, 'nothing was written');

    await ssh.commands();
    const r = await cli(['restore', backupId, '-c', ssh.uri(), '--force', '--json'], env());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const commands = await ssh.commands();
    assert.match(commands, /qemu-img create -q -f qcow2/, 'written over ssh');
    assert.match(
      commands,
      /mv -f '[^']*\.vda\.qcow2\.brankas-remote-[0-9a-f]{16}'/,
      'placed there',
    );
    assert.deepEqual(
      json(r).disks.map((d: { path: string }) => d.path),
      [disk],
    );
    assert.equal(await imageHash(disk), await backupHash('vda'));
    // The same VM, defined again; the replaced file's second name is gone.
    assert.equal((await conn.lookupDomain(scratch.name)).uuid, uuid);
    assert.deepEqual(await stagingLeftovers(scratch.path), []);
  });

  test('a remote restore that does not fit is refused before writing, naming the host, the directory and the bytes', async () => {
    // A short path: the copy's console socket goes there too (107 bytes at most).
    const small = await mkdtemp(join(tmpdir(), 'brankas-test-space-'));
    const as = testName('s');
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
    try {
      const r = await cli(
        ['restore', backupId, '--as', as, '--to', small, '-c', ssh.uri(), '--json'],
        env(),
      );
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const e = json(r).error;
      assert.equal(e.code, 'REMOTE_RESTORE_NO_SPACE');
      assert.equal(e.dir, small);
      assert.match(e.host, /^root@127\.0\.0\.1:\d+$/);
      assert.ok(e.neededBytes > e.freeBytes, JSON.stringify(e));
      assert.ok(e.freeBytes <= 1 << 20);
      assert.match(e.message, new RegExp(`on root@127\\.0\\.0\\.1:\\d+`));
      assert.deepEqual(await readdir(small), [], 'nothing was written');
      assert.equal(await conn.lookupDomain(as).catch(() => undefined), undefined);
    } finally {
      await run('umount', [small]);
      await rm(small, { recursive: true, force: true });
    }
  });

  test('restore --disk --to PATH through qemu+ssh:// writes the file on that host, and replaces one only with --force', async () => {
    // Something else is at PATH there already.
    const path = join(scratch.path, 'one-disk.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', path, '1M']);
    const args = ['restore', backupId, '--disk', 'vda', '--to', path, '-c', ssh.uri(), '--json'];
    const refused = await cli(args, env());
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.equal(json(refused).error.code, 'RESTORE_FILE_EXISTS');

    await ssh.commands();
    const r = await cli([...args, '--force'], env());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      await ssh.commands(),
      new RegExp(
        `qemu-img create -q -f qcow2 .*${scratch.name}/\\.one-disk\\.qcow2\\.brankas-remote-`,
      ),
      'made on the host',
    );
    assert.equal(json(r).path, path);
    assert.equal(await imageHash(path), await backupHash('vda'));
    assert.deepEqual(await stagingLeftovers(scratch.path), []);
  });

  test('a remote staging rolled back after it replaced a file puts the original back', async () => {
    const final = join(scratch.path, 'staged.img');
    await writeFile(final, 'original');
    const staging = new RemoteStaging(target, true);
    const tmp = staging.add(final);
    await sshExec(target, `printf new > ${shellQuote(tmp)}`);
    await staging.commit();
    assert.equal(await readFile(final, 'utf8'), 'new');
    await staging.rollback();
    assert.equal(await readFile(final, 'utf8'), 'original');
    assert.deepEqual(await stagingLeftovers(scratch.path), []);
  });
});

describe('doctor on a remote host', () => {
  test("doctor through qemu+ssh:// finds a bitmap no checkpoint names in a shut-off VM's image there, and --fix removes it there", async () => {
    await run('qemu-img', ['bitmap', '--add', disk, 'brankas-0badc0de-9']);
    await ssh.commands();
    const doctor = (...more: string[]) =>
      cli(['doctor', scratch.name, '-c', ssh.uri(), '--json', ...more], env());
    const found = await doctor();
    assert.equal(found.code, 0, found.stdout + found.stderr);
    assert.deepEqual(
      json(found).findings.filter((f: { kind: string }) => f.kind === 'orphan-bitmap'),
      [
        {
          kind: 'orphan-bitmap',
          vm: scratch.name,
          disk: 'vda',
          image: disk,
          bitmap: 'brankas-0badc0de-9',
          running: false,
        },
      ],
    );
    assert.match(await ssh.commands(), /qemu-img info -U --output=json/, 'read over ssh');
    const fixed = await doctor('--fix');
    assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr);
    assert.match(await ssh.commands(), /qemu-img bitmap --remove/, 'removed over ssh');
    const { stdout } = await run('qemu-img', ['info', '--output=json', disk]);
    const left = (JSON.parse(stdout)['format-specific'].data.bitmaps ?? []) as { name: string }[];
    assert.ok(!left.some((b) => b.name === 'brankas-0badc0de-9'), JSON.stringify(left));
  });

  test('doctor through qemu+ssh:// lists a job directory a killed remote live backup left there and --fix removes it; one a session holds is left alone', async () => {
    const marker = {
      vm: scratch.name,
      uuid: domain!.uuid,
      pid: 1,
      checkpoint: null,
      startedAt: new Date().toISOString(),
    };
    const jd = await RemoteJobDir.start(target, marker, undefined);
    try {
      // Only this VM: the host's /var/tmp also holds other jobs' directories.
      const doctor = (...more: string[]) =>
        cli(['doctor', scratch.name, '-c', ssh.uri(), '--json', ...more], env());
      const paths = (r: { stdout: string }): string[] =>
        json(r).findings.map((f: { path?: string }) => f.path);
      const held = await doctor();
      assert.equal(held.code, 0, held.stdout + held.stderr);
      assert.ok(!paths(held).includes(jd.dir), 'a directory its session holds is in use');

      // The host loses the session's script at once (no EXIT trap): the directory stays.
      const script = await processesNaming(jd.dir, /^sh -c umask 077/);
      assert.equal(script.length, 1, 'the remote script runs');
      // Its `cat` too, which holds the session open.
      for (const pid of [...script, ...(await childrenOf(script[0]!))]) {
        process.kill(Number(pid), 'SIGKILL');
      }
      // Here "remote" is this machine: the local end of the session goes with it (a deadline).
      for (const end = Date.now() + 60_000; (await processesNaming(jd.dir)).length > 0;) {
        assert.ok(Date.now() < end, 'the session ended');
        await new Promise((r) => setTimeout(r, 50));
      }
      await ssh.commands();
      const left = await doctor();
      assert.equal(left.code, 0, left.stdout + left.stderr);
      const f = json(left).findings.find((x: { path?: string }) => x.path === jd.dir);
      assert.deepEqual(f, {
        kind: 'work-dir',
        vm: scratch.name,
        path: jd.dir,
        reason: 'killed-job',
      });
      assert.match(await ssh.commands(), /brankas-live-/, 'looked for over ssh');

      const fixed = await doctor('--fix');
      assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr);
      assert.match(await ssh.commands(), new RegExp(`rm -rf '${jd.dir}'`), 'removed over ssh');
      await assert.rejects(readdir(jd.dir), { code: 'ENOENT' });
    } finally {
      await jd.remove();
      await rm(jd.dir, { recursive: true, force: true });
    }
  });
});
