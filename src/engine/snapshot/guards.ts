/**
 * The seed tutorial's guardrails, enforced: internal snapshots need qcow2,
 * names libvirt would reject are refused up front, and long chains are
 * flagged ("too many snapshots lower the VM's disk I/O performance").
 */
import type { DiskSpec } from '../../libvirt/index.js';
import { EngineError } from '../errors.js';
import type { SnapshotNode } from './model.js';

export const DEFAULT_CHAIN_THRESHOLD = 5;

export function checkSnapshotName(name: string): void {
  let why: string | undefined;
  if (name.trim() === '') why = 'it is empty';
  else if (name.includes('/')) why = "it contains '/'";
  else if (name.startsWith('.')) why = "it starts with '.'";
  else if (/[\u0000-\u001f\u007f]/.test(name)) why = 'it contains control characters';
  else if (Buffer.byteLength(name) > 200) why = 'it is longer than 200 bytes';
  if (why) {
    throw new EngineError('SNAPSHOT_INVALID_NAME', `'${name}' cannot be a snapshot name: ${why}`, {
      details: { snapshot: name, reason: why },
    });
  }
}

/** Disks whose state an internal snapshot would have to hold. */
export function snapshotDisks(disks: DiskSpec[]): DiskSpec[] {
  return disks.filter((d) => d.device === 'disk' && !d.readOnly && d.source !== undefined);
}

/** Refuses an internal snapshot of a VM with a disk that is not qcow2, and says the ways out. */
export function checkInternalSnapshotPossible(vm: string, disks: DiskSpec[]): void {
  for (const d of snapshotDisks(disks)) {
    const format = d.format ?? 'raw';
    if (format !== 'qcow2') {
      throw new EngineError(
        'SNAPSHOT_RAW_DISK',
        `VM '${vm}' cannot take an internal snapshot: disk ${d.target} (${d.source}) is in ` +
          `${format} format, and only qcow2 can hold snapshots inside the image. Ways out: ` +
          `convert the disk to qcow2 (shut the VM down, 'qemu-img convert -O qcow2 ${d.source} ` +
          `NEW.qcow2', point the VM at NEW.qcow2), or take an external snapshot with --disk-only.`,
        { details: { vm, disk: d.target, format, source: d.source } },
      );
    }
  }
}

export interface ChainWarning {
  kind: 'snapshot-count' | 'backing-chain';
  vm: string;
  count: number;
  threshold: number;
  /** For backing-chain: the disk whose chain is long. */
  disk?: string;
  /** The oldest snapshots: the first candidates to delete. */
  oldest: string[];
}

export function chainWarnings(
  vm: string,
  nodes: SnapshotNode[],
  disks: DiskSpec[],
  threshold = DEFAULT_CHAIN_THRESHOLD,
): ChainWarning[] {
  const oldest = [...nodes]
    .sort((a, b) => a.creationTime - b.creationTime)
    .slice(0, Math.max(1, nodes.length - threshold))
    .map((n) => n.name);
  const out: ChainWarning[] = [];
  if (nodes.length > threshold) {
    out.push({ kind: 'snapshot-count', vm, count: nodes.length, threshold, oldest });
  }
  for (const d of snapshotDisks(disks)) {
    if (d.backingChain.length > threshold) {
      out.push({
        kind: 'backing-chain',
        vm,
        count: d.backingChain.length,
        threshold,
        disk: d.target,
        oldest,
      });
    }
  }
  return out;
}
