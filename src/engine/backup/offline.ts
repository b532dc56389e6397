/**
 * Offline incremental (docs/offline-incremental.md): a shut-off VM's qcow2
 * disks keep the persistent bitmap of the line's latest checkpoint; a cold
 * backup reads it natively (src/image/qcow2-bitmaps.ts) and reads only what
 * it marks dirty. Every doubt reads that disk whole, with the reason. After
 * the commit, and before the VM may run again, each qcow2 disk gets a fresh
 * bitmap and the VM a checkpoint of the line (libvirt only REDEFINEs
 * checkpoints of an inactive domain), so the next backup, cold or live, is
 * incremental again.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CheckpointCreate, CheckpointDelete, type Domain } from '../../libvirt/index.js';
import type { DomainCheckpoint } from '../../libvirt/index.js';
import { readDirtyRanges, readQcow2Bitmaps, type DirtyRange } from '../../image/index.js';
import type { Manifest, Repository } from '../../repo/index.js';
import {
  vmHistory,
  linePrefix,
  liveRecord,
  parentIndexReadable,
  sequenceOf,
  type LiveRecord,
  type ReadReason,
} from './live/line.js';
import { readCheckpointXml } from './live/xml.js';

const run = promisify(execFile);

export interface OfflineDisk {
  target: string;
  format: string | undefined;
  source: string;
}

export interface OfflineDecision {
  target: string;
  read: 'incremental' | 'full';
  reason: ReadReason;
  /** Keeps a bitmap in the new checkpoint (qcow2). */
  bitmap: boolean;
  /** Incremental: the ranges the bitmap marks dirty. */
  ranges?: DirtyRange[];
}

export interface OfflinePlan {
  prefix: string;
  parent: Manifest | undefined;
  parentCheckpoint: string | null;
  parentSequence: number | null;
  checkpoint: string;
  sequence: number;
  older: DomainCheckpoint[];
  disks: OfflineDecision[];
}

/** What libvirt and the repository say about the line, gathered before the VM is stopped. */
export interface LineFacts {
  prefix: string;
  parent: Manifest | undefined;
  /** The VM's latest backup, of this line or not (read in the same listing). */
  latest: Manifest | undefined;
  record: LiveRecord | undefined;
  listed: boolean;
  older: DomainCheckpoint[];
  sequence: number;
  common: ReadReason | undefined;
  bitmaps: Map<string, string>;
}

/**
 * The libvirt side of the plan: asked before the shutdown, so that between
 * the VM going off and the commit only the image files are read (a backup
 * interrupted there needs nothing from libvirt).
 */
export async function lineFacts(
  domain: Domain,
  repo: Repository,
  images: 'local' | 'remote' = 'local',
): Promise<LineFacts> {
  const prefix = linePrefix(repo.config.id);
  const history = await vmHistory(repo, { name: domain.name, uuid: domain.uuid }, prefix);
  const parent = history.lineParent;
  // A hypervisor without checkpoints (libvirt's test driver): no line, every disk read whole.
  // Nor on a remote host: the bitmaps are read natively from local image files (not over ssh).
  const listed =
    images === 'local' ? await domain.listCheckpoints().catch(() => undefined) : undefined;
  const older = (listed ?? []).filter((c) => sequenceOf(prefix, c.name) !== undefined);
  const record = parent ? liveRecord(parent) : undefined;
  const sequence =
    Math.max(0, record?.sequence ?? 0, ...older.map((c) => sequenceOf(prefix, c.name)!)) + 1;

  let common: ReadReason | undefined;
  let bitmaps = new Map<string, string>();
  if (!listed) common = 'checkpoint-missing';
  else if (!parent || !record) common = 'first';
  else {
    const cp = older.find((c) => c.name === record.checkpoint);
    if (!cp) common = 'checkpoint-missing';
    else {
      // No SIZE: libvirt cannot ask a QEMU that is not running; planOffline reads the images.
      bitmaps = readCheckpointXml(await cp.xml()).bitmaps;
    }
    if (!common && (await domain.snapshotCount()) > 0) common = 'snapshots-present';
    if (!common && (await repo.doomedPacks()).size > 0) common = 'gc-pending';
  }
  return {
    prefix,
    parent,
    latest: history.latest,
    record,
    listed: listed !== undefined,
    older,
    sequence,
    common,
    bitmaps,
  };
}

/** Decides, disk by disk, whether the line's latest bitmap can be trusted (see the docs' rules). */
export async function planOffline(
  facts: LineFacts,
  repo: Repository,
  disks: OfflineDisk[],
  reread: boolean,
): Promise<OfflinePlan> {
  const { prefix, parent, record, older, sequence, bitmaps } = facts;
  const listed = facts.listed;
  const common: ReadReason | undefined = listed && reread ? 'reread' : facts.common;

  const decisions: OfflineDecision[] = [];
  for (const d of disks) {
    const bitmap = d.format === 'qcow2' && listed;
    const reason =
      d.format !== 'qcow2'
        ? 'raw-no-bitmap'
        : (common ?? (await diskDoubt(repo, parent!, record!, bitmaps, d)));
    if (typeof reason === 'string') {
      decisions.push({ target: d.target, read: 'full', reason, bitmap });
    } else {
      decisions.push({
        target: d.target,
        read: 'incremental',
        reason: 'incremental',
        bitmap,
        ...reason,
      });
    }
  }
  return {
    prefix,
    parent,
    parentCheckpoint: record?.checkpoint ?? null,
    parentSequence: record?.sequence ?? null,
    checkpoint: `${prefix}${sequence}`,
    sequence,
    older,
    disks: decisions,
  };
}

/** Why one qcow2 disk cannot be read incrementally, or its dirty ranges. */
async function diskDoubt(
  repo: Repository,
  parent: Manifest,
  record: LiveRecord,
  bitmaps: Map<string, string>,
  d: OfflineDisk,
): Promise<ReadReason | { ranges: DirtyRange[] }> {
  const before = parent.disks.find((x) => x.name === d.target);
  if (!before) return 'new-disk';
  const name = bitmaps.get(d.target);
  if (name === undefined) return 'no-bitmap-in-checkpoint';
  if ((record.disks[d.target]?.source ?? null) !== d.source) return 'image-changed';
  let dir;
  try {
    dir = await readQcow2Bitmaps(d.source);
  } catch {
    return 'bitmap-invalid';
  }
  if (dir.virtualSize !== before.virtualSize) return 'resized';
  const b = dir.bitmaps.find((x) => x.name === name);
  if (!b) return 'bitmap-missing';
  if (b.inUse || dir.imageDirty) return 'bitmap-in-use';
  if (!b.auto) return 'bitmap-disabled';
  if (!dir.consistent) return 'bitmap-invalid';
  if (!(await parentIndexReadable(repo, parent.id, d.target))) return 'parent-index-unreadable';
  try {
    const got = await readDirtyRanges(d.source, name);
    return got ? { ranges: got.ranges } : 'bitmap-missing';
  } catch {
    return 'bitmap-invalid';
  }
}

/**
 * When every bitmap disk was read incrementally and nothing was dirty, the
 * backup holds exactly the parent's data: it keeps the parent's checkpoint
 * (and bitmaps) as its own and touches no image file, so the next backup can
 * still find the files unmodified (unchanged.ts). Otherwise the plan as made.
 */
export function keepParentCheckpoint(plan: OfflinePlan): OfflinePlan & { kept: boolean } {
  const withBitmap = plan.disks.filter((d) => d.bitmap);
  const clean =
    plan.parentCheckpoint !== null &&
    plan.parentSequence !== null &&
    withBitmap.length > 0 &&
    withBitmap.every((d) => d.read === 'incremental' && d.ranges?.length === 0);
  return clean
    ? {
        ...plan,
        checkpoint: plan.parentCheckpoint!,
        sequence: plan.parentSequence!,
        older: [],
        kept: true,
      }
    : { ...plan, kept: false };
}

/** The line record a cold backup writes into its manifest (the same as a live backup's). */
export function offlineRecord(
  plan: OfflinePlan,
  disks: OfflineDisk[],
  readBytes: Map<string, number>,
): LiveRecord {
  const incremental = plan.disks.some((d) => d.read === 'incremental');
  return {
    checkpoint: plan.checkpoint,
    sequence: plan.sequence,
    parentCheckpoint: incremental ? plan.parentCheckpoint : null,
    disks: Object.fromEntries(
      plan.disks.map((d) => [
        d.target,
        {
          read: d.read,
          reason: d.reason,
          readBytes: readBytes.get(d.target) ?? 0,
          source: disks.find((x) => x.target === d.target)!.source,
        },
      ]),
    ),
  };
}

function e(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/'/g, '&apos;');
}

/**
 * Leaves the new checkpoint on the shut-off VM: an empty enabled bitmap in
 * each qcow2 disk, the checkpoint redefined around them, then the line's
 * older checkpoints deleted (metadata only: libvirt refuses more on an
 * inactive domain) with their bitmaps. Returns the deleted checkpoints.
 */
export async function leaveCheckpoint(
  domain: Domain,
  plan: OfflinePlan,
  disks: OfflineDisk[],
): Promise<string[]> {
  const withBitmap = plan.disks.filter((d) => d.bitmap);
  const source = (t: string): string => disks.find((x) => x.target === t)!.source;
  for (const d of withBitmap) {
    const src = source(d.target);
    // A leftover of the same name (a failed earlier attempt) would count from its own start.
    const existing = await readQcow2Bitmaps(src);
    if (existing.bitmaps.some((b) => b.name === plan.checkpoint))
      await run('qemu-img', ['bitmap', '--remove', src, plan.checkpoint]);
    await run('qemu-img', ['bitmap', '--add', src, plan.checkpoint]);
  }
  const lines = plan.disks.map((d) =>
    d.bitmap
      ? `    <disk name='${e(d.target)}' checkpoint='bitmap' bitmap='${e(plan.checkpoint)}'/>`
      : `    <disk name='${e(d.target)}' checkpoint='no'/>`,
  );
  await domain.createCheckpoint(
    `<domaincheckpoint>\n  <name>${e(plan.checkpoint)}</name>\n` +
      `  <description>brankas cold backup: the next incremental of this line counts from here</description>\n` +
      `  <creationTime>${Math.floor(Date.now() / 1000)}</creationTime>\n` +
      `  <disks>\n${lines.join('\n')}\n  </disks>\n</domaincheckpoint>\n`,
    CheckpointCreate.REDEFINE,
  );
  const deleted: string[] = [];
  for (const c of plan.older) {
    if (c.name === plan.checkpoint) continue;
    try {
      await c.delete(CheckpointDelete.METADATA_ONLY);
      deleted.push(c.name);
    } catch {
      // Already gone; a leftover is deleted by the next backup of the line.
    }
    for (const d of withBitmap) {
      const src = source(d.target);
      const dir = await readQcow2Bitmaps(src).catch(() => undefined);
      if (dir?.bitmaps.some((b) => b.name === c.name))
        await run('qemu-img', ['bitmap', '--remove', src, c.name]).catch(() => undefined);
    }
  }
  return deleted;
}
