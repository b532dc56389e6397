/**
 * `brankas demo` end to end, in Indonesian (the seed's language): every part
 * of the tutorial runs on a real TCG guest, every observation matches, and
 * nothing the demo made is left behind (guest, pool, files, repository).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { Connection, isNotFound } from '../src/libvirt/index.js';
import { GUEST_WORK_ROOT } from '../src/engine/guest/tiny-guest.js';
import { makeScratchDir, type ScratchDir } from './support/guest.js';
import { cli } from './support/cli.js';

let conn: Connection;
let parent: ScratchDir;

before(async () => {
  conn = await Connection.open('qemu:///system');
  parent = await makeScratchDir('demo');
});

after(async () => {
  await conn?.close();
  await parent?.remove();
});

test('brankas demo --lang id walks the whole tutorial and leaves nothing behind', async () => {
  const r = await cli(['demo', '--lang', 'id', '--dir', parent.path]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const out = r.stdout;
  for (const heading of [
    'Eksperimen 1',
    'Eksperimen 2: Membandingkan Ukuran Backup',
    'Tugas 2: cold backup',
    'Bencana: file disk hilang',
    'Uji coba proses restore sebelum mengandalkannya',
  ]) {
    assert.ok(out.includes(heading), `part '${heading}' is shown`);
  }
  assert.match(out, /testfile_kedua.txt' hilang/);
  assert.match(out, /Revert ke snapshot 'sebelum-bencana': gagal/);
  assert.match(out, /checksum sama seperti sebelum bencana/);
  assert.match(out, /verify \S+ --boot: .*lulus/);
  assert.match(out, /semua observasi sesuai dengan tutorial/);

  // Nothing left: the guest, its directory, the pool, the repository.
  const vm = /VM (brankas-demo-[0-9a-f]+) sudah menyala/.exec(out)?.[1];
  assert.ok(vm, 'the guest is named');
  await assert.rejects(conn.lookupDomain(vm!), (e: unknown) => isNotFound(e));
  assert.ok(!existsSync(`${GUEST_WORK_ROOT}/${vm}`));
  const pools = await conn.listStoragePools();
  assert.ok(!pools.some((p) => p.name.startsWith(vm!)), 'the temporary pool is gone');
  assert.deepEqual(await readdir(parent.path), [], 'the working directory is gone');
});
