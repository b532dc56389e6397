import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Manifest } from '../../repo/manifest.js';
import { fileStates, unchangedSince, type FileState } from './unchanged.js';

function previous(states: FileState[] | undefined): Manifest {
  return {
    disks: [{ name: 'vda', virtualSize: 10, formatOptions: { fileState: states } }],
  } as unknown as Manifest;
}

test('a file is taken over only when every field matches and its last change had settled', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'brankas-test-unchanged-'));
  try {
    const file = join(dir, 'disk.img');
    const base = join(dir, 'base.img');
    await writeFile(file, 'data');
    await writeFile(base, 'base');
    const now = (await fileStates([file, base]))!;
    // Looked at just after the change: within the timestamp tick a later change could hide in.
    assert.equal(unchangedSince(previous(now), 'vda', await fileStates([file, base])), undefined);
    // Recorded long after its last change: the same files now are unchanged.
    const settled = now.map((s) => ({ ...s, seenNs: String(BigInt(s.ctimeNs) + 2_000_000_000n) }));
    assert.ok(unchangedSince(previous(settled), 'vda', await fileStates([file, base])));
    assert.equal(
      unchangedSince(previous(settled), 'vdb', await fileStates([file, base])),
      undefined,
    );
    // A backing file missing from the chain, or a rewritten one, is a change.
    assert.equal(unchangedSince(previous(settled), 'vda', await fileStates([file])), undefined);
    await writeFile(base, 'BASE');
    assert.equal(
      unchangedSince(previous(settled), 'vda', await fileStates([file, base])),
      undefined,
    );
    // Nothing recorded (an older backup), or not a regular file: always read.
    assert.equal(unchangedSince(previous(undefined), 'vda', await fileStates([file])), undefined);
    assert.equal(await fileStates([dir]), undefined);
    assert.equal(await fileStates([join(dir, 'missing')]), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
