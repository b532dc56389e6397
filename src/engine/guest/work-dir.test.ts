import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import {
  chmod,
  chown,
  lstat,
  mkdir,
  mkdtemp,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { ensurePrivateDir, GUEST_DIR_MODE, GUEST_WORK_ROOT, makeGuestDir } from './work-dir.js';

async function parent(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'brankas-test-workdir-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function unsafe(pattern: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.equal((err as { code?: string }).code, 'GUEST_WORKDIR_UNSAFE', String(err));
    assert.match((err as Error).message, pattern);
    return true;
  };
}

const mode = async (path: string): Promise<number> => (await lstat(path)).mode & 0o7777;

describe('guest work directories', () => {
  it('are a per-user root under /var/tmp', () => {
    assert.equal(GUEST_WORK_ROOT, `/var/tmp/brankas-guests-${process.getuid!()}`);
  });

  it('makes a missing root and each guest directory 0711, owned by this user', async (t) => {
    const root = join(await parent(t), 'guests');
    const dir = await makeGuestDir('vm-1', root);
    assert.equal(dir, join(root, 'vm-1'));
    for (const d of [root, dir]) {
      const st = await lstat(d);
      assert.ok(st.isDirectory());
      assert.equal(st.uid, process.getuid!());
      assert.equal(st.mode & 0o7777, GUEST_DIR_MODE, `${d} is 0711, nothing world-writable`);
    }
    await assert.rejects(makeGuestDir('vm-1', root), { code: 'EEXIST' });
  });

  it('refuses a pre-planted symbolic link and leaves it alone', async (t) => {
    const p = await parent(t);
    const target = join(p, 'elsewhere');
    await mkdir(target, { mode: 0o700 });
    const root = join(p, 'guests');
    await symlink(target, root);
    await assert.rejects(makeGuestDir('vm', root), unsafe(/symbolic link/));
    assert.equal(await readlink(root), target);
    assert.equal(existsSync(join(target, 'vm')), false, 'nothing made through the link');
    assert.equal(await mode(target), 0o700);
  });

  it('refuses a directory owned by someone else', async (t) => {
    if (process.getuid!() !== 0) return t.skip('needs root to give a directory away');
    const root = join(await parent(t), 'guests');
    await mkdir(root, { mode: 0o711 });
    await chown(root, 65534, 65534);
    await assert.rejects(ensurePrivateDir(root), unsafe(/belongs to uid 65534/));
    await assert.rejects(makeGuestDir('vm', root), unsafe(/belongs to uid 65534/));
    assert.equal(existsSync(join(root, 'vm')), false);
  });

  it('refuses a directory others may write to (the old 1777 layout), and a file', async (t) => {
    const p = await parent(t);
    const open = join(p, 'open');
    await mkdir(open);
    await chmod(open, 0o1777);
    await assert.rejects(ensurePrivateDir(open), unsafe(/others may write to it \(mode 1777\)/));
    assert.equal(await mode(open), 0o1777, 'left as found');
    const file = join(p, 'file');
    await writeFile(file, '');
    await assert.rejects(ensurePrivateDir(file), unsafe(/not a directory/));
  });

  it('narrows a directory of its own that others may only read to 0711', async (t) => {
    const root = join(await parent(t), 'guests');
    await mkdir(root);
    await chmod(root, 0o755);
    await ensurePrivateDir(root);
    assert.equal(await mode(root), GUEST_DIR_MODE);
  });

  it('takes only a plain name for a guest directory', async (t) => {
    const root = join(await parent(t), 'guests');
    for (const name of ['../escape', 'a/b', '..', '.', '']) {
      await assert.rejects(makeGuestDir(name, root), unsafe(/cannot name a guest directory/), name);
    }
  });
});
