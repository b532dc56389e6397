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
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Domain } from '../../../libvirt/index.js';
import { NbdDiskReader } from '../../../nbd/index.js';
import type { ExtentSource } from '../../../repo/index.js';
import { EngineError } from '../../errors.js';
import { backupXml, bitmapContext, checkpointXml, dacOwner } from './xml.js';

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
}

export class LiveExport {
  private failure: EngineError | undefined;
  private ending = false;
  private readonly controller = new AbortController();

  private constructor(
    readonly domain: Domain,
    readonly dir: string,
    readonly socket: string,
    private readonly requests: ExportRequest[],
    private unsubscribe: Array<() => Promise<void>>,
  ) {}

  /** Fires when the job can no longer be read from (VM stopped, job gone). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  static async begin(domain: Domain, o: BeginOptions): Promise<LiveExport> {
    const dir = await mkdtemp(join(o.workRoot ?? '/var/tmp', 'brankas-live-'));
    const unsubscribe: Array<() => Promise<void>> = [];
    let ex: LiveExport | undefined;
    try {
      // Private to root and to the user QEMU runs as (it creates the socket here; libvirt
      // labels the scratch files itself).
      const owner = dacOwner(await domain.xml());
      if (owner && process.getuid?.() === 0) await chown(dir, owner.uid, owner.gid);
      await chmod(dir, 0o700);
      const socket = join(dir, 'nbd.sock');
      ex = new LiveExport(domain, dir, socket, o.disks, unsubscribe);
      const hub = domain.conn.events;
      // Subscribed before the job starts, so no ending is missed.
      unsubscribe.push(
        await hub.subscribe(
          'lifecycle',
          (ev) => {
            if (ev.event === 'stopped' || ev.event === 'crashed' || ev.event === 'shutdown') {
              ex!.fail(
                new EngineError(
                  'BACKUP_LIVE_VM_STOPPED',
                  `VM '${domain.name}' stopped (${ev.event}) during its live backup; nothing was recorded`,
                  { details: { vm: domain.name, event: ev.event } },
                ),
              );
            }
          },
          domain,
        ),
        await hub.subscribe(
          'job-completed',
          () => {
            if (ex!.ending) return;
            ex!.fail(
              new EngineError(
                'BACKUP_LIVE_JOB_FAILED',
                `the backup job of VM '${domain.name}' ended before brankas had read it; nothing was recorded`,
                { details: { vm: domain.name } },
              ),
            );
          },
          domain,
        ),
      );
      const xml = backupXml(
        socket,
        o.disks.map((d) => ({ ...d, scratch: join(dir, `${d.target}.scratch`) })),
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
      } finally {
        await o.around?.after();
      }
      return ex;
    } catch (err) {
      if (ex) await ex.end();
      else {
        for (const u of unsubscribe) await u().catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
      }
      throw err;
    }
  }

  private fail(err: EngineError): void {
    if (this.failure) return;
    this.failure = err;
    this.controller.abort(err);
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
    try {
      await this.domain.abortJob();
    } catch {
      // No job any more (the VM stopped, or it ended on its own).
    }
    for (const u of this.unsubscribe) await u().catch(() => undefined);
    this.unsubscribe = [];
    await rm(this.dir, { recursive: true, force: true });
  }
}
