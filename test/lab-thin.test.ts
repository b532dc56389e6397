/**
 * The seed's Experiment 2 as a lab, end to end against the real libvirtd,
 * qemu-io and the native image readers: sizes before and after writing, in
 * English and Indonesian, in a temporary pool or one of our own, and the
 * clean-up after a failure and after SIGINT. The lab's temporary pools live
 * in a brankas-test-* scratch directory (--dir), so nothing escapes it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Connection, type StoragePool } from '../src/libvirt/index.js';
import { ThinProvisioningLab, type ThinStep } from '../src/engine/lab/thin-provisioning.js';
import { makeScratchDir, type ScratchDir } from './support/guest.js';
import { cli } from './support/cli.js';
import { BRANKAS_MAIN } from './support/main-path.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

interface Sizes {
  kind: string;
  name: string;
  virtualSize: number;
  apparentSize: number;
  allocatedSize: number;
  backupReads: number;
}

let conn: Connection;
let scratch: ScratchDir;
before(async () => {
  conn = await Connection.open('qemu:///system');
  scratch = await makeScratchDir('lab-thin');
});
after(async () => {
  await conn?.close();
  await scratch?.remove();
});

async function poolNames(): Promise<string[]> {
  return (await conn.listStoragePools()).map((p) => p.name);
}

describe('lab thin-provisioning', () => {
  test('measures qcow2, reserved raw and sparse raw before and after writing 100 MiB, then removes everything', async () => {
    const r = await cli(['lab', 'thin-provisioning', '--dir', scratch.path, '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const result = JSON.parse(r.stdout);
    assert.equal(result.temporaryPool, true);
    assert.equal(result.writer, 'qemu-io');
    type Kind = 'qcow2' | 'raw-reserved' | 'raw-sparse';
    const byKind = (list: Sizes[]) =>
      Object.fromEntries(list.map((v) => [v.kind, v])) as Record<Kind, Sizes>;
    const empty = byKind(result.empty);
    const written = byKind(result.written);
    assert.deepEqual(Object.keys(empty).sort(), ['qcow2', 'raw-reserved', 'raw-sparse']);
    for (const v of result.empty as Sizes[]) assert.equal(v.virtualSize, 10 * GiB);

    // Empty: qcow2 is small to ls -l; both raw files are 10 GiB to ls -l...
    assert.ok(empty['qcow2'].apparentSize < MiB, 'ls -l of an empty qcow2 is tiny');
    assert.equal(empty['raw-sparse'].apparentSize, 10 * GiB);
    assert.equal(empty['raw-reserved'].apparentSize, 10 * GiB);
    // ...but only the one made like virsh vol-create-as (no --allocation 0) takes it on the host.
    assert.ok(empty['raw-sparse'].allocatedSize < MiB, 'du of a sparse raw file is tiny');
    assert.ok(empty['raw-reserved'].allocatedSize >= 10 * GiB, 'du of a reserved raw file');
    // A backup reads (next to) nothing from any of them.
    assert.equal(empty['qcow2'].backupReads, 0);
    assert.equal(empty['raw-sparse'].backupReads, 0);
    assert.ok(empty['raw-reserved'].backupReads < MiB);

    for (const v of result.written as Sizes[]) {
      assert.ok(
        v.backupReads >= 100 * MiB && v.backupReads <= 101 * MiB,
        `${v.name}: a backup reads ~100 MiB, not ${v.backupReads}`,
      );
    }
    assert.ok(written['qcow2'].apparentSize < 102 * MiB);
    assert.ok(written['raw-sparse'].allocatedSize < 102 * MiB);

    const steps = result.steps as ThinStep[];
    const ready = steps.find((s) => s.step === 'pool-ready') as { pool: string; dir: string };
    assert.ok(ready.dir.startsWith(scratch.path));
    assert.ok(!existsSync(ready.dir), 'the temporary directory is gone');
    assert.ok(!(await poolNames()).includes(ready.pool), 'the temporary pool is gone');
    const cleaned = steps.at(-1) as { step: string; volumes: string[] };
    assert.equal(cleaned.step, 'cleaned-up');
    assert.deepEqual(cleaned.volumes.sort(), ['disk1.qcow2', 'disk2.raw', 'disk3.raw']);
  });

  test('speaks Indonesian with the tutorial terms, and says what the tutorial gets half right', async () => {
    const r = await cli(['lab', 'thin-provisioning', '--dir', scratch.path, '--lang', 'id']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Eksperimen 2: Membandingkan Ukuran Backup/);
    assert.match(r.stdout, /Hipotesis: Backup file qcow2 lebih efisien/);
    assert.match(r.stdout, /thin provisioning/);
    assert.match(r.stdout, /ukuran file sebenarnya/);
    assert.match(r.stdout, /setengah benar/);
    assert.match(r.stdout, /virsh vol-create-as \S+ disk1\.qcow2 10G --format qcow2/);
    assert.match(r.stdout, /qemu-io -f raw -c "write -P 0x5a 0 100M"/);
    const en = await cli(['lab', 'thin-provisioning', '--dir', scratch.path]);
    assert.equal(en.code, 0, en.stderr);
    assert.match(en.stdout, /half right: ls -l shows a file's apparent size/);
    assert.match(en.stdout, /disk3\.raw\s+10\.0 GiB\s+10\.0 GiB\s+0 B\s+0 B/);
    assert.deepEqual(readdirSync(scratch.path), []);
  });

  test('with --pool, uses that pool under unique names and leaves what was there alone', async () => {
    const dir = join(scratch.path, 'own-pool');
    mkdirSync(dir);
    let pool: StoragePool | undefined;
    try {
      pool = await conn.createStoragePool(
        `<pool type='dir'><name>${scratch.name}-pool</name><target><path>${dir}</path></target></pool>`,
      );
      await pool.createVolume(
        "<volume><name>disk1.qcow2</name><capacity unit='M'>1</capacity><target><format type='qcow2'/></target></volume>",
      );
      const r = await cli(['lab', 'thin-provisioning', '--pool', pool.name, '--json']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const result = JSON.parse(r.stdout);
      assert.equal(result.temporaryPool, false);
      for (const v of result.written as Sizes[])
        assert.match(v.name, /^brankas-lab-[0-9a-f]+-disk/);
      assert.deepEqual(
        (await pool.listVolumes()).map((v) => v.name),
        ['disk1.qcow2'],
      );
      assert.ok((await poolNames()).includes(pool.name), 'our pool is still there');

      const missing = await cli([
        'lab',
        'thin-provisioning',
        '--pool',
        'brankas-test-nope',
        '--json',
      ]);
      assert.equal(JSON.parse(missing.stdout).error.code, 'POOL_NOT_FOUND');
    } finally {
      for (const v of (await pool?.listVolumes().catch(() => [])) ?? []) {
        await v.delete().catch(() => undefined);
      }
      await pool?.destroy().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a failing step still removes the volumes, the pool and the directory', async () => {
    const steps: ThinStep[] = [];
    const lab = new ThinProvisioningLab(conn, {
      parentDir: scratch.path,
      qemuIo: join(scratch.path, 'no-such-qemu-io'),
      onStep: (s) => steps.push(s),
    });
    await assert.rejects(lab.run(), { code: 'LAB_TOOL_FAILED' });
    const ready = steps.find((s) => s.step === 'pool-ready') as { pool: string; dir: string };
    assert.ok(!existsSync(ready.dir));
    assert.ok(!(await poolNames()).includes(ready.pool));
    const cleaned = steps.at(-1) as { step: string; volumes: string[] };
    assert.equal(cleaned.volumes.length, 3);
  });

  test('SIGINT in the middle removes everything and exits 130', async () => {
    const child = spawn(
      process.execPath,
      [BRANKAS_MAIN, 'lab', 'thin-provisioning', '--dir', scratch.path],
      { env: { ...process.env, LANG: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!sent && /vol-create-as \S+ disk1\.qcow2/.test(out)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.ok(sent, out);
    assert.equal(code, 130, out);
    const pool = /Storage pool (\S+): temporary, in (\S+)/.exec(out)!;
    assert.ok(!(await poolNames()).includes(pool[1]!), 'the temporary pool is gone');
    assert.ok(!existsSync(pool[2]!), 'the temporary directory is gone');
    assert.deepEqual(readdirSync(scratch.path), []);
  });
});
