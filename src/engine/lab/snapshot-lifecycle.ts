/**
 * Experiment 1 of the seed tutorial, "Siklus Hidup Snapshot", performed for
 * real: create testfile_awal.txt in the guest, take snap-awal, create
 * testfile_kedua.txt, check both are there, revert, and check that only
 * testfile_awal.txt is left. Each step is reported as it happens; the faces
 * word the steps and the explanation (why a snapshot is no substitute for a
 * backup) in the user's language.
 */
import type { Domain } from '../../libvirt/index.js';
import { EngineError } from '../errors.js';
import { createSnapshot } from '../snapshot/create.js';
import { executeDelete, planDelete } from '../snapshot/delete.js';
import { executeRevert, planRevert } from '../snapshot/revert.js';

/** Runs shell commands inside the guest and returns their output. */
export interface GuestShell {
  run(command: string, timeoutMs?: number): Promise<string>;
  /** After a revert the guest's console may be mid-line: get back in step. */
  resync(): Promise<void>;
}

export type LabStep =
  | { step: 'file-created'; file: string; listing: string[] }
  | { step: 'snapshot-taken'; snapshot: string; seconds: number }
  | { step: 'second-file-created'; file: string; listing: string[] }
  | { step: 'reverted'; snapshot: string; seconds: number }
  | { step: 'observed'; listing: string[]; firstPresent: boolean; secondGone: boolean }
  | { step: 'cleaned-up' };

export interface SnapshotLifecycleOptions {
  /** The directory in the guest that lives on the VM's disk. */
  dir: string;
  snapshotName?: string;
  onStep?: (s: LabStep) => void;
}

export interface SnapshotLifecycleResult {
  snapshot: string;
  before: string[];
  after: string[];
  /** The hypothesis held: testfile_kedua.txt is gone, testfile_awal.txt is still there. */
  confirmed: boolean;
}

const FIRST = 'testfile_awal.txt';
const SECOND = 'testfile_kedua.txt';

async function listing(shell: GuestShell, dir: string): Promise<string[]> {
  const out = await shell.run(`ls -1 ${dir}`);
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && l !== 'lost+found');
}

export async function snapshotLifecycle(
  vm: Domain,
  shell: GuestShell,
  options: SnapshotLifecycleOptions,
): Promise<SnapshotLifecycleResult> {
  const report = options.onStep ?? (() => undefined);
  const snapshot = options.snapshotName ?? 'snap-awal';
  const dir = options.dir;
  await shell.run(`rm -f ${dir}/${FIRST} ${dir}/${SECOND}; touch ${dir}/${FIRST}; sync`);
  report({ step: 'file-created', file: `${dir}/${FIRST}`, listing: await listing(shell, dir) });

  let t = Date.now();
  await createSnapshot(vm, { name: snapshot, description: 'brankas lab: snapshot-lifecycle' });
  report({ step: 'snapshot-taken', snapshot, seconds: (Date.now() - t) / 1000 });
  try {
    await shell.run(`touch ${dir}/${SECOND}; sync`);
    const before = await listing(shell, dir);
    report({ step: 'second-file-created', file: `${dir}/${SECOND}`, listing: before });
    if (!before.includes(FIRST) || !before.includes(SECOND)) {
      throw new EngineError(
        'LAB_CHECK_FAILED',
        `expected both files in ${dir}, found: ${before.join(' ')}`,
      );
    }

    t = Date.now();
    await executeRevert(vm, await planRevert(vm, snapshot));
    report({ step: 'reverted', snapshot, seconds: (Date.now() - t) / 1000 });
    await shell.resync();
    const after = await listing(shell, dir);
    const firstPresent = after.includes(FIRST);
    const secondGone = !after.includes(SECOND);
    report({ step: 'observed', listing: after, firstPresent, secondGone });
    return { snapshot, before, after, confirmed: firstPresent && secondGone };
  } finally {
    await executeDelete(vm, await planDelete(vm, snapshot, { children: true }));
    report({ step: 'cleaned-up' });
  }
}
