/**
 * Offline incremental on a real TCG guest with a qcow2 disk (ext4 at /data):
 * a live backup leaves a checkpoint; the guest writes and shuts down; a cold
 * backup of the shut-off VM reads the bitmap natively, reads about what was
 * written, restores byte for byte, and leaves a checkpoint of its own (an
 * empty bitmap plus a REDEFINEd checkpoint, all libvirt allows on an inactive
 * domain); the VM started again, the next live backup is incremental from the
 * cold one's checkpoint. QEMU killed outright leaves the bitmap in use: the
 * next cold backup reads whole, says why, and the line goes on.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Domain } from '../src/libvirt/index.js';
import { readQcow2Bitmaps } from '../src/image/index.js';
import { READY_MARKER, SerialConsole, type ScratchDir } from './support/guest.js';
import { cli } from './support/cli.js';
import { defineGuestLab, type GuestLab } from './support/guest-lab.js';

const run = promisify(execFile);
const MiB = 1 << 20;

let lab: GuestLab | undefined;
let repoDir: string;
let scratch: ScratchDir;
let vm: Domain;
let serial: SerialConsole | undefined;
let vda: string;
const env = (): NodeJS.ProcessEnv => ({ BRANKAS_REPO: repoDir });

interface DiskReport {
  target: string;
  read: 'incremental' | 'full';
  reason: string;
  readBytes: number;
  dirtyBytes: number | null;
}
interface Result {
  mode: string;
  checkpoint: string | null;
  checkpointError?: string | null;
  parent: string | null;
  parentCheckpoint?: string | null;
  disks: DiskReport[];
  deletedCheckpoints: string[];
  manifest: { id: string; live?: { checkpoint: string; parentCheckpoint: string | null } };
}

async function backup(mode: 'live' | 'cold'): Promise<Result> {
  const r = await cli(['backup', vm.name, '--mode', mode, '--json'], env());
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const result = JSON.parse(r.stdout) as Result;
  assert.equal(result.mode, mode);
  return result;
}

const vdaOf = (r: Result): DiskReport => r.disks.find((d) => d.target === 'vda')!;

async function checkpoints(): Promise<string[]> {
  return (await vm.listCheckpoints()).map((c) => c.name).sort();
}

/** The bitmaps of vda as QEMU itself lists them (the witness to the native reader). */
async function qemuBitmaps(): Promise<{ name: string; flags: string[] }[]> {
  const { stdout } = await run('qemu-img', ['info', '-U', '--output=json', vda]);
  const info = JSON.parse(stdout) as {
    'format-specific'?: { data?: { bitmaps?: { name: string; flags: string[] }[] } };
  };
  return (info['format-specific']?.data?.bitmaps ?? []).map((b) => ({
    name: b.name,
    flags: [...b.flags].sort(),
  }));
}

async function boot(): Promise<void> {
  await vm.start();
  serial = await SerialConsole.connect(join(scratch.path, 'console.sock'), { timeoutMs: 10_000 });
  await serial.waitFor(READY_MARKER, 120_000);
}

/** Shuts the guest down cleanly (ACPI: the guest powers off at once) and waits until it is off. */
async function shutdown(): Promise<void> {
  serial?.close();
  serial = undefined;
  await vm.shutdown();
  const deadline = Date.now() + 180_000;
  while ((await vm.state()).state !== 'shutoff') {
    assert.ok(Date.now() < deadline, 'the guest did not power off within 3 minutes');
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Kills QEMU outright, as the OOM killer would, and waits until libvirt sees the VM off. */
async function kill(): Promise<void> {
  serial?.close();
  serial = undefined;
  const pid = Number(await readFile(`/run/libvirt/qemu/${vm.name}.pid`, 'utf8'));
  process.kill(pid, 'SIGKILL');
  const deadline = Date.now() + 60_000;
  while ((await vm.state()).state !== 'shutoff') {
    assert.ok(Date.now() < deadline, 'libvirt did not see QEMU die within a minute');
    await new Promise((r) => setTimeout(r, 200));
  }
}

before(async () => {
  lab = await defineGuestLab('offline');
  ({ repoDir, scratch, vm, vda } = lab);
  await boot();
});

after(async () => {
  serial?.close();
  await lab?.remove();
});

describe('offline incremental', () => {
  let live: Result;
  let cold: Result;

  test('a cold backup of a shut-off VM reads only what its bitmap marks dirty and restores byte for byte', async (t) => {
    await serial!.run('dd if=/dev/urandom of=/data/base bs=1M count=8 2>/dev/null; sync', 60_000);
    live = await backup('live');
    assert.equal(vdaOf(live).read, 'full');
    await serial!.run(
      'dd if=/dev/urandom of=/data/offline bs=1M count=1 2>/dev/null; sync',
      60_000,
    );
    await shutdown();
    // QEMU stored the live checkpoint's bitmap in the image, consistent.
    assert.deepEqual(await qemuBitmaps(), [{ name: live.checkpoint!, flags: ['auto'] }]);

    cold = await backup('cold');
    assert.equal((await vm.state()).state, 'shutoff', 'a VM found off stays off');
    assert.equal(cold.parent, live.manifest.id);
    const d = vdaOf(cold);
    assert.deepEqual([d.read, d.reason], ['incremental', 'incremental']);
    assert.ok(d.dirtyBytes! >= MiB && d.dirtyBytes! < 4 * MiB, `dirty ${d.dirtyBytes}`);
    assert.ok(d.readBytes >= MiB && d.readBytes < 4 * MiB, `read ${d.readBytes}`);
    t.diagnostic(`live read ${vdaOf(live).readBytes}, cold read ${d.readBytes}`);
    assert.ok(d.readBytes < vdaOf(live).readBytes / 3);

    const to = join(scratch.path, 'restored.qcow2');
    const res = await cli(
      ['restore', cold.manifest.id, '--disk', 'vda', '--to', to, '--format', 'qcow2', '--json'],
      env(),
    );
    assert.equal(res.code, 0, res.stdout + res.stderr);
    await run('qemu-img', ['compare', '-f', 'qcow2', '-F', 'qcow2', to, vda]);
    await rm(to);

    // Left for the next backup: a new empty bitmap and its checkpoint; the old one gone.
    assert.match(cold.checkpoint!, /^brankas-[0-9a-f]{8}-2$/);
    assert.deepEqual(cold.deletedCheckpoints, [live.checkpoint]);
    assert.deepEqual(await checkpoints(), [cold.checkpoint]);
    assert.deepEqual(await qemuBitmaps(), [{ name: cold.checkpoint!, flags: ['auto'] }]);
    const native = await readQcow2Bitmaps(vda);
    assert.deepEqual(
      native.bitmaps.map((b) => [b.name, b.auto, b.inUse]),
      [[cold.checkpoint, true, false]],
    );
  });

  test('a second cold backup with nothing written reads nothing and leaves the image file alone', async () => {
    const before = await stat(vda, { bigint: true });
    const again = await backup('cold');
    assert.equal(again.parent, cold.manifest.id);
    assert.deepEqual([vdaOf(again).read, vdaOf(again).readBytes], ['incremental', 0]);
    // Its data is the parent's: it keeps the parent's checkpoint and bitmap as its own.
    assert.equal(again.checkpoint, cold.checkpoint);
    assert.deepEqual(await checkpoints(), [cold.checkpoint]);
    assert.equal((await stat(vda, { bigint: true })).ctimeNs, before.ctimeNs);
    cold = again;
  });

  test('started again, the next live backup is incremental from the cold backup’s checkpoint', async () => {
    await boot();
    await serial!.run('dd if=/dev/urandom of=/data/after bs=1M count=1 2>/dev/null; sync', 60_000);
    const next = await backup('live');
    assert.equal(next.parent, cold.manifest.id);
    assert.equal(next.parentCheckpoint, cold.checkpoint);
    assert.deepEqual([vdaOf(next).read, vdaOf(next).reason], ['incremental', 'incremental']);
    assert.ok(vdaOf(next).readBytes < 4 * MiB, `read ${vdaOf(next).readBytes}`);
    assert.deepEqual(await checkpoints(), [next.checkpoint]);
  });

  test('QEMU killed before it stored the live backup’s bitmap: the cold backup reads whole, says why', async () => {
    // The bitmap a live backup makes lives in QEMU until it closes the image.
    await kill();
    assert.deepEqual(await qemuBitmaps(), []);
    const r = await backup('cold');
    assert.deepEqual([vdaOf(r).read, vdaOf(r).reason], ['full', 'bitmap-missing']);
    assert.equal(r.manifest.live?.parentCheckpoint, null);
    assert.deepEqual(await qemuBitmaps(), [{ name: r.checkpoint!, flags: ['auto'] }]);
  });

  test('QEMU killed leaves the bitmap in use: the cold backup reads whole, says why, and the line goes on', async () => {
    await boot(); // QEMU loads the cold backup's bitmap and marks it in use in the image
    await kill();
    assert.deepEqual((await qemuBitmaps())[0]?.flags, ['auto', 'in-use']);

    const r = await backup('cold');
    assert.deepEqual([vdaOf(r).read, vdaOf(r).reason], ['full', 'bitmap-in-use']);
    assert.equal(r.manifest.live?.parentCheckpoint, null);
    // The in-use bitmap is removed with its checkpoint; a fresh one takes its place.
    assert.deepEqual(await qemuBitmaps(), [{ name: r.checkpoint!, flags: ['auto'] }]);
    assert.deepEqual(await checkpoints(), [r.checkpoint]);
    // Said in the text output: how vda was read, from which checkpoint, and what is left.
    const text = await cli(['backup', vm.name, '--mode', 'cold'], env());
    assert.equal(text.code, 0, text.stdout + text.stderr);
    assert.match(text.stdout, new RegExp(`vda: incremental since checkpoint ${r.checkpoint}: 0 B`));
    assert.match(text.stdout, new RegExp(`Nothing written since checkpoint ${r.checkpoint}`));
  });
});
