/**
 * Snapshots beside live backups' checkpoints. libvirt 9.0 / QEMU 7.2 refuse
 * a snapshot revert (and a new snapshot of a shut-off VM) while the
 * VM has checkpoints (docs/live-backups.md, "Snapshots and backups
 * together"). So a snapshot command first retires brankas's checkpoints
 * (libvirt deletes each with its bitmaps) and says that the next backup
 * reads whole; a checkpoint that is not brankas's is another tool's, and is
 * refused before anything changes.
 */
import { DomainCreate, isNotFound, type Domain } from '../../libvirt/index.js';
import { EngineError } from '../errors.js';

/** A checkpoint of a brankas line: `brankas-<repository id, 8 hex>-<sequence>` (backup/live/line.ts). */
const BRANKAS_CHECKPOINT = /^brankas-[0-9a-f]{8}-\d+$/;

export interface CheckpointsOnVm {
  /** brankas's checkpoints: retired when a snapshot operation needs it. */
  brankas: string[];
  /** Any other tool's: never deleted by brankas. */
  foreign: string[];
}

export async function checkpointsOn(vm: Domain): Promise<CheckpointsOnVm> {
  const names = (await vm.listCheckpoints()).map((c) => c.name);
  return {
    brankas: names.filter((n) => BRANKAS_CHECKPOINT.test(n)),
    foreign: names.filter((n) => !BRANKAS_CHECKPOINT.test(n)),
  };
}

/** What a snapshot operation must do about checkpoints first: throws when it cannot be done. */
export async function planRetire(vm: Domain, operation: string): Promise<string[]> {
  const { brankas, foreign } = await checkpointsOn(vm);
  if (foreign.length > 0) {
    throw new EngineError(
      'SNAPSHOT_FOREIGN_CHECKPOINTS',
      `VM '${vm.name}' has checkpoints that brankas did not make (${foreign.join(', ')}): ` +
        `libvirt refuses a snapshot ${operation} while they exist, and another tool's ` +
        `incremental backups depend on them. Delete them with that tool (or 'virsh ` +
        `checkpoint-delete'), then try again.`,
      { details: { vm: vm.name, operation, checkpoints: foreign } },
    );
  }
  if (brankas.length > 0 && !(await vm.isActive()) && (await vm.hasManagedSaveImage())) {
    // Started paused to delete them, it would resume the saved state, which destroy then loses.
    throw new EngineError(
      'SNAPSHOT_CHECKPOINTS_MANAGED_SAVE',
      `VM '${vm.name}' is shut off with a saved memory state (managed save) and has brankas ` +
        `checkpoints (${brankas.join(', ')}): libvirt refuses a snapshot ${operation} while ` +
        `they exist, and deleting them needs the VM started, which would consume the saved ` +
        `state. Start the VM (it resumes from the saved state), then try again.`,
      { details: { vm: vm.name, operation, checkpoints: brankas } },
    );
  }
  return brankas;
}

/**
 * Deletes the named checkpoints with their bitmaps. libvirt deletes checkpoints of a running
 * VM only: a shut-off one is started paused for it (no guest code runs) and destroyed again,
 * so it ends shut off as found. Returns the names deleted.
 */
export async function retireCheckpoints(vm: Domain, names: string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const started = !(await vm.isActive());
  if (started) await vm.start(DomainCreate.PAUSED);
  try {
    const retired: string[] = [];
    // Newest first: each delete merges nothing into a checkpoint about to go too.
    for (const name of [...names].reverse()) {
      try {
        await (await vm.lookupCheckpoint(name)).delete();
        retired.push(name);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return retired;
  } finally {
    if (started) await vm.destroy();
  }
}
