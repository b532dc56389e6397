/**
 * A live backup's data plane: libvirt's backup job in pull mode. begin()
 * starts it (virDomainBackupBegin, with the checkpoint taken at the same
 * instant) with an NBD server on a unix socket in a private directory; each
 * disk is then read through the project's NBD client; end() stops the job
 * (virDomainAbortJob: in pull mode that is how a finished backup ends) and
 * removes the directory. While it runs, domain events are watched: the VM
 * stopping or the job ending on its own fails every read with a clear error,
 * so nothing half-read is ever recorded.
 */
import { chmod, chown, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Domain } from '../../../libvirt/index.js';
import { NbdDiskReader } from '../../../nbd/index.js';
import { privateTempDir } from '../../../util/private-temp.js';
import type { ExtentSource } from '../../../repo/index.js';
import { atPath } from '../../../util/file-errors.js';
import { EngineError } from '../../errors.js';
import type { JobDirHandle } from '../../remote/job-dir.js';
import { DEFAULT_WORK_ROOT, WORK_DIR_PREFIX, writeMarker, type JobMarker } from './leftovers.js';
import { backupXml, bitmapContext, checkpointXml, dacOwner } from './xml.js';

/** A safety net only: the job-completed event normally ends the wait at once. */
const END_WAIT_MS = 60_000;

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}

/** virDomainJobType VIR_DOMAIN_JOB_NONE. */
const JOB_NONE = 0;

export interface ExportRequest {
  target: string;
  /** Incremental from this checkpoint; otherwise the disk is exported whole (full). */
  incremental?: string;
}

export interface BeginOptions {
  disks: ExportRequest[];
  checkpoint: { name: string; description: string; bitmapDisks: string[] } | null;
  /** Where the private directory is made (default /var/tmp: QEMU must reach it). */
  workRoot?: string;
  /** Runs right before and right after BackupBegin: the guest's filesystems freeze and thaw. */
  around?: { before(): Promise<void>; after(): Promise<void> };
  /**
   * Makes the job's directory elsewhere than here (on the VM's host, over ssh:
   * remote/job-dir.ts); by default it is made in `workRoot` on this machine.
   */
  jobDir?: (
    marker: JobMarker,
    owner: { uid: number; gid: number } | undefined,
  ) => Promise<JobDirHandle>;
}

/** The job's directory on this machine: private, with its marker (the VM's host is this one). */
async function localJobDir(
  root: string,
  marker: JobMarker,
  owner: { uid: number; gid: number } | undefined,
): Promise<JobDirHandle> {
  // A scratch directory that is full, read-only or missing is said as such, naming it.
  // Named after this process: one killed before its marker is written leaves a directory that
  // nothing else could tell whose it was; empty, the next job removes it (util/private-temp.ts).
  const dir = await atPath(root, () => privateTempDir(WORK_DIR_PREFIX, { root, emptyOnly: true }));
  try {
    // Names the VM, for the next backup or `brankas doctor` should this process be killed.
    await atPath(dir, () => writeMarker(dir, marker));
    // Private to root and to the user QEMU runs as (it creates the socket here; libvirt
    // labels the scratch files itself).
    if (owner && process.getuid?.() === 0) await chown(dir, owner.uid, owner.gid);
    await chmod(dir, 0o700);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    socket: join(dir, 'nbd.sock'),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

export class LiveExport {
  private failure: EngineError | undefined;
  private ending = false;
  /** Set once BackupBegin returned: job events before that are not this job's. */
  private running = false;
  private jobEnded: (() => void) | undefined;
  private readonly controller = new AbortController();

  private constructor(
    readonly domain: Domain,
    private readonly jobDir: JobDirHandle,
    private readonly requests: ExportRequest[],
    private unsubscribe: Array<() => Promise<void>>,
  ) {}

  /** The job's directory as QEMU sees it (on the VM's host). */
  get dir(): string {
    return this.jobDir.dir;
  }

  /** The socket this process reads the export through. */
  get socket(): string {
    return this.jobDir.socket;
  }

  /** Fires when the job can no longer be read from (VM stopped, job gone). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  static async begin(domain: Domain, o: BeginOptions): Promise<LiveExport> {
    const marker: JobMarker = {
      vm: domain.name,
      uuid: domain.uuid,
      pid: process.pid,
      checkpoint: o.checkpoint?.name ?? null,
      startedAt: new Date().toISOString(),
    };
    const owner = dacOwner(await domain.xml());
    const jobDir = o.jobDir
      ? await o.jobDir(marker, owner)
      : await localJobDir(o.workRoot ?? DEFAULT_WORK_ROOT, marker, owner);
    const unsubscribe: Array<() => Promise<void>> = [];
    let ex: LiveExport | undefined;
    try {
      ex = new LiveExport(domain, jobDir, o.disks, unsubscribe);
      const hub = domain.conn.events;
      // Subscribed before the job starts, so no ending is missed.
      unsubscribe.push(
        await hub.subscribe(
          'lifecycle',
          (ev) => {
            if (ev.event === 'stopped' || ev.event === 'crashed' || ev.event === 'shutdown') {
              ex!.fail(stoppedError(domain, ev.event));
            }
          },
          domain,
        ),
        await hub.subscribe(
          'job-completed',
          (ev) => {
            if (ex!.ending) return ex!.jobEnded?.();
            if (!ex!.running) return;
            const why =
              typeof ev.stats['errmsg'] === 'string' ? ev.stats['errmsg'] : 'no reason given';
            // The event is broadcast for any job of the domain, and the end of the previous
            // backup's job can arrive after this one began: only a domain left without a job
            // counts. The job also ends when the VM stops, sometimes before the lifecycle
            // event: say which.
            void ex!.jobGone().then(async (gone) => {
              if (!gone) return;
              ex!.fail((await ex!.stopped()) ?? jobEndedError(domain, why));
            });
          },
          domain,
        ),
      );
      const xml = backupXml(
        join(jobDir.dir, 'nbd.sock'),
        o.disks.map((d) => ({ ...d, scratch: join(jobDir.dir, `${d.target}.scratch`) })),
      );
      const cp = o.checkpoint
        ? checkpointXml(
            o.checkpoint.name,
            o.checkpoint.description,
            o.disks.map((d) => ({
              target: d.target,
              bitmap: o.checkpoint!.bitmapDisks.includes(d.target),
            })),
          )
        : null;
      await o.around?.before();
      try {
        await domain.backupBegin(xml, cp);
        ex.running = true;
      } finally {
        await o.around?.after();
      }
      return ex;
    } catch (err) {
      if (ex) await ex.end();
      else {
        for (const u of unsubscribe) await u().catch(() => undefined);
        await jobDir.remove();
      }
      throw err;
    }
  }

  private fail(err: EngineError): void {
    if (this.failure) return;
    this.failure = err;
    this.controller.abort(err);
  }

  /** The error to report when the VM is no longer running, or undefined while it is. */
  async stopped(): Promise<EngineError | undefined> {
    const st = await this.domain.state().catch(() => undefined);
    if (!st || st.state === 'running' || st.state === 'paused') return undefined;
    return stoppedError(this.domain, st.state);
  }

  /** Whether the domain has no job running (ours ended), or cannot say (not running). */
  async jobGone(): Promise<boolean> {
    const info = await this.domain.jobInfo().catch(() => undefined);
    return info === undefined || info.type === JOB_NONE;
  }

  /** Throws the reason the job is unusable, if it is. */
  check(): void {
    if (this.failure) throw this.failure;
  }

  /** Opens one disk's export (with its dirty bitmap when incremental). */
  async open(target: string): Promise<NbdDiskReader> {
    this.check();
    const req = this.requests.find((r) => r.target === target);
    const contexts = req?.incremental ? [bitmapContext(target)] : [];
    return NbdDiskReader.open({
      socketPath: this.socket,
      exportName: target,
      metaContexts: contexts,
    });
  }

  /**
   * The reader as the writer's ExtentSource: every read first checks that
   * the job still stands, and an error caused by its end is reported as that.
   */
  source(reader: NbdDiskReader, signal?: AbortSignal): ExtentSource {
    const guard = async <T>(p: () => Promise<T>): Promise<T> => {
      signal?.throwIfAborted();
      this.check();
      try {
        return await p();
      } catch (err) {
        // A read cut off by the VM stopping says so, even before its event arrives.
        this.check();
        const stopped = await this.stopped();
        if (stopped) this.fail(stopped);
        // The job ended under the read (aborted from outside): said as such even before its
        // event has been handled.
        else if (this.running && !this.ending && (await this.jobGone())) {
          this.fail(jobEndedError(this.domain, 'its NBD export went away'));
        }
        this.check();
        throw err;
      }
    };
    return {
      virtualSize: reader.virtualSize,
      extents: () => reader.extents(),
      read: (offset, length) => guard(() => reader.read(offset, length)),
      readInto: (target, at, offset, length) =>
        guard(() => reader.readInto(target, at, offset, length)),
    };
  }

  /** Ends the job and removes the directory. Idempotent; never throws. */
  async end(): Promise<void> {
    if (this.ending) return;
    this.ending = true;
    const ended = new Promise<void>((resolve) => (this.jobEnded = resolve));
    try {
      await this.domain.abortJob();
      // libvirt tears a pull-mode job down after the abort returns; until it is done the disks
      // stay blocked (no resize, no next backup): wait for its job-completed event.
      if (!(await this.jobGone())) await withTimeout(ended, END_WAIT_MS);
    } catch {
      // No job any more (the VM stopped, or it ended on its own).
    }
    for (const u of this.unsubscribe) await u().catch(() => undefined);
    this.unsubscribe = [];
    await this.jobDir.remove();
  }
}

function jobEndedError(domain: Domain, why: string): EngineError {
  return new EngineError(
    'BACKUP_LIVE_JOB_FAILED',
    `the backup job of VM '${domain.name}' ended before brankas had read it (${why}); nothing was recorded`,
    { details: { vm: domain.name, reason: why } },
  );
}

function stoppedError(domain: Domain, how: string): EngineError {
  return new EngineError(
    'BACKUP_LIVE_VM_STOPPED',
    `VM '${domain.name}' stopped (${how}) during its live backup; nothing was recorded`,
    { details: { vm: domain.name, event: how } },
  );
}
