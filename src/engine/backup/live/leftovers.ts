/**
 * What a live backup killed outright (SIGKILL, a crash, a power cut of the
 * host's brankas only) leaves behind, and its removal: libvirt's backup job
 * still running with its NBD export, the job's private directory (socket,
 * scratch files) and, when it died in the instant between freeze and thaw, a
 * guest with frozen filesystems. Each job's directory carries a small marker
 * (job.json) naming the VM, so leftovers are told apart from another VM's
 * running job. The caller must hold the VM's job lock (no other brankas is
 * working on it): under it, any brankas job or directory of the VM is a
 * leftover. The checkpoint a killed job made needs nothing here: the line
 * (line.ts) counts past it and deletes it after the next commit.
 */
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isInternalError, type Domain, type JobInfo } from '../../../libvirt/index.js';
import { AGENT_CHANNEL } from '../../guest/agent-shell.js';

/** Where live jobs make their private directory unless told otherwise (QEMU must reach it). */
export const DEFAULT_WORK_ROOT = '/var/tmp';
export const WORK_DIR_PREFIX = 'brankas-live-';
const MARKER = 'job.json';

/** virDomainJobType VIR_DOMAIN_JOB_NONE. */
const JOB_NONE = 0;
/** How long libvirt gets to tear an aborted job down (a deadline; normally well under a second). */
const ABORT_DEADLINE_MS = 60_000;
/** How long libvirt gets to finish setting a job up before it can say what it is (a deadline). */
const SETTLE_DEADLINE_MS = 30_000;
const POLL_MS = 100;

export interface JobMarker {
  vm: string;
  uuid: string;
  pid: number;
  checkpoint: string | null;
  startedAt: string;
}

/**
 * A marker's text as a marker, or null: one left empty or cut short (a process killed while
 * writing it) names no VM, and must not stop the next job listing the directories (it threw).
 */
export function parseMarker(text: string): JobMarker | null {
  try {
    const m = JSON.parse(text) as JobMarker;
    return m && typeof m.uuid === 'string' ? m : null;
  } catch {
    return null;
  }
}

export async function writeMarker(dir: string, m: JobMarker): Promise<void> {
  await writeFile(join(dir, MARKER), JSON.stringify(m) + '\n', { mode: 0o600 });
}

export interface WorkDir {
  path: string;
  /** Its marker; null when there is none or it cannot be read (killed before it was written). */
  marker: JobMarker | null;
}

/** Every live job directory under `workRoot`. */
export async function workDirs(workRoot = DEFAULT_WORK_ROOT): Promise<WorkDir[]> {
  const names = await readdir(workRoot).catch(() => [] as string[]);
  const out: WorkDir[] = [];
  for (const name of names.filter((n) => n.startsWith(WORK_DIR_PREFIX)).sort()) {
    const path = join(workRoot, name);
    const marker = await readFile(join(path, MARKER), 'utf8').then(parseMarker, () => null);
    out.push({ path, marker });
  }
  return out;
}

/**
 * The domain's job info, once libvirt can say. While a backup job is being set up (a killed
 * brankas's backup-begin goes on in libvirtd without it) libvirt answers an error ("backup job
 * data missing") instead: taking that for "no job" let the next backup remove the job's
 * directory under it, QEMU's nbd-server-start then failed, and libvirtd's error path for it
 * crashed the daemon (libvirt 9.0, a CI run on 2026-12-06). Asked again until it answers, the
 * domain stops running, or a deadline passes (then undefined, as before).
 */
export async function settledJobInfo(domain: Domain): Promise<JobInfo | undefined> {
  const deadline = Date.now() + SETTLE_DEADLINE_MS;
  for (;;) {
    try {
      return await domain.jobInfo();
    } catch (err) {
      // Other failures (a driver without job info, the daemon gone) are "cannot say" at once.
      if (!isInternalError(err) || Date.now() >= deadline) return undefined;
      if (!(await domain.isActive().catch(() => false))) return undefined;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }
}

/** The brankas backup job running on the domain: its socket's directory, or undefined. */
export async function brankasJob(domain: Domain): Promise<{ dir: string } | undefined> {
  const info = await settledJobInfo(domain);
  if (!info || info.type === JOB_NONE) return undefined;
  const xml = await domain.backupXml().catch(() => undefined);
  const socket = xml && /<server[^>]*\ssocket=['"]([^'"]+)['"]/.exec(xml)?.[1];
  if (!socket) return undefined;
  const dir = dirname(socket);
  return basename(dir).startsWith(WORK_DIR_PREFIX) ? { dir } : undefined;
}

/** Aborts the domain's running job and waits (by a deadline) until libvirt has torn it down. */
export async function abortJob(domain: Domain): Promise<void> {
  await domain.abortJob().catch(() => undefined);
  const deadline = Date.now() + ABORT_DEADLINE_MS;
  while (Date.now() < deadline) {
    const info = await settledJobInfo(domain);
    if (!info || info.type === JOB_NONE) return;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Whether the guest agent says the guest's filesystems are frozen (false when it cannot say). */
export async function guestFrozen(domain: Domain, liveXml: string): Promise<boolean> {
  if (!liveXml.includes(AGENT_CHANNEL)) return false;
  try {
    const out = await domain.agentCommand(JSON.stringify({ execute: 'guest-fsfreeze-status' }), 5);
    return (JSON.parse(out) as { return?: unknown }).return === 'frozen';
  } catch {
    return false;
  }
}

export interface LiveLeftovers {
  /** The directory of a brankas backup job still running on the VM. */
  job: string | null;
  /** Job directories of this VM (with the running job's, if any). */
  dirs: string[];
  /** The guest's filesystems are frozen while a leftover exists (killed between freeze and thaw). */
  frozen: boolean;
}

/** What killed live backups left on this VM. Changes nothing. */
export async function findLeftovers(domain: Domain, workRoot?: string): Promise<LiveLeftovers> {
  const job = await brankasJob(domain);
  const dirs = (await workDirs(workRoot))
    .filter((d) => d.marker?.uuid === domain.uuid || d.path === job?.dir)
    .map((d) => d.path);
  if (job && !dirs.includes(job.dir)) dirs.push(job.dir);
  const any = job !== undefined || dirs.length > 0;
  const frozen = any && (await guestFrozen(domain, await domain.xml().catch(() => '')));
  return { job: job?.dir ?? null, dirs, frozen };
}

export function isEmpty(l: LiveLeftovers): boolean {
  return l.job === null && l.dirs.length === 0 && !l.frozen;
}

/** Removes the leftovers found: thaws the guest, aborts the job, removes the directories. */
export async function clearLeftovers(domain: Domain, l: LiveLeftovers): Promise<void> {
  if (l.frozen) await domain.fsThaw().catch(() => undefined);
  if (l.job !== null) await abortJob(domain);
  for (const d of l.dirs) await rm(d, { recursive: true, force: true });
}
