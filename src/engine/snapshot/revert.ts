/**
 * Reverting to a snapshot (the seed's `virsh snapshot-revert VM NAME`:
 * "every change made AFTER the snapshot was taken will be LOST"). Planned
 * first, so a face can say exactly what will be lost and ask before anything
 * happens; executed only with the plan in hand.
 */
import { SnapshotRevert, type Domain, type DomainStateName } from '../../libvirt/index.js';
import { EngineError } from '../errors.js';
import type { SnapshotFacts } from './model.js';
import { parseSnapshotXml } from './model.js';
import { planRetire, retireCheckpoints } from './checkpoints.js';
import { createSnapshot } from './create.js';
import { findSnapshot } from './tree.js';

export type RevertTarget = 'snapshot' | 'running' | 'paused';

export interface RevertPlan {
  vm: string;
  snapshot: SnapshotFacts;
  /** The VM's state now. */
  currentState: DomainStateName;
  /** Changes made after this time (seconds since the epoch) will be lost. */
  loseChangesSince: number;
  /** The running VM's present memory (open programs, unsaved work) will be lost too. */
  losesRunningMemory: boolean;
  /** The state the VM ends in. */
  finalState: 'running' | 'paused' | 'shutoff';
  /**
   * brankas checkpoints deleted first (libvirt reverts no snapshot while checkpoints exist):
   * the next backup of the VM reads its disks whole.
   */
  retiresCheckpoints: string[];
}

export async function planRevert(
  vm: Domain,
  name: string,
  target: RevertTarget = 'snapshot',
): Promise<RevertPlan> {
  const snap = await findSnapshot(vm, name);
  const facts = parseSnapshotXml(await snap.xml());
  if (facts.location === 'external' || facts.location === 'mixed') {
    throw new EngineError(
      'SNAPSHOT_EXTERNAL_UNSUPPORTED',
      `snapshot '${name}' of VM '${vm.name}' is external (its disks continue in overlay files); ` +
        `libvirt ${'9.0'} cannot revert to external snapshots. Ways out: restore a backup, or ` +
        `point the VM's disks back at the files the snapshot started from by hand.`,
      { details: { vm: vm.name, snapshot: name } },
    );
  }
  const retiresCheckpoints = await planRetire(vm, 'revert');
  const { state } = await vm.state();
  const snapshotState =
    facts.state === 'running' ? 'running' : facts.state === 'paused' ? 'paused' : 'shutoff';
  return {
    vm: vm.name,
    snapshot: facts,
    currentState: state,
    loseChangesSince: facts.creationTime,
    losesRunningMemory: state === 'running' || state === 'paused',
    finalState: target === 'snapshot' ? snapshotState : target,
    retiresCheckpoints,
  };
}

export interface RevertOptions {
  /** Take a snapshot of the present state first, so the revert can itself be undone. */
  safetySnapshot?: boolean;
  /** Name of that safety snapshot (default brankas-safety-<time>). */
  safetyName?: string;
  /** Override the final state: running or paused (default: the snapshot's state). */
  target?: RevertTarget;
}

export interface RevertResult {
  plan: RevertPlan;
  safetySnapshot: string | undefined;
  finalState: DomainStateName;
  /** The checkpoints deleted before the revert. */
  retiredCheckpoints: string[];
}

export async function executeRevert(
  vm: Domain,
  plan: RevertPlan,
  options: RevertOptions = {},
): Promise<RevertResult> {
  // First: a shut-off VM with checkpoints takes no safety snapshot either.
  const retired = await retireCheckpoints(vm, plan.retiresCheckpoints);
  let safety: string | undefined;
  if (options.safetySnapshot) {
    safety =
      options.safetyName ??
      `brankas-safety-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}`;
    await createSnapshot(vm, {
      name: safety,
      description: `Taken by brankas before reverting to '${plan.snapshot.name}'`,
    });
  }
  let flags = 0;
  if (options.target === 'running') flags |= SnapshotRevert.RUNNING;
  if (options.target === 'paused') flags |= SnapshotRevert.PAUSED;
  const snap = await findSnapshot(vm, plan.snapshot.name);
  // Loading a memory state under emulation can take a while.
  await snap.revert(flags, 300_000);
  return {
    plan,
    safetySnapshot: safety,
    finalState: (await vm.state()).state,
    retiredCheckpoints: retired,
  };
}
