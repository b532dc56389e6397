/**
 * The incremental line of one VM in one repository: its checkpoints are named
 * `brankas-<repo id, 8 hex>-<sequence>`, so each repository keeps a line of
 * its own. Before a bitmap is trusted, everything that could make it lie is
 * checked; any doubt reads that disk whole (deduplication still stores only
 * what changed) and says why. Never a wrong incremental, always a backup.
 */
import { CheckpointXml, type Domain, type DomainCheckpoint } from '../../../libvirt/index.js';
import { BackupDisk, type Manifest, type Repository } from '../../../repo/index.js';
import { redefineFromBitmaps } from './redefine.js';
import { readCheckpointXml } from './xml.js';

/** Why a disk was read as it was. */
export type ReadReason =
  /** Trusted: only what its bitmap marks dirty since the parent's checkpoint was read. */
  | 'incremental'
  /** No live backup of this VM in this repository with a checkpoint yet. */
  | 'first'
  /** A raw image: libvirt keeps no bitmaps for raw disks, so it is always read whole. */
  | 'raw-no-bitmap'
  /** The parent's checkpoint is no longer defined on the VM. */
  | 'checkpoint-missing'
  /** The parent's checkpoint has no bitmap for this disk. */
  | 'no-bitmap-in-checkpoint'
  /** QEMU could not account for the checkpoint's bitmaps (missing, broken, inconsistent). */
  | 'bitmap-invalid'
  /** libvirt refused the incremental export (missing, broken or inconsistent bitmap). */
  | 'bitmap-refused'
  /** The disk is not in the parent backup. */
  | 'new-disk'
  /** The disk's image file is another one than in the parent backup. */
  | 'image-changed'
  /** The disk's size differs from the parent backup's. */
  | 'resized'
  /**
   * Recorded by earlier versions when the VM had snapshots. No longer decided: QEMU loads no
   * internal snapshot while a bitmap exists (docs/live-backups.md), so a surviving checkpoint
   * proves no revert happened since it.
   */
  | 'snapshots-present'
  /** The parent backup's index of this disk is damaged or gone. */
  | 'parent-index-unreadable'
  /** A garbage collection plan is pending: every chunk must be looked up again. */
  | 'gc-pending'
  /** Asked for (--reread). */
  | 'reread'
  // Offline incremental (a shut-off VM's bitmaps read natively: ../offline.ts).
  /** The disk's image has no bitmap of the parent's checkpoint. */
  | 'bitmap-missing'
  /** The bitmap (or the image) was left in use: QEMU stopped uncleanly, writes may be missing. */
  | 'bitmap-in-use'
  /** The bitmap was not recording (disabled). */
  | 'bitmap-disabled';

export interface LiveDisk {
  target: string;
  format: string | undefined;
  source: string | undefined;
  /** Bytes the guest sees (from libvirt). */
  capacity: number;
}

export interface DiskDecision {
  target: string;
  read: 'incremental' | 'full';
  reason: ReadReason;
  /** Keeps a bitmap in the new checkpoint (qcow2). */
  bitmap: boolean;
}

/** What a live backup records in its manifest (the optional `live` field). */
export interface LiveRecord {
  checkpoint: string;
  sequence: number;
  parentCheckpoint: string | null;
  disks: Record<
    string,
    { read: 'incremental' | 'full'; reason: ReadReason; readBytes: number; source: string | null }
  >;
}

export function linePrefix(repositoryId: string): string {
  return `brankas-${repositoryId.slice(0, 8)}-`;
}

export function sequenceOf(prefix: string, name: string): number | undefined {
  if (!name.startsWith(prefix)) return undefined;
  const rest = name.slice(prefix.length);
  return /^\d+$/.test(rest) ? Number(rest) : undefined;
}

export function liveRecord(m: Manifest): LiveRecord | undefined {
  const l = m['live'] as LiveRecord | undefined;
  return l && typeof l === 'object' && typeof l.checkpoint === 'string' ? l : undefined;
}

/** The latest live backup of the VM in this repository that left a checkpoint of this line. */
export async function lineParent(
  repo: Repository,
  vm: { name: string; uuid: string },
  prefix: string,
): Promise<Manifest | undefined> {
  return (await vmHistory(repo, vm, prefix)).lineParent;
}

/**
 * The VM's latest backup (same name and, when known, UUID: as unchanged.ts's previousBackup)
 * and its line parent, from one listing: a backup reads the repository's manifests once.
 */
export async function vmHistory(
  repo: Repository,
  vm: { name: string; uuid: string },
  prefix: string,
): Promise<{ latest: Manifest | undefined; lineParent: Manifest | undefined }> {
  const { backups } = await repo.listBackups();
  const mine = backups
    .map((b) => b.manifest)
    .filter((m) => m.vm.name === vm.name && (m.vm.uuid ?? vm.uuid) === vm.uuid);
  return {
    latest: mine.at(-1),
    lineParent: mine
      .filter((m) => sequenceOf(prefix, liveRecord(m)?.checkpoint ?? '') !== undefined)
      .at(-1),
  };
}

export interface LinePlan {
  prefix: string;
  parent: Manifest | undefined;
  /** The VM's latest backup, of this line or not (the writer's parent when no disk is incremental). */
  latest: Manifest | undefined;
  parentCheckpoint: DomainCheckpoint | undefined;
  /** The new checkpoint's name and sequence. */
  checkpoint: string;
  sequence: number;
  /** The line's checkpoints defined on the VM now (deleted once the new backup is committed). */
  older: DomainCheckpoint[];
  disks: DiskDecision[];
}

/**
 * Decides, disk by disk, whether the parent's checkpoint can be trusted.
 * Checks: the checkpoint exists and QEMU accounts for its bitmaps; each disk
 * has a bitmap in it; the disk was in the parent backup with the same image
 * file and size; the parent's index is readable; no garbage collection plan
 * is pending. Snapshots are no reason: a revert needs the checkpoints gone
 * first (docs/live-backups.md), which the `checkpoint-missing` check catches.
 */
export async function planLine(
  domain: Domain,
  repo: Repository,
  disks: LiveDisk[],
): Promise<LinePlan> {
  const prefix = linePrefix(repo.config.id);
  // The repository's listing and libvirt's, at once.
  const [history, all] = await Promise.all([
    vmHistory(repo, { name: domain.name, uuid: domain.uuid }, prefix),
    domain.listCheckpoints(),
  ]);
  const parent = history.lineParent;
  const older = all.filter((c) => sequenceOf(prefix, c.name) !== undefined);
  const record = parent ? liveRecord(parent) : undefined;
  const sequence =
    Math.max(0, record?.sequence ?? 0, ...older.map((c) => sequenceOf(prefix, c.name)!)) + 1;

  // Reasons that concern every disk at once.
  let common: ReadReason | undefined;
  let parentCheckpoint: DomainCheckpoint | undefined;
  let bitmaps = new Map<string, string>();
  if (!parent || !record) common = 'first';
  else {
    parentCheckpoint = older.find((c) => c.name === record.checkpoint);
    if (!parentCheckpoint) {
      // Metadata lost, bitmaps perhaps still there (the VM undefined and defined again).
      parentCheckpoint = await redefineFromBitmaps(domain, parent, record, disks);
      if (parentCheckpoint) older.push(parentCheckpoint);
    }
    if (!parentCheckpoint) common = 'checkpoint-missing';
    else {
      try {
        // With SIZE, libvirt asks QEMU about every bitmap: a missing or broken one fails here.
        const xml = await parentCheckpoint.xml(CheckpointXml.SIZE | CheckpointXml.NO_DOMAIN);
        bitmaps = readCheckpointXml(xml).bitmaps;
      } catch {
        common = 'bitmap-invalid';
      }
    }
    if (!common && (await repo.doomedPacks()).size > 0) common = 'gc-pending';
  }

  const decisions: DiskDecision[] = [];
  for (const d of disks) {
    const bitmap = d.format === 'qcow2';
    const full = (reason: ReadReason): void => {
      decisions.push({ target: d.target, read: 'full', reason, bitmap });
    };
    if (!bitmap) {
      full('raw-no-bitmap');
      continue;
    }
    if (common) {
      full(common);
      continue;
    }
    const before = parent!.disks.find((x) => x.name === d.target);
    if (!before) {
      full('new-disk');
      continue;
    }
    if (!bitmaps.has(d.target)) {
      full('no-bitmap-in-checkpoint');
      continue;
    }
    if ((record!.disks[d.target]?.source ?? null) !== (d.source ?? null)) {
      full('image-changed');
      continue;
    }
    if (before.virtualSize !== d.capacity) {
      full('resized');
      continue;
    }
    if (!(await parentIndexReadable(repo, parent!.id, d.target))) {
      full('parent-index-unreadable');
      continue;
    }
    decisions.push({ target: d.target, read: 'incremental', reason: 'incremental', bitmap });
  }
  return {
    prefix,
    parent,
    latest: history.latest,
    parentCheckpoint,
    checkpoint: `${prefix}${sequence}`,
    sequence,
    older,
    disks: decisions,
  };
}

export async function parentIndexReadable(
  repo: Repository,
  id: string,
  disk: string,
): Promise<boolean> {
  try {
    // Opening checks the whole fixed index against the manifest's hash.
    const r = await BackupDisk.open(repo, id, disk, { lock: false });
    await r.close();
    return true;
  } catch {
    return false;
  }
}
