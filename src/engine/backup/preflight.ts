/**
 * `brankas backup VM --dry-run`: what a backup would do, found without
 * touching the VM or writing to the repository. The mode auto would choose;
 * per disk what would be read and why: for an incremental disk the size
 * libvirt gives for its dirty bitmap since the parent's checkpoint, for a
 * disk read whole its allocated data (from the image's allocation map), for
 * a cold disk whose files are unchanged since the previous backup nothing;
 * the consistency available (the guest agent is pinged, nothing frozen); an
 * estimate of the new data and the time from the VM's previous backups in
 * the repository; and the free space where a local repository lives.
 */
import { statfs } from 'node:fs/promises';
import { DomainXml, CheckpointXml, readDomainXml, type Connection } from '../../libvirt/index.js';
import { imageInfo } from '../../image/index.js';
import type { Manifest, Repository } from '../../repo/index.js';
import { attr, child, children, parseXml } from '../../util/xml.js';
import { EngineError } from '../errors.js';
import { findVm } from '../snapshot/tree.js';
import { planFreeze, type Consistency, type FreezePlan } from './live/freeze.js';
import { liveRecord, planLine, type LiveDisk, type ReadReason } from './live/line.js';
import { fileStates, previousBackup, unchangedSince } from './unchanged.js';
import type { BackupMode } from './backup.js';

export interface PreflightDisk {
  target: string;
  format: string | null;
  capacity: number;
  read: 'incremental' | 'full' | 'unchanged';
  /** Live: why it is read as it is (line.ts); cold: 'cold', or 'unchanged' when not read. */
  reason: ReadReason | 'cold' | 'unchanged';
  /** Bytes it would read (null: cannot be told, e.g. the image is not readable from here). */
  readBytes: number | null;
}

export interface BackupPreflight {
  vm: string;
  state: string;
  mode: 'live' | 'cold';
  /** Live: what the guest agent allows now; cold: the VM is shut down first. */
  consistency: Consistency | 'shutdown';
  consistencyReason: FreezePlan['reason'] | null;
  /** Cold: whether the VM would be shut down (and started again) for it. */
  shutdown: boolean;
  /** Live: the checkpoint it would make, and the one it would count from. */
  checkpoint: string | null;
  parentCheckpoint: string | null;
  disks: PreflightDisk[];
  /** Sum of the disks' readBytes (null when one is unknown). */
  readBytes: number | null;
  estimate: {
    /** New data stored, from the share of read bytes the previous backups stored as new. */
    newStoredBytes: number | null;
    seconds: number | null;
    /** How many previous backups of the VM the estimate rests on (0: no estimate). */
    basedOn: number;
  };
  repository: { location: string; freeBytes: number | null };
}

/** How many of the VM's latest backups the estimate looks at. */
const HISTORY = 5;

export async function backupPreflight(
  conn: Connection,
  repo: Repository,
  vmName: string,
  o: { mode?: BackupMode; reread?: boolean } = {},
): Promise<BackupPreflight> {
  const vm = await findVm(conn, vmName);
  const { state } = await vm.state();
  const running = state === 'running' || state === 'paused';
  const mode = (o.mode ?? 'auto') === 'auto' ? (running ? 'live' : 'cold') : o.mode!;
  const base = {
    vm: vm.name,
    state,
    repository: { location: repo.backend.location, freeBytes: await freeBytes(repo) },
  };
  let plan: Omit<BackupPreflight, 'estimate' | 'readBytes' | keyof typeof base>;
  if (mode === 'live') {
    if (!running) {
      throw new EngineError(
        'BACKUP_LIVE_NOT_RUNNING',
        `VM '${vm.name}' is ${state}: a live backup needs it running (use --mode cold or auto)`,
        { details: { vm: vm.name, state } },
      );
    }
    const liveXml = await vm.xml();
    const disks: LiveDisk[] = [];
    for (const d of readDomainXml(liveXml).disks) {
      if (d.device !== 'disk' || d.source === undefined) continue;
      const info = await vm.blockInfo(d.target);
      disks.push({ ...d, capacity: Number(info.capacity) });
    }
    const line = await planLine(vm, repo, disks);
    const sizes = line.parentCheckpoint
      ? await line.parentCheckpoint
          .xml(CheckpointXml.SIZE | CheckpointXml.NO_DOMAIN)
          .then(checkpointSizes, () => new Map<string, number>())
      : new Map<string, number>();
    const freeze = await planFreeze(vm, liveXml);
    const out: PreflightDisk[] = [];
    for (const d of line.disks) {
      const spec = disks.find((x) => x.target === d.target)!;
      const incremental = d.read === 'incremental' && !o.reread;
      out.push({
        target: d.target,
        format: spec.format ?? null,
        capacity: spec.capacity,
        read: incremental ? 'incremental' : 'full',
        reason: o.reread && d.read === 'incremental' ? 'reread' : d.reason,
        readBytes: incremental
          ? (sizes.get(d.target) ?? null)
          : await dataBytes(spec.source, spec.format),
      });
    }
    plan = {
      mode,
      // Pinged only: whether the freeze itself works is known at the backup.
      consistency: freeze.reason ? 'crash-consistent' : 'application-consistent',
      consistencyReason: freeze.reason ?? null,
      shutdown: false,
      checkpoint: line.checkpoint,
      parentCheckpoint: line.disks.some((d) => d.read === 'incremental')
        ? (line.parentCheckpoint?.name ?? null)
        : null,
      disks: out,
    };
  } else {
    const previous = o.reread
      ? undefined
      : await previousBackup(repo, { name: vm.name, uuid: vm.uuid });
    const out: PreflightDisk[] = [];
    for (const d of readDomainXml(await vm.xml(DomainXml.INACTIVE)).disks) {
      if (d.device !== 'disk' || d.source === undefined) continue;
      const info = await imageInfo(d.source).catch(() => undefined);
      const chain = info?.backingChain.map((l) => l.path) ?? [];
      // A running VM's files change until it is shut down: only a shut-off one's can be unchanged.
      const states = info && !running ? await fileStates([d.source, ...chain]) : undefined;
      const same = unchangedSince(previous, d.target, states);
      out.push({
        target: d.target,
        format: d.format ?? info?.format ?? null,
        capacity: info?.virtualSize ?? 0,
        read: same ? 'unchanged' : 'full',
        reason: same ? 'unchanged' : 'cold',
        readBytes: same ? 0 : (info?.dataSize ?? null),
      });
    }
    plan = {
      mode: 'cold',
      consistency: 'shutdown',
      consistencyReason: null,
      shutdown: running,
      checkpoint: null,
      parentCheckpoint: null,
      disks: out,
    };
  }
  const readBytes = plan.disks.some((d) => d.readBytes === null)
    ? null
    : plan.disks.reduce((n, d) => n + d.readBytes!, 0);
  return { ...base, ...plan, readBytes, estimate: await estimate(repo, vm, readBytes) };
}

/** Bytes libvirt says each disk's bitmap marks changed since the checkpoint (`size`). */
export function checkpointSizes(xml: string): Map<string, number> {
  const sizes = new Map<string, number>();
  const disks = child(parseXml(xml, 'checkpoint XML').documentElement!, 'disks');
  for (const d of disks ? children(disks, 'disk') : []) {
    const name = attr(d, 'name');
    const size = Number(attr(d, 'size'));
    if (name && attr(d, 'size') !== undefined && Number.isFinite(size)) sizes.set(name, size);
  }
  return sizes;
}

async function dataBytes(
  source: string | undefined,
  format: string | undefined,
): Promise<number | null> {
  if (!source) return null;
  const opts = format === 'raw' || format === 'qcow2' ? { format: format as 'raw' | 'qcow2' } : {};
  return imageInfo(source, opts).then(
    (i) => i.dataSize,
    () => null,
  );
}

async function freeBytes(repo: Repository): Promise<number | null> {
  // A local repository is a directory; other backends do not say.
  if (!repo.backend.location.startsWith('/')) return null;
  return statfs(repo.backend.location).then(
    (s) => Number(s.bavail) * Number(s.bsize),
    () => null,
  );
}

/** Bytes a backup read, as recorded: the live record's, else its disks' allocated data. */
function readOf(m: Manifest): number {
  const live = liveRecord(m);
  if (live) return Object.values(live.disks).reduce((n, d) => n + d.readBytes, 0);
  return m.disks.reduce((n, d) => n + d.dataBytes, 0);
}

async function estimate(
  repo: Repository,
  vm: { name: string; uuid: string },
  readBytes: number | null,
): Promise<BackupPreflight['estimate']> {
  const { backups } = await repo.listBackups();
  const past = backups
    .map((b) => b.manifest)
    .filter((m) => m.vm.name === vm.name && (m.vm.uuid ?? vm.uuid) === vm.uuid)
    .slice(-HISTORY);
  let read = 0;
  let stored = 0;
  let ms = 0;
  for (const m of past) {
    read += readOf(m);
    stored += m.disks.reduce((n, d) => n + d.newStoredBytes, 0);
    ms += Math.max(0, Date.parse(m.finishedAt) - Date.parse(m.startedAt));
  }
  if (past.length === 0 || readBytes === null || read === 0) {
    return { newStoredBytes: null, seconds: null, basedOn: 0 };
  }
  return {
    newStoredBytes: Math.round((readBytes * stored) / read),
    seconds: ms > 0 ? Math.round((readBytes * ms) / read / 100) / 10 : null,
    basedOn: past.length,
  };
}
