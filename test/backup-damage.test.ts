/**
 * The probe of issue #12, end to end with the CLI on a real (shut-off) VM: a pack of the
 * repository is deleted, and the next backup of the unchanged VM, which would otherwise take
 * every id from its parent unread, stores the lost data again, restores identical, and
 * `repo repair` heals the old backup.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readdir, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection, DomainUndefine, type Domain } from '../src/libvirt/index.js';
import { ensureGuestImages, guestDomainXml, guestWorkDir } from '../src/engine/guest/tiny-guest.js';
import { openImage } from '../src/image/index.js';
import { testName } from './support/guest.js';
import { cli, initPlainRepo } from './support/cli.js';

let conn: Connection;
let repoDir: string;
let workDir: string;
let outDir: string;
let domain: Domain | undefined;
let disk: string;
const env = (): NodeJS.ProcessEnv => ({ BRANKAS_REPO: repoDir });

async function imageHash(path: string): Promise<string> {
  const image = await openImage(path);
  try {
    const h = createHash('sha256');
    const step = 4 * 1024 * 1024;
    for (let off = 0; off < image.virtualSize; off += step) {
      h.update(await image.read(off, Math.min(step, image.virtualSize - off)));
    }
    return h.digest('hex');
  } finally {
    await image.close();
  }
}

/** The largest pack: it holds most of the disk's data. */
async function largestPack(): Promise<string> {
  let best = { path: '', size: -1 };
  for (const sub of await readdir(join(repoDir, 'data'))) {
    for (const name of await readdir(join(repoDir, 'data', sub))) {
      const path = join(repoDir, 'data', sub, name);
      const { size } = await stat(path);
      if (size > best.size) best = { path, size };
    }
  }
  return best.path;
}

before(async () => {
  conn = await Connection.open('qemu:///system');
  repoDir = await initPlainRepo();
  outDir = await mkdtemp(join(tmpdir(), 'brankas-test-out-'));
  const name = testName('damage');
  const images = await ensureGuestImages();
  workDir = await guestWorkDir(name);
  disk = join(workDir, 'vda.qcow2');
  await copyFile(images.baseDisk, disk);
  // Defined, never started: a cold backup of a shut-off VM reads the file as it is.
  domain = await conn.defineDomain(
    guestDomainXml({
      name,
      kernel: images.kernel,
      initrd: images.initrd,
      disks: [{ path: disk, format: 'qcow2', target: 'vda' }],
      serialSocket: join(workDir, 'console.sock'),
    }),
  );
});

after(async () => {
  await domain
    ?.undefine(DomainUndefine.SNAPSHOTS_METADATA | DomainUndefine.CHECKPOINTS_METADATA)
    .catch(() => undefined);
  await conn?.close();
  for (const d of [repoDir, outDir, workDir]) {
    if (d) await rm(d, { recursive: true, force: true });
  }
});

describe('a lost pack is healed, not deduplicated against', () => {
  test('the next backup of the unchanged VM stores the lost data again and restores identical; repair heals the old one', async () => {
    const vm = domain!.name;
    const first = await cli(['backup', vm, '--json'], env());
    assert.equal(first.code, 0, first.stderr);
    const firstId = JSON.parse(first.stdout).manifest.id as string;
    await unlink(await largestPack());

    // Unchanged files: before the fix this backup took every id from the first, unread.
    const second = await cli(['backup', vm, '--json'], env());
    assert.equal(second.code, 0, second.stderr);
    const r2 = JSON.parse(second.stdout);
    assert.ok(r2.newStoredBytes > 0, 'the lost data is stored again');

    const to = join(outDir, 'vda.qcow2');
    const restored = await cli(
      ['restore', r2.manifest.id, '--disk', 'vda', '--to', to, '--json'],
      env(),
    );
    assert.equal(restored.code, 0, restored.stdout + restored.stderr);
    assert.equal(await imageHash(to), await imageHash(disk));

    const repair = await cli(['repo', 'repair', '--json'], env());
    assert.equal(repair.code, 0, repair.stdout + repair.stderr);
    const fixed = JSON.parse(repair.stdout);
    assert.equal(fixed.missingPacks.length, 1);
    assert.ok(fixed.healed.some((h: { backup: string }) => h.backup === firstId));
    assert.deepEqual(fixed.unhealable, []);
    const verify = await cli(['repo', 'verify', '--read-data', '--json'], env());
    assert.equal(verify.code, 0, verify.stdout);
    await rm(to);
    const old = await cli(['restore', firstId, '--disk', 'vda', '--to', to, '--json'], env());
    assert.equal(old.code, 0, old.stdout + old.stderr);
    assert.equal(await imageHash(to), await imageHash(disk));
  });
});
