/**
 * Live backups of a running VM through `qemu+ssh://root@127.0.0.1:PORT/system`
 * (a private sshd, test/support/sshd.ts; "remote" is this same machine): the
 * job's directory is made over ssh and libvirt's NBD export read through a
 * socket forwarded by that ssh. A full backup, then an incremental after a
 * guest write, each restored byte for byte as the disk is at its backup
 * point (the VM paused, compared with qemu-img compare); ssh's own log is
 * the witness that the work went over ssh, and nothing is left behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Connection, Domain } from '../src/libvirt/index.js';
import { READY_MARKER, SerialConsole, type ScratchDir } from './support/guest.js';
import { cli } from './support/cli.js';
import { defineGuestLab, type GuestLab } from './support/guest-lab.js';
import { loggedSsh, type LoggedSsh } from './support/ssh-log.js';
import { TestSshd } from './support/sshd.js';

const run = promisify(execFile);
const MiB = 1 << 20;
let lab: GuestLab | undefined;
let conn: Connection;
let sshd: TestSshd;
let repoDir: string;
let scratch: ScratchDir;
let vm: Domain | undefined;
let serial: SerialConsole | undefined;
let vda: string;
let ssh: LoggedSsh;
const env = (): NodeJS.ProcessEnv => ({ BRANKAS_REPO: repoDir });
const sshUri = (): string => ssh.uri();
/** The ssh command lines run since the last call. */
const sshCommands = (): Promise<string> => ssh.commands();

/** Job directories the remote script makes (remote/job-dir.ts): `/var/tmp/brankas-live-<16 hex>`. */
async function remoteJobDirs(): Promise<string[]> {
  return (await readdir('/var/tmp')).filter((n) => /^brankas-live-[0-9a-f]{16}$/.test(n));
}

interface LiveResult {
  mode: string;
  parent: string | null;
  clearedLeftovers: { job: string | null; dirs: string[] } | null;
  disks: { target: string; read: string; reason: string; readBytes: number }[];
  manifest: { id: string; disks: { name: string; formatOptions: Record<string, unknown> }[] };
}

async function remoteLiveBackup(): Promise<LiveResult> {
  const r = await cli(['backup', vm!.name, '-c', sshUri(), '--mode', 'live', '--json'], env());
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const result = JSON.parse(r.stdout) as LiveResult;
  assert.equal(result.mode, 'live');
  return result;
}

/** Restores vda of `id` here and compares it with the (paused) VM's disk. */
async function assertRestoresAsDisk(id: string, label: string): Promise<void> {
  const to = join(scratch.path, `restored-${label}.qcow2`);
  const res = await cli(['restore', id, '--disk', 'vda', '--to', to, '--json'], env());
  assert.equal(res.code, 0, res.stdout + res.stderr);
  await run('qemu-img', ['compare', '-U', '-f', 'qcow2', '-F', 'qcow2', to, vda]);
  await rm(to, { force: true });
}

before(async () => {
  sshd = await TestSshd.start();
  ssh = await loggedSsh(sshd);
  lab = await defineGuestLab('remote-live');
  ({ conn, repoDir, scratch, vm, vda } = lab);
  await vm.start();
  serial = await SerialConsole.connect(join(scratch.path, 'console.sock'), { timeoutMs: 10_000 });
  await serial.waitFor(READY_MARKER, 120_000);
});

after(async () => {
  try {
    serial?.close();
    await lab?.remove();
  } finally {
    await sshd?.stop();
  }
});

describe('remote live backup over ssh', () => {
  let first: LiveResult | undefined;

  test('a running VM through qemu+ssh:// is backed up live through a forwarded NBD socket and restores as its disk', async () => {
    await serial!.run('dd if=/dev/urandom of=/data/a bs=1M count=4 2>/dev/null; sync', 60_000);
    const id = (await conn.lookupDomain(vm!.name)).id;
    await sshCommands();
    // Paused: the disk stays as it is at the backup point, to compare the restore with.
    await vm!.suspend();
    try {
      first = await remoteLiveBackup();
      assert.deepEqual(
        first.disks.map((d) => [d.target, d.read, d.reason]),
        [['vda', 'full', 'first']],
      );
      assert.ok(first.disks[0]!.readBytes >= 4 * MiB, String(first.disks[0]!.readBytes));
      const opts = first.manifest.disks.find((d) => d.name === 'vda')!.formatOptions;
      assert.equal(opts['reader'], 'nbd-live');
      // The image's creation options, asked of qemu-img on that host.
      assert.equal(opts['clusterSize'], 65536);
      await assertRestoresAsDisk(first.manifest.id, 'full');
    } finally {
      await vm!.resume();
    }
    const commands = await sshCommands();
    // The job's directory made there, its NBD socket forwarded here, the image asked about there.
    assert.match(commands, /-L \S+\/nbd\.sock:\/var\/tmp\/brankas-live-[0-9a-f]{16}\/nbd\.sock/);
    assert.match(commands, /mkdir '\\''\/var\/tmp\/brankas-live-[0-9a-f]{16}'\\''/);
    assert.match(commands, /qemu-img info --output=json/);
    // The same QEMU process all along, still running; the directory went with the session.
    assert.equal((await conn.lookupDomain(vm!.name)).id, id);
    assert.equal((await vm!.state()).state, 'running');
    assert.deepEqual(await remoteJobDirs(), []);
  });

  test('an incremental through qemu+ssh:// after a guest write reads only what changed and restores as the disk', async () => {
    assert.ok(first, 'the full backup test ran first');
    await serial!.run('dd if=/dev/urandom of=/data/b bs=1M count=1 2>/dev/null; sync', 60_000);
    await sshCommands();
    await vm!.suspend();
    try {
      const r = await remoteLiveBackup();
      assert.equal(r.parent, first.manifest.id);
      const d = r.disks[0]!;
      assert.deepEqual([d.target, d.read, d.reason], ['vda', 'incremental', 'incremental']);
      assert.ok(
        d.readBytes >= MiB && d.readBytes < first.disks[0]!.readBytes / 2,
        `${d.readBytes}`,
      );
      await assertRestoresAsDisk(r.manifest.id, 'incremental');
    } finally {
      await vm!.resume();
    }
    assert.match(await sshCommands(), /-L \S+:\/var\/tmp\/brankas-live-[0-9a-f]{16}\/nbd\.sock/);
    assert.deepEqual(await remoteJobDirs(), []);
  });

  test('a live backup killed outright on that host: its directory goes with its ssh session, the next backup aborts the job it left', async () => {
    // Another brankas process begins a job through the ssh path, then is killed (SIGKILL).
    const exportJs = new URL('../src/engine/backup/live/export.js', import.meta.url).href;
    const remoteJs = new URL('../src/engine/backup/live/remote.js', import.meta.url).href;
    const hostJs = new URL('../src/engine/remote/host.js', import.meta.url).href;
    const libvirtJs = new URL('../src/libvirt/index.js', import.meta.url).href;
    const script = [
      `import { LiveExport } from ${JSON.stringify(exportJs)};`,
      `import { hostJobDir } from ${JSON.stringify(remoteJs)};`,
      `import { dataHostOf } from ${JSON.stringify(hostJs)};`,
      `import { Connection } from ${JSON.stringify(libvirtJs)};`,
      `const conn = await Connection.open(${JSON.stringify(sshUri())});`,
      `const vm = await conn.lookupDomain(${JSON.stringify(vm!.name)});`,
      `const ex = await LiveExport.begin(vm, { disks: [{ target: 'vda' }], checkpoint: null, ...hostJobDir(dataHostOf(conn)) });`,
      `console.log('begun ' + ex.dir);`,
      'setInterval(() => {}, 1000);',
    ].join('\n');
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    const begun = new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (s: string) => {
        out += s;
        const m = /begun (\S+)\n/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`the job's process exited (${code}): ${out}`)));
    });
    let dir: string;
    try {
      dir = await begun;
    } finally {
      child.kill('SIGKILL');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    }
    assert.match(dir, /^\/var\/tmp\/brankas-live-[0-9a-f]{16}$/);
    // Its ssh session ends when its stdin's writer is gone: the script removes the directory
    // (a deadline, not a measure of speed).
    const deadline = Date.now() + 120_000;
    while ((await remoteJobDirs()).length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(await remoteJobDirs(), []);
    // The job itself is still running under libvirt there.
    assert.notEqual((await vm!.jobInfo()).type, 0);
    await sshCommands();
    const r = await remoteLiveBackup();
    assert.equal(r.clearedLeftovers?.job, dir);
    // Its directory is removed on that host, over ssh (were its session to have left it).
    assert.ok((await sshCommands()).includes(`rm -rf '${dir}'`));
    assert.equal((await vm!.jobInfo()).type, 0);
    assert.equal((await vm!.state()).state, 'running');
    assert.deepEqual(await remoteJobDirs(), []);
  });
});
