/**
 * `brankas doctor`, the plan: what a crash, a kill or a hand edit left behind
 * on the host's VMs, found without changing anything. Per VM: a brankas
 * backup job still running with no brankas behind it (and its NBD export),
 * a guest left frozen, the job's directory (socket, scratch files), and the
 * checkpoints of this repository's line that no backup needs any more (only
 * the latest backup's checkpoint is ever counted from), and persistent
 * bitmaps in its images that no checkpoint names (bitmaps.ts). Host-wide: job
 * directories of VMs that are gone, or that no job uses (on the connection's
 * host, over ssh for a `qemu+ssh://` one: job-dirs.ts). VMs a gone job left
 * shut off come from the service's journal, handed in by the caller. VMs
 * another job is working on are left alone. fix.ts carries the plan out.
 */
import type { Connection, Domain } from '../../libvirt/index.js';
import type { Repository } from '../../repo/index.js';
import { brankasJob, guestFrozen } from '../backup/live/leftovers.js';
import { errorCode } from '../../util/errors.js';
import type { DataHost } from '../remote/host.js';
import { findOrphanBitmaps, isBrankasBitmap, type OrphanBitmap } from './bitmaps.js';
import { jobDirHost, listJobDirs, type FoundDir } from './job-dirs.js';
import { lineParent, linePrefix, liveRecord, sequenceOf } from '../backup/live/line.js';

/** A VM a job that is gone powered off and never started again (from the job journal). */
export interface LeftOff {
  vm: string;
  uuid: string;
  /** The state to go back to: running or paused. */
  initial: string;
  /** The gone job: its kind, process and when it stopped the VM. */
  job: string;
  pid: number;
  at: string;
}

export type DoctorFinding =
  /** A brankas backup job (pull mode, NBD export) runs on the VM with no brankas behind it. */
  | { kind: 'backup-job'; vm: string; dir: string }
  /** The guest's filesystems are frozen and a killed live backup is why. */
  | { kind: 'frozen-guest'; vm: string }
  /** A live job's private directory (NBD socket, scratch files) no job uses. */
  | {
      kind: 'work-dir';
      vm: string | null;
      path: string;
      reason: 'killed-job' | 'vm-gone' | 'unknown-job';
    }
  /** A checkpoint of this repository's line no backup counts from. */
  | {
      kind: 'orphan-checkpoint';
      vm: string;
      checkpoint: string;
      /** Not in any backup (a killed one's, or its backup was deleted), or an older backup's. */
      reason: 'not-in-repository' | 'superseded';
    }
  /** A persistent bitmap brankas made that no checkpoint of the VM names (bitmaps.ts). */
  | ({ kind: 'orphan-bitmap' } & OrphanBitmap)
  /** A VM a gone job left shut off: started again (paused again when it was found paused). */
  | ({ kind: 'left-shut-off' } & LeftOff);

export interface DoctorPlan {
  findings: DoctorFinding[];
  /** VMs another job is working on now: not looked at. */
  busy: string[];
  /** Whether checkpoints were checked against a repository. */
  checkpointsChecked: boolean;
  /** Bitmaps no checkpoint names that another tool made: listed, never removed. */
  foreignBitmaps: OrphanBitmap[];
}

export interface DoctorOptions {
  /** Only this VM (host-wide leftovers are then not looked at). */
  vm?: string;
  /** Where live jobs make their directories (default /var/tmp). */
  workRoot?: string;
  /** Whether another job is working on the VM now. */
  busy?: (vm: string) => Promise<boolean>;
  /** VMs gone jobs left shut off (the service's journal). */
  leftOff?: LeftOff[];
}

/** A directory without a marker this young may be a job being set up now: left alone. */
const UNMARKED_GRACE_MS = 60_000;

export async function planDoctor(
  conn: Connection,
  repo: Repository | undefined,
  o: DoctorOptions = {},
): Promise<DoctorPlan> {
  const all = await conn.listDomains();
  const domains = o.vm === undefined ? all : all.filter((d) => d.name === o.vm);
  // On this machine, or over ssh on the connection's host (job-dirs.ts).
  const host = jobDirHost(conn);
  const dirs = await listJobDirs(host, o.workRoot);
  const plan: DoctorPlan = {
    findings: [],
    busy: [],
    checkpointsChecked: repo !== undefined,
    foreignBitmaps: [],
  };
  const jobDirs = new Set<string>();
  for (const vm of domains) {
    const job = await brankasJob(vm);
    if (job) jobDirs.add(job.dir);
    if (await o.busy?.(vm.name)) {
      plan.busy.push(vm.name);
      continue;
    }
    plan.findings.push(...(await planVm(vm, repo, dirs, job?.dir)));
    for (const b of await bitmapsOf(vm, host)) {
      if (isBrankasBitmap(b.bitmap)) plan.findings.push({ kind: 'orphan-bitmap', ...b });
      else plan.foreignBitmaps.push(b);
    }
  }
  for (const l of o.leftOff ?? []) {
    if (plan.busy.includes(l.vm) || (o.vm !== undefined && l.vm !== o.vm)) continue;
    plan.findings.push({ kind: 'left-shut-off', ...l });
  }
  if (o.vm === undefined) plan.findings.push(...hostWide(all, dirs, jobDirs));
  return plan;
}

async function planVm(
  vm: Domain,
  repo: Repository | undefined,
  dirs: FoundDir[],
  jobDir: string | undefined,
): Promise<DoctorFinding[]> {
  const out: DoctorFinding[] = [];
  const own = dirs.filter((d) => d.marker?.uuid === vm.uuid || d.path === jobDir);
  if (jobDir !== undefined) out.push({ kind: 'backup-job', vm: vm.name, dir: jobDir });
  // A guest frozen while nothing of brankas is left is none of its doing: left alone.
  if ((jobDir !== undefined || own.length > 0) && (await guestFrozen(vm, await vm.xml()))) {
    out.push({ kind: 'frozen-guest', vm: vm.name });
  }
  for (const d of own)
    out.push({ kind: 'work-dir', vm: vm.name, path: d.path, reason: 'killed-job' });
  if (repo) out.push(...(await orphanCheckpoints(vm, repo)));
  return out;
}

/**
 * libvirt's answers that mean "cannot say" rather than a failure: a driver without QEMU (the
 * test driver), QMP passthrough not allowed to this user, the VM stopped meanwhile.
 */
const CANNOT_SAY = new Set([
  'LIBVIRT_NO_SUPPORT',
  'LIBVIRT_ACCESS_DENIED',
  'LIBVIRT_OPERATION_DENIED',
  'LIBVIRT_OPERATION_INVALID',
]);

/** Orphan bitmaps; none where libvirt cannot say. */
async function bitmapsOf(vm: Domain, host: DataHost | undefined): Promise<OrphanBitmap[]> {
  try {
    return await findOrphanBitmaps(vm, host);
  } catch (err) {
    if (CANNOT_SAY.has(errorCode(err) ?? '')) return [];
    throw err;
  }
}

/** This repository's line checkpoints on the VM other than the latest backup's. */
async function orphanCheckpoints(vm: Domain, repo: Repository): Promise<DoctorFinding[]> {
  const prefix = linePrefix(repo.config.id);
  const mine = (await vm.listCheckpoints()).filter((c) => sequenceOf(prefix, c.name) !== undefined);
  if (mine.length === 0) return [];
  const parent = await lineParent(repo, { name: vm.name, uuid: vm.uuid }, prefix);
  const keep = parent ? liveRecord(parent)?.checkpoint : undefined;
  const recorded = new Set(
    (await repo.listBackups()).backups
      .map((b) => liveRecord(b.manifest)?.checkpoint)
      .filter((c) => c !== undefined),
  );
  return mine
    .filter((c) => c.name !== keep)
    .map((c) => ({
      kind: 'orphan-checkpoint' as const,
      vm: vm.name,
      checkpoint: c.name,
      reason: recorded.has(c.name) ? ('superseded' as const) : ('not-in-repository' as const),
    }));
}

/** Job directories no VM's job uses: their VM is gone, or they name none (old enough). */
function hostWide(all: Domain[], dirs: FoundDir[], jobDirs: Set<string>): DoctorFinding[] {
  const uuids = new Set(all.map((d) => d.uuid));
  const out: DoctorFinding[] = [];
  for (const d of dirs) {
    if (jobDirs.has(d.path)) continue;
    if (d.marker) {
      if (!uuids.has(d.marker.uuid)) {
        out.push({ kind: 'work-dir', vm: d.marker.vm, path: d.path, reason: 'vm-gone' });
      }
      continue;
    }
    if (d.ageMs > UNMARKED_GRACE_MS) {
      out.push({ kind: 'work-dir', vm: null, path: d.path, reason: 'unknown-job' });
    }
  }
  return out;
}
