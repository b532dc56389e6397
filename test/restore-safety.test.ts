/**
 * Restores never weaken a VM or escape their place (issue #12), on the real
 * libvirtd with small VMs that are defined and backed up but never started:
 * a --as name that would leave the images directory, graphical consoles
 * whose password the backup left out, a manifest that claims host access or
 * another directory, leftovers of a killed restore and of a failed one, and
 * file system errors at paths the user named.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  Connection,
  DomainUndefine,
  DomainXml,
  isNotFound,
  type Domain,
} from '../src/libvirt/index.js';
import { LocalBackend } from '../src/repo/backend/local.js';
import type { Manifest } from '../src/repo/manifest.js';
import { Repository } from '../src/repo/repository.js';
import { restoreBackup } from '../src/engine/restore/restore.js';
import { restoreDisk } from '../src/engine/restore/disk.js';
import { EngineError } from '../src/engine/errors.js';
import { errorCode } from '../src/util/errors.js';
import { makeScratchDir, testName, type ScratchDir } from './support/guest.js';
import { cli, initPlainRepo } from './support/cli.js';

const run = promisify(execFile);

let conn: Connection;
let repoDir: string;
let scratch: ScratchDir;
/** Domains this file defined (originals and restored copies), removed in after(). */
const domains: string[] = [];
const cleanup: string[] = [];
const mounts: string[] = [];
const env = (): NodeJS.ProcessEnv => ({ BRANKAS_REPO: repoDir });

/** A VM with a password on its console and a boot file, and one without either. */
const vmA = testName('safety-a');
const vmB = testName('safety-b');
let dirA: string;
let dirB: string;
let idA: string;
let idB: string;

async function subdir(name: string): Promise<string> {
  const dir = join(scratch.path, name);
  await mkdir(dir);
  await chmod(dir, 0o1777);
  return dir;
}

async function defineVm(
  name: string,
  dir: string,
  o: { password?: string; kernel?: string },
): Promise<Domain> {
  const disk = join(dir, 'vda.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M']);
  await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 1M 1M', disk]);
  domains.push(name);
  return conn.defineDomain(`<domain type='qemu'>
  <name>${name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type>${o.kernel ? `<kernel>${o.kernel}</kernel>` : ''}</os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='${disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='unix'><source mode='bind' path='${join(dir, 'console.sock')}'/><target port='0'/></serial>
    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'${o.password ? ` passwd='${o.password}'` : ''}/>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>`);
}

async function backup(vm: string): Promise<string> {
  const r = await cli(['backup', vm, '--json'], env());
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return JSON.parse(r.stdout).manifest.id;
}

async function lookup(name: string): Promise<Domain | undefined> {
  return conn
    .lookupDomain(name)
    .catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
}

async function withRepo<T>(fn: (repo: Repository) => Promise<T>): Promise<T> {
  const repo = await Repository.open(new LocalBackend(repoDir));
  try {
    return await fn(repo);
  } finally {
    await repo.close();
  }
}

/**
 * The repository as restore sees it when backup `id`'s manifest says what
 * `change` makes it say: what an edited manifest of an unencrypted
 * repository (its SHA-256 recomputed) looked like to restore before manifests
 * were authenticated. Every manifest read goes through `manifest()`.
 */
function forged(repo: Repository, id: string, change: (m: Manifest) => void): Repository {
  const manifest: Repository['manifest'] = async (which) => {
    const read = await repo.manifest(which);
    if (which !== id) return read;
    const m = structuredClone(read.manifest);
    change(m);
    return { ...read, manifest: m };
  };
  // Everything else, state included (set through the proxy lands on repo), is the repository's.
  return new Proxy(repo, {
    get: (target, prop, receiver) =>
      prop === 'manifest' ? manifest : Reflect.get(target, prop, receiver),
  });
}

function rejectsWith(code: string): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.equal(errorCode(e), code, String(e));
    return true;
  };
}

before(async () => {
  conn = await Connection.open('qemu:///system');
  repoDir = await initPlainRepo();
  scratch = await makeScratchDir('safety');
  dirA = await subdir('a');
  dirB = await subdir('b');
  const kernel = join(dirA, 'vmlinuz');
  await writeFile(kernel, Buffer.alloc(4096, 1));
  await defineVm(vmA, dirA, { password: 'rahasia', kernel });
  await defineVm(vmB, dirB, {});
  idA = await backup(vmA);
  idB = await backup(vmB);
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
    for (const p of cleanup) await rm(p, { recursive: true, force: true });
    if (repoDir) await rm(repoDir, { recursive: true, force: true });
  }
});

describe('restore never escapes its place', () => {
  test('--as ../NAME is a usage error, refused before any disk is written', async () => {
    const escape = `../${testName('escape')}`;
    const r = await cli(['restore', idB, '--as', escape, '--json'], env());
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.equal(JSON.parse(r.stdout).error.code, 'USAGE');
    assert.match(r.stdout, /cannot be the name of a restored VM: it contains '\/'/);

    // The engine refuses it before writing: no progress is ever reported.
    let wrote = false;
    await withRepo((repo) =>
      assert.rejects(
        restoreBackup(conn, repo, idB, { as: escape, onProgress: () => (wrote = true) }),
        rejectsWith('RESTORE_INVALID_NAME'),
      ),
    );
    assert.equal(wrote, false, 'no disk was written');
    assert.equal(existsSync(join(dirB, `${escape}-vda.qcow2`)), false);
  });

  test("a manifest claiming the host's / and another directory is refused before anything is written", async () => {
    const attacker = await mkdtemp(join(tmpdir(), 'brankas-test-attacker-'));
    cleanup.push(attacker);
    const copy = testName('forged');
    domains.push(copy);
    const forge = (m: Manifest): void => {
      m.domainXml = m
        .domainXml!.replace(
          "<domain type='qemu'>",
          "<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>",
        )
        .replace(
          '</devices>',
          "<filesystem type='mount' accessmode='passthrough'><source dir='/'/><target dir='hostroot'/></filesystem></devices>" +
            "<qemu:commandline><qemu:arg value='-set'/></qemu:commandline>",
        );
      const vda = m.disks.find((d) => d.name === 'vda')!;
      vda.formatOptions = { ...vda.formatOptions, source: join(attacker, 'vda.qcow2') };
    };
    const diskA = join(dirA, 'vda.qcow2');
    const before = await readFile(diskA);
    await withRepo(async (repo) => {
      const fake = forged(repo, idA, forge);
      const refused = await restoreBackup(conn, fake, idA, { as: copy }).catch((e: unknown) => e);
      assert.ok(refused instanceof EngineError, String(refused));
      assert.equal(refused.code, 'RESTORE_HOST_ACCESS');
      assert.doesNotMatch(refused.message, /\n/);
      const parts = refused.details['hostAccess'] as {
        kind: string;
        where: string;
        value: string;
      }[];
      assert.deepEqual(
        parts.map((p) => (p.kind === 'write' ? `write ${p.value}` : p.where)),
        [
          'devices/filesystem',
          'qemu:commandline',
          `write ${join(attacker, `${copy}-vda.qcow2`)}`,
          // The copy's console socket would go beside its disk.
          `write ${join(attacker, `${copy}.console.sock`)}`,
        ],
      );
      assert.match(refused.details['xml'] as string, /<filesystem/);
      assert.doesNotMatch(refused.details['xml'] as string, /rahasia/, 'no password shown');
      assert.deepEqual(await readdir(attacker), [], 'nothing written where the manifest said');
      assert.equal(await lookup(copy), undefined, 'nothing defined');

      // A dry run shows it all, and writes and defines nothing either.
      const plan = await restoreBackup(conn, fake, idA, { as: copy, dryRun: true });
      assert.equal(plan.dryRun, true);
      assert.equal(plan.hostAccess.length, 4);
      assert.match(plan.xml, /<filesystem/);
      assert.deepEqual(await readdir(attacker), []);
      assert.equal(await lookup(copy), undefined);

      // Over the VM itself, the same: its disk stays as it was.
      await assert.rejects(
        restoreBackup(conn, fake, idA, { force: true }),
        rejectsWith('RESTORE_HOST_ACCESS'),
      );
      assert.ok((await readFile(diskA)).equals(before), "the VM's disk is untouched");

      // Asked for, it is granted, and said.
      const granted = await restoreBackup(conn, fake, idA, { as: copy, allowHostAccess: true });
      assert.deepEqual(
        granted.hostAccess.map((p) => p.kind),
        ['device', 'device', 'write', 'write'],
      );
      assert.match(await (await conn.lookupDomain(copy)).xml(), /<filesystem/);
    });
  });

  test('a boot file keeps its permission bits but never a set-user-ID bit a manifest claims', async () => {
    const out = await subdir('mode');
    await withRepo(async (repo) => {
      const fake = forged(repo, idA, (m) => {
        const kernel = m.disks.find((d) => d.name === 'boot-kernel')!;
        kernel.formatOptions = { ...kernel.formatOptions, mode: 0o4755 };
      });
      const r = await restoreBackup(conn, fake, idA, {
        as: testName('mode'),
        toDir: out,
        filesOnly: true,
      });
      assert.deepEqual(
        r.bootFiles.map((b) => b.kind),
        ['kernel'],
      );
      assert.equal((await stat(join(out, 'vmlinuz'))).mode & 0o7777, 0o755);
    });
  });
});

describe('restore never opens a console', () => {
  test("a copy's console keeps the password of the VM it comes from, which is never shown", async () => {
    const copy = testName('pw-kept');
    domains.push(copy);
    const out = await subdir('pw-kept');
    const r = await cli(['restore', idA, '--as', copy, '--to', out, '--json'], env());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).graphics, [{ type: 'vnc', action: 'password-kept' }]);
    assert.doesNotMatch(r.stdout, /rahasia/);
    const xml = await (await conn.lookupDomain(copy)).xml(DomainXml.INACTIVE | DomainXml.SECURE);
    assert.match(xml, /<graphics type='vnc'[^>]* passwd='rahasia'/);
  });

  test('a console without a password listens on a local unix socket only, and the restore says so', async () => {
    const copy = testName('sock');
    domains.push(copy);
    const out = await subdir('sock');
    const r = await cli(['restore', idB, '--as', copy, '--to', out], env());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /The vnc console listens on a local unix socket only/);
    const xml = await (await conn.lookupDomain(copy)).xml(DomainXml.INACTIVE | DomainXml.SECURE);
    const graphics = /<graphics[\s\S]*?<\/graphics>|<graphics[^>]*\/>/.exec(xml)![0];
    assert.match(graphics, /<listen type='socket'/);
    assert.doesNotMatch(graphics, /127\.0\.0\.1|port=/);
  });

  test('with --graphics-password-file the console keeps listening, with that password', async () => {
    const copy = testName('pw-set');
    domains.push(copy);
    const out = await subdir('pw-set');
    const file = join(out, 'password');
    await writeFile(file, 'baru1234\n');
    const r = await cli(
      ['restore', idB, '--as', copy, '--to', out, '--graphics-password-file', file, '--json'],
      env(),
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).graphics, [{ type: 'vnc', action: 'password-set' }]);
    assert.doesNotMatch(r.stdout, /baru1234/);
    const xml = await (await conn.lookupDomain(copy)).xml(DomainXml.INACTIVE | DomainXml.SECURE);
    assert.match(xml, /passwd='baru1234'/);
    assert.match(xml, /listen='127\.0\.0\.1'/);
  });
});

describe('restore --dry-run', () => {
  test('shows the files, the console decision and the XML it would define, and does nothing', async () => {
    const copy = testName('dry');
    domains.push(copy);
    const out = await subdir('dry');
    const r = await cli(['restore', idB, '--as', copy, '--to', out, '--dry-run'], env());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /^Would restore backup .* \(dry run: nothing is written or defined\):$/m,
    );
    assert.match(r.stdout, new RegExp(`vda -> ${out}/${copy}-vda\\.qcow2`));
    assert.match(r.stdout, /The vnc console listens on a local unix socket only/);
    assert.match(r.stdout, /The domain XML it would define:\n<domain/);
    assert.match(r.stdout, /<listen type="socket"\/>/);
    assert.deepEqual(await readdir(out), []);
    assert.equal(await lookup(copy), undefined);
  });
});

describe('restore leaves nothing behind', () => {
  test("a killed restore's partial image beside the target is removed by the next restore there", async () => {
    const copy = testName('leftover');
    domains.push(copy);
    const out = await subdir('leftover');
    const dead = await new Promise<number>((resolve, reject) => {
      const child = execFile(process.execPath, ['-e', '']);
      child.on('error', reject);
      child.on('exit', () => resolve(child.pid!));
    });
    const partial = join(out, `.${copy}-vda.qcow2.brankas-new-${dead}-0123abcd`);
    await writeFile(partial, 'half a disk');
    const r = await cli(['restore', idB, '--as', copy, '--to', out, '--json'], env());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).cleanedLeftovers, [partial]);
    assert.deepEqual(await readdir(out), [`${copy}-vda.qcow2`]);
  });

  test('a failed restore removes the --to directories it created', async () => {
    const made = join(scratch.path, 'made-by-restore');
    const signal = AbortSignal.abort();
    await withRepo(async (repo) => {
      await assert.rejects(
        restoreBackup(conn, repo, idB, {
          as: testName('failed'),
          toDir: join(made, 'deeper'),
          signal,
        }),
      );
      assert.equal(existsSync(made), false, 'the directories it made are gone');
      await assert.rejects(
        restoreDisk(repo, idB, 'vda', join(made, 'one', 'vda.qcow2'), { signal }),
      );
      assert.equal(existsSync(made), false, 'and those of a one-disk restore');
    });
  });
});

describe('file system errors at paths the user named are one-line errors', () => {
  test('--disk --to FILE/f.qcow2, --to FILE and verify --scratch FILE say ENOTDIR, without a trace; verify records nothing', async () => {
    const file = join(scratch.path, 'a-file');
    await writeFile(file, 'not a directory');
    const cases = [
      ['restore', idB, '--disk', 'vda', '--to', join(file, 'f.qcow2')],
      ['restore', idB, '--as', testName('notdir'), '--to', file],
      ['verify', idB, '--boot', '--scratch', file],
    ];
    for (const args of cases) {
      const text = await cli(args, env());
      assert.equal(text.code, 1, `${args.join(' ')}: ${text.stderr}`);
      // One error line (verify notes its steps before it), and no stack trace.
      const errors = text.stderr.split('\n').filter((l) => l.startsWith('error:'));
      assert.equal(errors.length, 1, text.stderr);
      assert.match(errors[0]!, /ENOTDIR/);
      assert.doesNotMatch(text.stderr, /^\s+at /m);
      const json = await cli([...args, '--json'], env());
      assert.equal(JSON.parse(json.stdout).error.code, 'RESTORE_PATH_UNUSABLE', json.stdout);
    }
    const id = await cli([...cases[1]!, '--lang', 'id'], env());
    assert.match(id.stderr, /tidak bisa dipakai/);
    // A scratch directory too small for the test: the same, said as RESTORE_NO_SPACE.
    const small = await subdir('small');
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1M,mode=1777', 'brankas-test', small]);
    mounts.push(small);
    const full = await cli(['verify', idB, '--boot', '--scratch', small, '--json'], env());
    assert.equal(full.code, 1);
    assert.equal(JSON.parse(full.stdout).error.code, 'RESTORE_NO_SPACE', full.stdout);
    // The test could not run: that says nothing about the backup, and nothing is recorded.
    const listed = JSON.parse((await cli(['backups', vmB, '--json'], env())).stdout).backups;
    assert.equal(listed.find((b: { id: string }) => b.id === idB).verify, null);
  });
});
