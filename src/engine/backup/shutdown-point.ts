/**
 * `--consistency shutdown`: a cold backup's consistency with the downtime of
 * one reboot. The guest is shut down gracefully (its filesystems clean, its
 * caches written), QEMU started again paused (no guest code has run), the
 * backup point taken by the live path (live/live.ts), the VM resumed, and
 * the disks read through the backup job while it runs. Every power change is
 * reported through onPowerChange first (the service's journal), and the VM
 * ends as found whatever happens: started or resumed on any failure or
 * interruption, by this process or, when it was killed, by the next job.
 */
import { DomainCreate, type Connection, type Domain } from '../../libvirt/index.js';
import type { Repository } from '../../repo/repository.js';
import { findVm } from '../snapshot/tree.js';
import type { ColdBackupOptions } from './cold.js';
import { liveBackup, type LiveBackupOptions, type LiveBackupResult } from './live/live.js';
import { ensureShutOff, restorePower, type PowerPlan } from './power.js';

export type ShutdownPointOptions = ColdBackupOptions & LiveBackupOptions;

export async function shutdownConsistentBackup(
  conn: Connection,
  repo: Repository,
  vmName: string,
  o: ShutdownPointOptions = {},
): Promise<LiveBackupResult> {
  const vm = await findVm(conn, vmName);
  const power = await ensureShutOff(vm, {
    timeoutMs: o.shutdownTimeoutMs ?? 120_000,
    forceOffAfterTimeout: o.forceOffAfterTimeout,
    signal: o.signal,
    onEvent: o.onPower,
    onChange: o.onPowerChange,
  });
  let back = false;
  const putBack = async (): Promise<void> => {
    if (back) return;
    back = true;
    await backAsFound(vm, power, o);
  };
  try {
    o.signal?.throwIfAborted();
    // Journaled first: a VM a killed process leaves paused is resumed by the next job.
    await o.onPowerChange?.({ kind: 'starting-paused', vm: vm.name, uuid: vm.uuid });
    await vm.start(DomainCreate.PAUSED);
    o.onPower?.({ kind: 'started-paused', vm: vm.name });
    o.signal?.throwIfAborted();
    return await liveBackup(conn, repo, vm.name, { ...o, shutdownPoint: { taken: putBack } });
  } finally {
    await putBack();
  }
}

/** Resumed (or started) as it was found, and the journal's change dropped. */
async function backAsFound(vm: Domain, power: PowerPlan, o: ShutdownPointOptions): Promise<void> {
  const { state } = await vm.state();
  if (power.action === 'none') {
    // Found off (backupVm sends such a VM the cold way): off again, as found.
    if (state !== 'shutoff') await vm.destroy();
    return;
  }
  if (state === 'paused' && power.initial !== 'paused') {
    await vm.resume();
    o.onPower?.({ kind: 'started', vm: vm.name });
  }
  // Off (it stopped, or never started): started again; then the change is dropped.
  await restorePower(vm, power, o.onPower, o.onPowerChange);
}
