/**
 * Taking a snapshot (the seed's `virsh snapshot-create-as VM NAME "description"`),
 * with the guardrails checked first.
 */
import {
  SnapshotCreate,
  isAlreadyExists,
  readDomainXml,
  type Domain,
} from '../../libvirt/index.js';
import { escapeXml } from '../../util/xml.js';
import { EngineError } from '../errors.js';
import { parseSnapshotXml, type SnapshotFacts } from './model.js';
import {
  checkInternalSnapshotPossible,
  checkSnapshotName,
  chainWarnings,
  type ChainWarning,
} from './guards.js';
import { planRetire, retireCheckpoints } from './checkpoints.js';
import { snapshotTree } from './tree.js';

export interface CreateSnapshotOptions {
  name: string;
  description?: string;
  /** An external, disk-only snapshot: overlays receive new writes, no memory state. */
  diskOnly?: boolean;
  /** Freeze guest filesystems through the guest agent while the snapshot is taken. */
  quiesce?: boolean;
  chainThreshold?: number;
}

export interface CreateSnapshotResult {
  snapshot: SnapshotFacts;
  warnings: ChainWarning[];
  /** brankas checkpoints deleted first (a shut-off VM's snapshot): the next backup reads whole. */
  retiredCheckpoints: string[];
}

export async function createSnapshot(
  vm: Domain,
  options: CreateSnapshotOptions,
): Promise<CreateSnapshotResult> {
  checkSnapshotName(options.name);
  const facts = readDomainXml(await vm.xml());
  if (!options.diskOnly) checkInternalSnapshotPossible(vm.name, facts.disks);
  const existing = await vm.listSnapshots();
  if (existing.some((s) => s.name === options.name)) {
    throw new EngineError(
      'SNAPSHOT_EXISTS',
      `VM '${vm.name}' already has a snapshot named '${options.name}'`,
      { details: { vm: vm.name, snapshot: options.name } },
    );
  }
  // libvirt takes no snapshot of a shut-off VM while it has checkpoints (a running one, yes).
  const retire = (await vm.isActive()) ? [] : await planRetire(vm, 'create');
  const retiredCheckpoints = await retireCheckpoints(vm, retire);
  const xml =
    `<domainsnapshot><name>${escapeXml(options.name)}</name>` +
    (options.description ? `<description>${escapeXml(options.description)}</description>` : '') +
    '</domainsnapshot>';
  let flags = 0;
  if (options.diskOnly) flags |= SnapshotCreate.DISK_ONLY | SnapshotCreate.ATOMIC;
  if (options.quiesce) flags |= SnapshotCreate.QUIESCE;
  let snap;
  try {
    // Internal snapshots of a running VM save its memory: slow under emulation.
    snap = await vm.createSnapshot(xml, flags, { timeoutMs: 600_000 });
  } catch (err) {
    if (isAlreadyExists(err)) {
      throw new EngineError(
        'SNAPSHOT_EXISTS',
        `VM '${vm.name}' already has a snapshot named '${options.name}'`,
        {
          cause: err,
          details: { vm: vm.name, snapshot: options.name },
        },
      );
    }
    throw err;
  }
  const snapshot = parseSnapshotXml(await snap.xml());
  const nodes = await snapshotTree(vm);
  const after = readDomainXml(await vm.xml());
  return {
    snapshot,
    warnings: chainWarnings(vm.name, nodes, after.disks, options.chainThreshold),
    retiredCheckpoints,
  };
}
