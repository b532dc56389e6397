/**
 * What libvirt 9.0 and QEMU 7.2 allow when snapshots and checkpoints (the
 * dirty bitmaps of live backups) meet on one qcow2 VM, recorded as facts the
 * code relies on (docs/live-backups.md, "Snapshots and backups together").
 * Each test fails if the platform changes its answer. One real tiny guest,
 * driven through brankas's own libvirt client; qemu-img is the witness for
 * what the image file holds.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  CheckpointXml,
  Connection,
  DomainCreate,
  SnapshotCreate,
  type Domain,
} from '../src/libvirt/index.js';
import { LiveExport } from '../src/engine/backup/live/export.js';
import { TinyGuest } from '../src/engine/guest/tiny-guest.js';
import { vmStatus } from '../src/engine/status.js';
import { testName } from './support/guest.js';

const run = promisify(execFile);

let conn: Connection;
let guest: TinyGuest;
let vm: Domain;
let image: string;

/** The persistent bitmaps in the qcow2 file, as qemu-img sees them: name -> flags. */
async function bitmaps(): Promise<Record<string, string[]>> {
  const { stdout } = await run('qemu-img', ['info', '-U', '--output=json', image]);
  const info = JSON.parse(stdout) as {
    'format-specific': { data: { bitmaps?: { name: string; flags: string[] }[] } };
  };
  return Object.fromEntries(
    (info['format-specific'].data.bitmaps ?? []).map((b) => [b.name, b.flags]),
  );
}

async function checkpoint(name: string): Promise<void> {
  await vm.createCheckpoint(
    `<domaincheckpoint><name>${name}</name><disks><disk name='vda' checkpoint='bitmap'/></disks></domaincheckpoint>`,
  );
}

async function deleteCheckpoints(): Promise<void> {
  for (const c of (await vm.listCheckpoints()).reverse()) await c.delete();
}

async function snapshot(name: string, flags = 0, xml = ''): Promise<void> {
  await vm.createSnapshot(`<domainsnapshot><name>${name}</name>${xml}</domainsnapshot>`, flags, {
    timeoutMs: 600_000,
  });
}

async function revert(name: string): Promise<void> {
  await (await vm.lookupSnapshot(name)).revert(0, 300_000);
}

before(async () => {
  conn = await Connection.open('qemu:///system');
  guest = await TinyGuest.launch(conn, { name: testName('snapcp-facts') });
  vm = guest.domain;
  image = join(guest.dir, 'vda.qcow2');
});

after(async () => {
  try {
    await guest?.dispose();
  } finally {
    await conn?.close();
  }
});

describe('snapshots and checkpoints on libvirt 9.0 / QEMU 7.2', () => {
  test('a running VM with a checkpoint takes and deletes internal snapshots', async () => {
    await checkpoint('c1');
    await snapshot('s1');
    await checkpoint('c2');
    await (await vm.lookupSnapshot('s1')).delete();
    // (A running QEMU writes its bitmaps into the file when it closes it: libvirt is asked.)
    assert.deepEqual((await vm.listCheckpoints()).map((c) => c.name).sort(), ['c1', 'c2']);
    await deleteCheckpoints();
  });

  test('a live backup, full and incremental, runs while an internal snapshot exists', async () => {
    await snapshot('s2');
    await snapshot('s3');
    const full = await LiveExport.begin(vm, {
      disks: [{ target: 'vda' }],
      checkpoint: { name: 'b1', description: 'fact', bitmapDisks: ['vda'] },
    });
    await full.end();
    const inc = await LiveExport.begin(vm, {
      disks: [{ target: 'vda', incremental: 'b1' }],
      checkpoint: { name: 'b2', description: 'fact', bitmapDisks: ['vda'] },
    });
    try {
      // A revert is refused at once while the backup job runs.
      await assert.rejects(revert('s2'), /domain has active block job/);
    } finally {
      await inc.end();
    }
    assert.equal((await vm.state()).state, 'running');
  });

  test('a revert with a checkpoint fails in QEMU and leaves the VM shut off, its bitmaps in use', async () => {
    await assert.rejects(revert('s2'), /Device has active dirty bitmaps/);
    assert.equal((await vm.state()).state, 'shutoff');
    const b = await bitmaps();
    assert.deepEqual(Object.keys(b).sort(), ['b1', 'b2']);
    assert.ok(b['b2']!.includes('in-use'), JSON.stringify(b));
  });

  test('QEMU refuses to load any internal snapshot while the image holds a dirty bitmap', async () => {
    // Why a surviving bitmap proves that no internal snapshot was loaded since it began.
    // On a copy: the VM's own file is left alone.
    const copy = `${image}.copy`;
    try {
      await run('cp', [image, copy]);
      await assert.rejects(
        run('qemu-img', ['snapshot', '-a', 's2', copy]),
        /Device has active dirty bitmaps/,
      );
    } finally {
      await rm(copy, { force: true });
    }
  });

  test('a shut-off VM with checkpoints: no checkpoint delete, no snapshot create or revert; a snapshot delete, yes', async () => {
    const [c] = await vm.listCheckpoints();
    await assert.rejects(c!.delete(), /cannot delete checkpoint for inactive domain/);
    await assert.rejects(
      snapshot('offline'),
      /cannot perform block operations while checkpoint exists/,
    );
    await assert.rejects(revert('s2'));
    assert.equal((await vm.state()).state, 'shutoff');
    // Deleting an internal snapshot is allowed, though.
    await (await vm.lookupSnapshot('s3')).delete();
    assert.deepEqual(
      (await vm.listSnapshots()).map((s) => s.name),
      ['s2'],
    );
  });

  test('started paused, its checkpoints delete with their bitmaps, and then the revert works', async () => {
    await vm.start(DomainCreate.PAUSED);
    await deleteCheckpoints();
    await vm.destroy();
    assert.deepEqual(await bitmaps(), {});
    await revert('s2');
    assert.equal((await vm.state()).state, 'running');
    await guest.reattach();
  });

  test('checkpoints deleted while the VM runs: the revert works', async () => {
    await checkpoint('c3');
    await deleteCheckpoints();
    await revert('s2');
    assert.equal((await vm.state()).state, 'running');
    await guest.reattach();
  });

  test('an external disk-only snapshot keeps the checkpoint usable; its revert is unsupported, and status says so', async () => {
    await checkpoint('c4');
    await snapshot(
      'ext1',
      SnapshotCreate.DISK_ONLY | SnapshotCreate.ATOMIC,
      `<disks><disk name='vda' snapshot='external'><source file='${join(guest.dir, 'ext1.qcow2')}'/></disk></disks>`,
    );
    const xml = await (await vm.lookupCheckpoint('c4')).xml(CheckpointXml.SIZE);
    assert.match(xml, /bitmap='c4' size='\d+'/);
    await assert.rejects(revert('ext1'), /revert to external snapshot not supported/);
    // brankas status says so before anyone tries.
    const status = await vmStatus(vm);
    assert.deepEqual(
      status.warnings.find((w) => w.kind === 'external-snapshots'),
      { kind: 'external-snapshots', vm: vm.name, snapshots: ['ext1'] },
    );
    assert.equal((await vm.state()).state, 'running');
    await deleteCheckpoints();
  });
});
