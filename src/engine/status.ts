/**
 * Status: per VM, its snapshots (save points that depend on the VM's own
 * disk files) and its backups (independent copies), with a warning where a
 * VM has snapshots and no backup, because a snapshot is not a backup.
 */
import type { Connection, Domain, DomainStateInfo, DomainStateName } from '../libvirt/index.js';
import { snapshotTree } from './snapshot/tree.js';
import { findVm } from './snapshot/tree.js';
import { checkpointsOn } from './snapshot/checkpoints.js';

/** What status needs to know of backups; the repository provides it once it exists. */
export interface BackupCatalog {
  backupsOf(vm: { name: string; uuid: string }): Promise<BackupSummary[]>;
}

export interface BackupSummary {
  id: string;
  time: string;
  verified: boolean | undefined;
}

export type StatusWarning =
  | { kind: 'snapshots-without-backup'; vm: string; snapshots: number }
  | { kind: 'backup-never-verified'; vm: string; backup: string }
  /** Checkpoints of another tool: brankas refuses a snapshot revert (docs/live-backups.md). */
  | { kind: 'foreign-checkpoints'; vm: string; checkpoints: string[] }
  /** External snapshots: a revert to them is refused (libvirt 9.0 cannot). */
  | { kind: 'external-snapshots'; vm: string; snapshots: string[] };

export interface VmStatus {
  name: string;
  uuid: string;
  state: DomainStateName;
  snapshots: { name: string; creationTime: number; current: boolean }[];
  /** undefined when no backup repository is known. */
  backups: BackupSummary[] | undefined;
  warnings: StatusWarning[];
}

export async function vmStatus(
  vm: Domain,
  catalog?: BackupCatalog,
  known?: DomainStateInfo,
): Promise<VmStatus> {
  const [state, nodes, backups, checkpoints] = await Promise.all([
    known ?? vm.state(),
    snapshotTree(vm),
    catalog?.backupsOf({ name: vm.name, uuid: vm.uuid }),
    checkpointsOn(vm),
  ]);
  const warnings: StatusWarning[] = [];
  if (nodes.length > 0 && (backups ?? []).length === 0) {
    warnings.push({ kind: 'snapshots-without-backup', vm: vm.name, snapshots: nodes.length });
  }
  // What brankas refuses to do with this VM's snapshots, said before anyone tries.
  if (checkpoints.foreign.length > 0) {
    warnings.push({ kind: 'foreign-checkpoints', vm: vm.name, checkpoints: checkpoints.foreign });
  }
  const external = nodes.filter((n) => n.location === 'external' || n.location === 'mixed');
  if (external.length > 0) {
    warnings.push({
      kind: 'external-snapshots',
      vm: vm.name,
      snapshots: external.map((n) => n.name),
    });
  }
  for (const b of backups ?? []) {
    if (b.verified === undefined) {
      warnings.push({ kind: 'backup-never-verified', vm: vm.name, backup: b.id });
    }
  }
  return {
    name: vm.name,
    uuid: vm.uuid,
    state: state.state,
    snapshots: nodes.map((n) => ({
      name: n.name,
      creationTime: n.creationTime,
      current: n.current,
    })),
    backups,
    warnings,
  };
}

export async function hostStatus(
  conn: Connection,
  vmName?: string,
  catalog?: BackupCatalog,
): Promise<VmStatus[]> {
  if (vmName) return [await vmStatus(await findVm(conn, vmName), catalog)];
  // Every VM and its state in one call; its snapshots, a call or two more each.
  const vms = await conn.listDomainsWithState();
  // A VM undefined between the listing and its questions is no longer on the host: left out.
  const out = await Promise.all(
    vms.map(({ domain, state }) =>
      vmStatus(domain, catalog, state).catch((err: unknown) =>
        gone(err) ? [] : Promise.reject(err),
      ),
    ),
  );
  return out.flat().sort((a, b) => a.name.localeCompare(b.name));
}

function gone(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'LIBVIRT_NO_DOMAIN';
}
