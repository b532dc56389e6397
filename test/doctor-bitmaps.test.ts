/**
 * `brankas doctor` and the persistent dirty bitmaps no checkpoint names, on
 * real qcow2 images and a real QEMU: listed, and with --fix removed when
 * brankas made them (from the image file with qemu-img for a shut-off VM,
 * from the running QEMU for a running one), never another tool's nor one a
 * checkpoint names. The running VM is started paused: QEMU holds the image
 * and its bitmaps without the guest having to boot. Witnesses: qemu-img info
 * and virsh qemu-monitor-command.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import {
  CheckpointCreate,
  CheckpointDelete,
  Connection,
  DomainCreate,
  DomainUndefine,
  type Domain,
} from '../src/libvirt/index.js';
import {
  ensureGuestImages,
  guestDomainXml,
  makeScratchDir,
  type ScratchDir,
} from './support/guest.js';
import { cli } from './support/cli.js';

const run = promisify(execFile);
let conn: Connection;
let scratch: ScratchDir;
let domain: Domain | undefined;
let image: string;

/** Bitmap names in the image file (qemu-img info, -U: QEMU may hold it). */
async function fileBitmaps(): Promise<string[]> {
  const { stdout } = await run('qemu-img', ['info', '-U', '--output=json', image]);
  const info = JSON.parse(stdout) as {
    'format-specific'?: { data?: { bitmaps?: { name: string }[] } };
  };
  return (info['format-specific']?.data?.bitmaps ?? []).map((b) => b.name).sort();
}

/** Bitmap names the running QEMU has on the disk. */
async function qemuBitmaps(): Promise<string[]> {
  const { stdout } = await run('virsh', [
    '-c',
    'qemu:///system',
    'qemu-monitor-command',
    scratch.name,
    '{"execute":"query-block"}',
  ]);
  const blocks = (
    JSON.parse(stdout) as {
      return: { inserted?: { file?: string; 'dirty-bitmaps'?: { name: string }[] } }[];
    }
  ).return;
  const disk = blocks.find((b) => b.inserted?.file === image);
  return (disk?.inserted?.['dirty-bitmaps'] ?? []).map((b) => b.name).sort();
}

interface Plan {
  findings: { kind: string; bitmap?: string; running?: boolean; disk?: string; image?: string }[];
  foreignBitmaps: { bitmap: string }[];
}

async function doctor(...more: string[]): Promise<Plan> {
  const r = await cli(['doctor', scratch.name, '--json', ...more]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return JSON.parse(r.stdout) as Plan;
}

const bitmapsFound = (p: Plan): string[] =>
  p.findings.filter((f) => f.kind === 'orphan-bitmap').map((f) => f.bitmap!);

before(async () => {
  conn = await Connection.open('qemu:///system');
  const images = await ensureGuestImages();
  scratch = await makeScratchDir('doctor-bitmaps');
  image = join(scratch.path, 'vda.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', image, '16M']);
  domain = await conn.defineDomain(
    guestDomainXml({
      name: scratch.name,
      kernel: images.kernel,
      initrd: images.initrd,
      disks: [{ path: image, format: 'qcow2', target: 'vda' }],
      serialSocket: join(scratch.path, 'console.sock'),
    }),
  );
  // Named by a checkpoint (as an offline backup leaves it), a killed job's, another tool's.
  for (const name of ['brankas-0badc0de-2', 'brankas-0badc0de-3', 'othertool-7']) {
    await run('qemu-img', ['bitmap', '--add', image, name]);
  }
  await domain.createCheckpoint(
    `<domaincheckpoint><name>brankas-0badc0de-2</name><creationTime>1</creationTime><disks>` +
      `<disk name='vda' checkpoint='bitmap' bitmap='brankas-0badc0de-2'/></disks></domaincheckpoint>`,
    CheckpointCreate.REDEFINE,
  );
});

after(async () => {
  try {
    if (domain && (await domain.isActive().catch(() => false))) await domain.destroy();
    await domain
      ?.undefine(DomainUndefine.SNAPSHOTS_METADATA | DomainUndefine.CHECKPOINTS_METADATA)
      .catch(() => undefined);
    await conn?.close();
  } finally {
    await scratch?.remove();
  }
});

describe('doctor and bitmaps no checkpoint names', () => {
  test('on a shut-off VM doctor lists the bitmap brankas made that no checkpoint names, and --fix removes it from the image only', async () => {
    const plan = await doctor();
    assert.deepEqual(bitmapsFound(plan), ['brankas-0badc0de-3']);
    const f = plan.findings.find((x) => x.kind === 'orphan-bitmap')!;
    assert.equal(f.running, false);
    assert.equal(f.image, image);
    assert.equal(f.disk, 'vda');
    assert.deepEqual(
      plan.foreignBitmaps.map((b) => b.bitmap),
      ['othertool-7'],
    );
    // Listed, not changed.
    assert.deepEqual(await fileBitmaps(), [
      'brankas-0badc0de-2',
      'brankas-0badc0de-3',
      'othertool-7',
    ]);

    await doctor('--fix');
    assert.deepEqual(await fileBitmaps(), ['brankas-0badc0de-2', 'othertool-7']);
    assert.deepEqual(bitmapsFound(await doctor()), []);
  });

  test('on a running VM doctor finds a bitmap left by a checkpoint deleted with --metadata-only in QEMU, and --fix removes it there', async () => {
    await domain!.start(DomainCreate.PAUSED);
    try {
      // A checkpoint made while it runs, its metadata then deleted: the bitmap stays in QEMU.
      const cp = await domain!.createCheckpoint(
        `<domaincheckpoint><name>brankas-0badc0de-5</name><disks>` +
          `<disk name='vda' checkpoint='bitmap'/></disks></domaincheckpoint>`,
      );
      await cp.delete(CheckpointDelete.METADATA_ONLY);
      assert.ok((await qemuBitmaps()).includes('brankas-0badc0de-5'));

      const plan = await doctor();
      assert.deepEqual(bitmapsFound(plan), ['brankas-0badc0de-5']);
      assert.equal(plan.findings.find((x) => x.kind === 'orphan-bitmap')!.running, true);

      await doctor('--fix');
      assert.deepEqual(await qemuBitmaps(), ['brankas-0badc0de-2', 'othertool-7']);
    } finally {
      await domain!.destroy();
    }
    // Nothing of it was stored back into the image when QEMU stopped.
    assert.deepEqual(await fileBitmaps(), ['brankas-0badc0de-2', 'othertool-7']);
  });
});
