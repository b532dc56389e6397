/**
 * What a snapshot is, read from libvirt's snapshot XML: when it was taken,
 * the VM's state then, whether memory was saved, and where each disk's
 * state lives (internal to the qcow2, or an external overlay file).
 */
import { attr, child, children, parseXml, text } from '../../util/xml.js';

export type SnapshotLocation = 'internal' | 'external' | 'mixed' | 'none';

export interface SnapshotDiskFacts {
  /** Disk target, e.g. vda. */
  name: string;
  /** internal, external, manual or no. */
  snapshot: string;
  /** For external snapshots: the overlay file that received new writes. */
  source: string | undefined;
}

export interface SnapshotFacts {
  name: string;
  description: string | undefined;
  /** The VM's state when the snapshot was taken (running, shutoff, paused, disk-snapshot). */
  state: string;
  /** Seconds since the epoch. */
  creationTime: number;
  parent: string | undefined;
  /** internal, external or no. */
  memory: string;
  disks: SnapshotDiskFacts[];
  location: SnapshotLocation;
}

export function parseSnapshotXml(xml: string): SnapshotFacts {
  const root = parseXml(xml, 'snapshot XML').documentElement!;
  const disksEl = child(root, 'disks');
  const disks: SnapshotDiskFacts[] = disksEl
    ? children(disksEl, 'disk').map((d) => ({
        name: attr(d, 'name') ?? '',
        snapshot: attr(d, 'snapshot') ?? 'internal',
        source: attr(child(d, 'source'), 'file') ?? attr(child(d, 'source'), 'dev'),
      }))
    : [];
  const memory = attr(child(root, 'memory'), 'snapshot') ?? 'no';
  const parentEl = child(root, 'parent');
  return {
    name: text(child(root, 'name')) ?? '',
    description: text(child(root, 'description')),
    state: text(child(root, 'state')) ?? 'unknown',
    creationTime: Number(text(child(root, 'creationTime')) ?? 0),
    parent: parentEl ? text(child(parentEl, 'name')) : undefined,
    memory,
    disks,
    location: locationOf(memory, disks),
  };
}

function locationOf(memory: string, disks: SnapshotDiskFacts[]): SnapshotLocation {
  const kinds = new Set(
    [memory, ...disks.map((d) => d.snapshot)].filter((k) => k === 'internal' || k === 'external'),
  );
  if (kinds.size === 0) return 'none';
  if (kinds.size === 2) return 'mixed';
  return kinds.has('internal') ? 'internal' : 'external';
}

/** A snapshot with its place in the tree. */
export interface SnapshotNode extends SnapshotFacts {
  current: boolean;
  children: string[];
  /** Depth in the tree: roots are 0. */
  depth: number;
}
