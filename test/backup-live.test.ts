/**
 * Live backups end to end on a real running TCG guest with a qcow2 disk (vda,
 * ext4 at /data) and a raw one (vdb): a full live backup while the VM keeps
 * running; an incremental that reads only what changed and restores byte for
 * byte as of its backup point (the VM paused, compared with qemu-img compare
 * against the live disks); and every case where a bitmap must not be trusted
 * (checkpoint deleted by hand, disk resized, parent backup pruned, parent
 * index damaged, unclean stop), each read whole with its reason, the line going on afterwards. The
 * VM stopping under a running job is a clear error; --mode live on a
 * shut-off VM is refused in English and Indonesian.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isNotFound, type Connection, type Domain } from '../src/libvirt/index.js';
import { LiveExport } from '../src/engine/backup/live/export.js';
import { liveBackup as liveBackupOf } from '../src/engine/backup/live/live.js';
import { LocalBackend, Repository } from '../src/repo/index.js';
import {
  ensureGuestImages,
  guestDomainXml,
  READY_MARKER,
  SerialConsole,
  testName,
  type ScratchDir,
} from './support/guest.js';
import { cli } from './support/cli.js';
import { defineGuestLab, removeDomain, type GuestLab } from './support/guest-lab.js';

const run = promisify(execFile);
const MiB = 1 << 20;

let lab: GuestLab | undefined;
let conn: Connection;
let repoDir: string;
let scratch: ScratchDir;
let vm: Domain;
let serial: SerialConsole;
let vda: string;
let vdb: string;
const other: string[] = [];
const env = (): NodeJS.ProcessEnv => ({ BRANKAS_REPO: repoDir });

interface DiskReport {
  target: string;
  read: 'incremental' | 'full';
  reason: string;
  readBytes: number;
  dirtyBytes: number | null;
}
interface LiveResult {
  mode: string;
  consistency: string;
  consistencyReason: string | null;
  checkpoint: string;
  parent: string | null;
  parentCheckpoint: string | null;
  disks: DiskReport[];
  deletedCheckpoints: string[];
  manifest: { id: string };
}

async function liveBackup(): Promise<LiveResult> {
  const r = await cli(['backup', vm.name, '--json'], env());
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const result = JSON.parse(r.stdout) as LiveResult;
  assert.equal(result.mode, 'live');
  return result;
}

function disk(r: LiveResult, target: string): DiskReport {
  return r.disks.find((d) => d.target === target)!;
}

async function checkpoints(): Promise<string[]> {
  return (await vm.listCheckpoints()).map((c) => c.name).sort();
}

async function boot(): Promise<void> {
  await vm.start();
  serial = await SerialConsole.connect(join(scratch.path, 'console.sock'), { timeoutMs: 10_000 });
  await serial.waitFor(READY_MARKER, 120_000);
}

/** Writes `mib` MiB of fresh random data to /data/<name> and to vdb at `vdbMiB`, synced. */
async function write(name: string, mib: number, vdbMiB: number): Promise<void> {
  await serial.run(
    `dd if=/dev/urandom of=/data/${name} bs=1M count=${mib} 2>/dev/null; ` +
      `dd if=/dev/urandom of=/dev/vdb bs=1M seek=${vdbMiB} count=1 conv=notrunc 2>/dev/null; sync`,
    60_000,
  );
}

async function qemuImgCompare(a: string, fa: string, b: string, fb: string): Promise<void> {
  await run('qemu-img', ['compare', '-U', '-f', fa, '-F', fb, a, b]);
}

before(async () => {
  lab = await defineGuestLab('live', {
    moreDisks: async (scratch) => {
      vdb = join(scratch.path, 'vdb.raw');
      await writeFile(vdb, '');
      await truncate(vdb, 16 * MiB);
      return [{ path: vdb, format: 'raw', target: 'vdb' }];
    },
  });
  ({ conn, repoDir, scratch, vm, vda } = lab);
  await boot();
});

after(async () => {
  try {
    serial?.close();
    for (const name of other) {
      const d = await conn.lookupDomain(name).catch((e: unknown) => {
        if (isNotFound(e)) return undefined;
        throw e;
      });
      if (d) await removeDomain(d);
    }
  } finally {
    await lab?.remove();
  }
});

describe('live backup', () => {
  let first: LiveResult;

  test('a running VM is backed up without stopping; a raw disk is read whole and says why', async () => {
    await write('a', 8, 0);
    const id = (await conn.lookupDomain(vm.name)).id;
    first = await liveBackup();
    assert.equal(first.consistency, 'crash-consistent');
    assert.equal(first.consistencyReason, 'no-agent-channel');
    assert.match(first.checkpoint, /^brankas-[0-9a-f]{8}-1$/);
    assert.deepEqual(
      first.disks.map((d) => [d.target, d.read, d.reason]),
      [
        ['vda', 'full', 'first'],
        ['vdb', 'full', 'raw-no-bitmap'],
      ],
    );
    assert.ok(disk(first, 'vda').readBytes >= 8 * MiB, String(disk(first, 'vda').readBytes));
    // The same QEMU process all along: never stopped or restarted.
    const after = await conn.lookupDomain(vm.name);
    assert.equal(after.id, id);
    assert.equal((await vm.state()).state, 'running');
    assert.deepEqual(await checkpoints(), [first.checkpoint]);
    assert.equal(await serial.run('echo alive'), 'alive\n');
  });

  test('an incremental reads only what changed and restores byte for byte as of its backup point', async () => {
    await write('b', 1, 4);
    // Paused: the disks stay as they are at the backup point, to compare the restore with.
    await vm.suspend();
    try {
      const r = await liveBackup();
      assert.equal(r.parent, first.manifest.id);
      assert.equal(r.parentCheckpoint, first.checkpoint);
      const a = disk(r, 'vda');
      assert.equal(a.read, 'incremental');
      assert.equal(a.reason, 'incremental');
      assert.ok(a.dirtyBytes! >= MiB, `dirty ${a.dirtyBytes}`);
      // Only the dirty ranges, rounded out to 256 KiB chunks, came over the export.
      assert.ok(a.readBytes >= MiB && a.readBytes < 3 * MiB, `read ${a.readBytes}`);
      assert.ok(a.readBytes < disk(first, 'vda').readBytes / 3);
      assert.equal(disk(r, 'vdb').read, 'full');
      assert.equal(disk(r, 'vdb').reason, 'raw-no-bitmap');
      assert.deepEqual(r.deletedCheckpoints, [first.checkpoint]);
      assert.deepEqual(await checkpoints(), [r.checkpoint]);

      for (const [name, path, format] of [
        ['vda', vda, 'qcow2'],
        ['vdb', vdb, 'raw'],
      ] as const) {
        const to = join(scratch.path, `restored-${name}.${format}`);
        const res = await cli(
          ['restore', r.manifest.id, '--disk', name, '--to', to, '--format', format, '--json'],
          env(),
        );
        assert.equal(res.code, 0, res.stdout + res.stderr);
        await qemuImgCompare(to, format, path, format);
      }
      const listed = await cli(['backups', vm.name, '--json'], env());
      const rows = JSON.parse(listed.stdout).backups as {
        id: string;
        mode: string;
        consistency: string;
        live: { disks: Record<string, { read: string; reason: string }> };
      }[];
      const row = rows.find((b) => b.id === r.manifest.id)!;
      assert.equal(row.mode, 'live');
      assert.equal(row.consistency, 'crash-consistent');
      assert.equal(row.live.disks['vda']!.read, 'incremental');
      const text = await cli(['backups', vm.name], env());
      assert.match(
        text.stdout,
        /live\s+crash-consistent\s+vda incremental, vdb full \(raw-no-bitmap\)/,
      );
    } finally {
      await vm.resume();
    }
  });

  test('the text output says what was read and why', async () => {
    await write('c', 1, 5);
    const r = await cli(['backup', vm.name], env());
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /crash-consistent \(what a power cut would leave/);
    assert.match(r.stdout, /vda: incremental since checkpoint brankas-[0-9a-f]{8}-2: /);
    assert.match(r.stdout, /vdb: read whole \(a raw image: libvirt keeps no dirty bitmaps/);
    const id = await cli(['backup', vm.name, '--lang', 'id'], env());
    assert.match(id.stdout, /vda: inkremental sejak checkpoint/);
  });

  test('a checkpoint deleted by hand: the disk is read whole with the reason, then the line goes on', async () => {
    const [cp] = await checkpoints();
    await (await vm.lookupCheckpoint(cp!)).delete();
    await write('d', 1, 6);
    const r = await liveBackup();
    assert.equal(disk(r, 'vda').read, 'full');
    assert.equal(disk(r, 'vda').reason, 'checkpoint-missing');
    assert.deepEqual(await checkpoints(), [r.checkpoint]);
    await write('e', 1, 7);
    const next = await liveBackup();
    assert.equal(disk(next, 'vda').read, 'incremental');
    assert.equal(next.parent, r.manifest.id);
  });

  test('a resized disk is read whole with the reason', async () => {
    await vm.blockResize('vda', 96 * MiB);
    const r = await liveBackup();
    assert.equal(disk(r, 'vda').read, 'full');
    assert.equal(disk(r, 'vda').reason, 'resized');
    const next = await liveBackup();
    assert.equal(disk(next, 'vda').read, 'incremental');
  });

  test('a pruned parent: the line falls back to a whole read', async () => {
    const listed = await cli(['backups', vm.name, '--json'], env());
    const ids = (JSON.parse(listed.stdout).backups as { id: string }[]).map((b) => b.id);
    // The latest backup is gone from the repository; its checkpoint still stands on the VM,
    // the one of the backup now latest does not.
    await rm(join(repoDir, 'backups', ids.at(-1)!), { recursive: true });
    const r = await liveBackup();
    assert.equal(disk(r, 'vda').read, 'full');
    assert.equal(disk(r, 'vda').reason, 'checkpoint-missing');
    assert.notEqual(r.parent, ids.at(-1));
  });

  test('a damaged parent index: that disk is read whole, and the line goes on', async () => {
    const listed = await cli(['backups', vm.name, '--json'], env());
    const id = (JSON.parse(listed.stdout).backups as { id: string }[]).at(-1)!.id;
    const fidx = join(repoDir, 'backups', id, 'vda.fidx');
    const bytes = await readFile(fidx);
    bytes[bytes.length >> 1]! ^= 0xff;
    await writeFile(fidx, bytes);
    const r = await liveBackup();
    assert.equal(r.parent, id);
    assert.deepEqual(
      [disk(r, 'vda').read, disk(r, 'vda').reason],
      ['full', 'parent-index-unreadable'],
    );
    const next = await liveBackup();
    assert.equal(disk(next, 'vda').read, 'incremental');
  });

  test('an interrupted live backup records nothing, ends the job and keeps the line', async () => {
    const before = await checkpoints();
    const count = async (): Promise<number> =>
      JSON.parse((await cli(['backups', vm.name, '--json'], env())).stdout).backups.length;
    const n = await count();
    const repo = await Repository.open(new LocalBackend(repoDir));
    try {
      const ac = new AbortController();
      await assert.rejects(
        liveBackupOf(conn, repo, vm.name, { signal: ac.signal, onProgress: () => ac.abort() }),
        (err: Error) => ac.signal.aborted && err === ac.signal.reason,
      );
    } finally {
      await repo.close();
    }
    assert.equal(await count(), n);
    assert.deepEqual(await checkpoints(), before);
    assert.equal((await vm.jobInfo()).type, 0);
    assert.equal((await vm.state()).state, 'running');
    await write('g', 1, 9);
    const next = await liveBackup();
    assert.equal(disk(next, 'vda').read, 'incremental');
  });

  test('a live backup lists the repository once: its line parent and the latest backup come from one reading of the manifests', async () => {
    const repo = await Repository.open(new LocalBackend(repoDir));
    const listBackups = repo.listBackups.bind(repo);
    let listings = 0;
    repo.listBackups = () => (listings++, listBackups());
    try {
      // Read whole (no incremental disk): the writer's parent is then the latest backup.
      const r = await liveBackupOf(conn, repo, vm.name, { reread: true });
      assert.ok(r.parent !== null);
      assert.ok(r.disks.every((d) => d.reason === 'reread' || d.reason === 'raw-no-bitmap'));
    } finally {
      await repo.close();
    }
    assert.equal(listings, 1);
  });

  test('the VM stopping under a running job is a clear error', async () => {
    const ex = await LiveExport.begin(vm, { disks: [{ target: 'vda' }], checkpoint: null });
    try {
      const reader = await ex.open('vda');
      try {
        // QEMU killed outright, as by the OOM killer: it cannot store its bitmaps either.
        const pid = Number(await readFile(`/run/libvirt/qemu/${vm.name}.pid`, 'utf8'));
        process.kill(pid, 'SIGKILL');
        if (!ex.signal.aborted) await once(ex.signal, 'abort');
        const src = ex.source(reader);
        await assert.rejects(src.read(0, 65536), { code: 'BACKUP_LIVE_VM_STOPPED' });
      } finally {
        await reader.close();
      }
    } finally {
      await ex.end();
    }
  });

  test('after an unclean stop the bitmap is not trusted: read whole, and the line goes on', async (t) => {
    // The previous test killed QEMU: the bitmaps were left in use in the qcow2 file.
    serial.close();
    assert.equal((await vm.state()).state, 'shutoff');
    await boot();
    const r = await liveBackup();
    t.diagnostic(`vda read ${disk(r, 'vda').read}: ${disk(r, 'vda').reason}`);
    assert.equal(disk(r, 'vda').read, 'full');
    // libvirt sizes the inconsistent bitmap without complaint, then refuses it at BackupBegin:
    // the retry reads the disk whole.
    assert.equal(disk(r, 'vda').reason, 'bitmap-refused');
    await write('f', 1, 8);
    const next = await liveBackup();
    assert.equal(disk(next, 'vda').read, 'incremental');
  });

  test('--mode live on a shut-off VM is refused, in English and Indonesian', async () => {
    const images = await ensureGuestImages();
    const name = testName('live-off');
    other.push(name);
    await conn.defineDomain(
      guestDomainXml({
        name,
        kernel: images.kernel,
        initrd: images.initrd,
        disks: [{ path: vda, format: 'qcow2', target: 'vda' }],
        serialSocket: join(scratch.path, 'off.sock'),
      }),
    );
    const en = await cli(['backup', name, '--mode', 'live'], env());
    assert.equal(en.code, 1);
    assert.match(en.stderr, new RegExp(`VM '${name}' is shutoff: a live backup needs it running`));
    assert.doesNotMatch(en.stderr, /\n\s+at /);
    const id = await cli(['backup', name, '--mode', 'live', '--lang', 'id'], env());
    assert.equal(id.code, 1);
    assert.match(id.stderr, /live backup butuh VM yang berjalan/);
    const json = await cli(['backup', name, '--mode', 'live', '--json'], env());
    assert.equal(JSON.parse(json.stdout).error.code, 'BACKUP_LIVE_NOT_RUNNING');
    const bad = await cli(['backup', name, '--mode', 'warm'], env());
    assert.equal(bad.code, 2);
  });
});
