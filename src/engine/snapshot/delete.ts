/**
 * Deleting snapshots (the seed's `virsh snapshot-delete VM NAME`), planned
 * first. A snapshot with children is deleted only when the children go too;
 * external snapshots are refused unless only their metadata is dropped, so
 * that no base image is ever deleted and no disk is left pointing at a
 * missing overlay.
 */
import { SnapshotDelete, type Domain } from '../../libvirt/index.js';
import { EngineError } from '../errors.js';
import type { SnapshotNode } from './model.js';
import { descendants, findSnapshot, snapshotTree } from './tree.js';

export interface DeletePlan {
  vm: string;
  snapshot: string;
  /** Every snapshot that will be gone, deepest first. */
  removes: string[];
  metadataOnly: boolean;
}

export interface DeleteOptions {
  children?: boolean;
  metadataOnly?: boolean;
}

export async function planDelete(
  vm: Domain,
  name: string,
  options: DeleteOptions = {},
): Promise<DeletePlan> {
  await findSnapshot(vm, name);
  const nodes = await snapshotTree(vm);
  const node = nodes.find((n) => n.name === name)!;
  if (node.children.length > 0 && !options.children) {
    throw new EngineError(
      'SNAPSHOT_HAS_CHILDREN',
      `snapshot '${name}' of VM '${vm.name}' has ${node.children.length} child snapshot(s) ` +
        `(${node.children.join(', ')}); delete them with it using --children, or delete them first`,
      { details: { vm: vm.name, snapshot: name, children: node.children } },
    );
  }
  const removes = options.children ? descendants(nodes, name) : [name];
  const byName = new Map(nodes.map((n): [string, SnapshotNode] => [n.name, n]));
  const external = removes.filter(
    (n) => byName.get(n)!.location !== 'internal' && byName.get(n)!.location !== 'none',
  );
  if (external.length > 0 && !options.metadataOnly) {
    throw new EngineError(
      'SNAPSHOT_EXTERNAL_UNSUPPORTED',
      `snapshot(s) ${external.join(', ')} of VM '${vm.name}' are external: the VM's disks now ` +
        `continue in overlay files that depend on the original images, and libvirt 9.0 cannot ` +
        `merge them back. brankas will not delete them and leave a disk pointing at a missing ` +
        `file. Use --metadata-only to forget the snapshot while keeping every file.`,
      { details: { vm: vm.name, snapshots: external } },
    );
  }
  return { vm: vm.name, snapshot: name, removes, metadataOnly: options.metadataOnly ?? false };
}

export async function executeDelete(vm: Domain, plan: DeletePlan): Promise<DeletePlan> {
  let flags = 0;
  if (plan.removes.length > 1) flags |= SnapshotDelete.CHILDREN;
  if (plan.metadataOnly) flags |= SnapshotDelete.METADATA_ONLY;
  const snap = await findSnapshot(vm, plan.snapshot);
  await snap.delete(flags);
  return plan;
}
