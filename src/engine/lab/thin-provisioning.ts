/**
 * Experiment 2 of the seed tutorial, "Membandingkan Ukuran Backup", done for
 * real: three 10 GiB volumes in a storage pool, a qcow2 and two raw ones (one
 * made exactly as the tutorial's `virsh vol-create-as ... --format raw`, which
 * reserves the whole capacity, one sparse with `--allocation 0`), measured
 * empty, then again after 100 MiB is written into each with qemu-io. Each
 * measurement gives the virtual size, `ls -l`'s apparent size, `du`'s
 * allocated size and what a brankas backup reads (the data written).
 *
 * By default the pool is a transient dir pool in a private directory made
 * for the run; with `pool` the volumes go into that pool under unique names.
 * `cleanup()` removes only what the run created, and is safe to call at any
 * time (the face calls it on SIGINT), more than once.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { escapeXml } from '../../util/xml.js';
import type { Connection, StoragePool, StorageVolume } from '../../libvirt/index.js';
import { DiskError } from '../disk/errors.js';
import { inspectImage } from '../disk/inspect.js';
import { createVolume, findPool, type VolumeFormat } from '../disk/volume.js';

const run = promisify(execFile);

export type ThinVolumeKind = 'qcow2' | 'raw-reserved' | 'raw-sparse';

export interface ThinVolumeSizes {
  kind: ThinVolumeKind;
  name: string;
  path: string;
  format: VolumeFormat;
  virtualSize: number;
  /** `ls -l`. */
  apparentSize: number;
  /** `du`. */
  allocatedSize: number;
  /** What a brankas backup reads: the data written. */
  backupReads: number;
}

export type ThinStep =
  | { step: 'pool-ready'; pool: string; dir: string | undefined; temporary: boolean }
  | { step: 'volume-created'; kind: ThinVolumeKind; name: string; command: string }
  | { step: 'volume-skipped'; kind: ThinVolumeKind; needed: number; available: number }
  | {
      step: 'measured';
      phase: 'empty' | 'written';
      writtenBytes: number;
      volumes: ThinVolumeSizes[];
    }
  | { step: 'writing'; bytes: number; writer: 'qemu-io' }
  | { step: 'written'; name: string; bytes: number; command: string }
  | { step: 'cleaned-up'; volumes: string[]; pool: string | undefined };

export interface ThinProvisioningOptions {
  /** An existing, active pool to use instead of a temporary one. */
  pool?: string;
  /** Parent of the temporary pool's directory (default /var/tmp: on disk, unlike a tmpfs /tmp). */
  parentDir?: string;
  /** Volume size in bytes (default 10 GiB, as in the tutorial). */
  size?: number;
  /** Bytes written into each volume (default 100 MiB). */
  writeBytes?: number;
  /** Prefix of everything created (default brankas-lab). */
  namePrefix?: string;
  /** The qemu-io binary (default 'qemu-io' on PATH). */
  qemuIo?: string;
  onStep?: (s: ThinStep) => void;
}

export interface ThinProvisioningResult {
  pool: string;
  temporaryPool: boolean;
  size: number;
  writeBytes: number;
  /** How the data was written. */
  writer: 'qemu-io';
  empty: ThinVolumeSizes[];
  written: ThinVolumeSizes[];
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

const VOLUMES: { kind: ThinVolumeKind; file: string; format: VolumeFormat; sparse: boolean }[] = [
  { kind: 'qcow2', file: 'disk1.qcow2', format: 'qcow2', sparse: false },
  { kind: 'raw-reserved', file: 'disk2.raw', format: 'raw', sparse: false },
  { kind: 'raw-sparse', file: 'disk3.raw', format: 'raw', sparse: true },
];

export class ThinProvisioningLab {
  private readonly created: StorageVolume[] = [];
  private tempPool: StoragePool | undefined;
  private tempDir: string | undefined;
  private cleaning: Promise<void> | undefined;
  /** The pool or volume being made right now: cleanup waits for it, then removes it too. */
  private pending: Promise<unknown> | undefined;
  private readonly report: (s: ThinStep) => void;
  readonly size: number;
  readonly writeBytes: number;
  readonly prefix: string;

  constructor(
    private readonly conn: Connection,
    private readonly options: ThinProvisioningOptions = {},
  ) {
    this.report = options.onStep ?? (() => undefined);
    this.size = options.size ?? 10 * GiB;
    this.writeBytes = options.writeBytes ?? 100 * MiB;
    this.prefix = `${options.namePrefix ?? 'brankas-lab'}-${randomBytes(3).toString('hex')}`;
  }

  async run(): Promise<ThinProvisioningResult> {
    try {
      const pool = await this.openPool();
      const temporary = this.tempPool !== undefined;
      const volumes: { kind: ThinVolumeKind; vol: StorageVolume; format: VolumeFormat }[] = [];
      for (const v of VOLUMES) {
        const name = temporary ? v.file : `${this.prefix}-${v.file}`;
        if (v.kind === 'raw-reserved') {
          // This one takes its whole size on the host: only where there is room for it.
          const available = Number((await pool.info()).available);
          if (available < this.size + GiB) {
            this.report({ step: 'volume-skipped', kind: v.kind, needed: this.size, available });
            continue;
          }
        }
        const vol = await this.createOne(pool, name, v.format, v.sparse);
        volumes.push({ kind: v.kind, vol, format: v.format });
        const human = `${Math.round(this.size / GiB)}G`;
        this.report({
          step: 'volume-created',
          kind: v.kind,
          name,
          command: `virsh vol-create-as ${pool.name} ${name} ${human} --format ${v.format}${v.sparse ? ' --allocation 0' : ''}`,
        });
      }
      const empty = await this.measure(volumes);
      this.report({ step: 'measured', phase: 'empty', writtenBytes: 0, volumes: empty });
      this.report({ step: 'writing', bytes: this.writeBytes, writer: 'qemu-io' });
      for (const v of empty) {
        const args = ['-f', v.format, '-c', `write -P 0x5a 0 ${qemuSize(this.writeBytes)}`, v.path];
        this.checkNotCleaning();
        await qemuIo(this.options.qemuIo ?? 'qemu-io', args);
        this.report({
          step: 'written',
          name: v.name,
          bytes: this.writeBytes,
          command: `qemu-io ${args.map((a) => (a.includes(' ') ? `"${a}"` : a)).join(' ')}`,
        });
      }
      const written = await this.measure(volumes);
      this.report({
        step: 'measured',
        phase: 'written',
        writtenBytes: this.writeBytes,
        volumes: written,
      });
      return {
        pool: pool.name,
        temporaryPool: temporary,
        size: this.size,
        writeBytes: this.writeBytes,
        writer: 'qemu-io',
        empty,
        written,
      };
    } finally {
      await this.cleanup();
    }
  }

  /** Deletes the volumes this run created and its temporary pool and directory. Idempotent. */
  cleanup(): Promise<void> {
    this.cleaning ??= this.doCleanup();
    return this.cleaning;
  }

  private async doCleanup(): Promise<void> {
    // libvirt refuses to stop a pool while a volume is being made in it, and a
    // volume finished after we looked would be left behind: wait for it first.
    await this.pending;
    const names: string[] = [];
    for (const vol of this.created.splice(0)) {
      await vol.delete().then(
        () => names.push(vol.name),
        () => undefined,
      );
    }
    const pool = this.tempPool?.name;
    await this.tempPool?.destroy().catch(() => undefined);
    this.tempPool = undefined;
    if (this.tempDir) await rm(this.tempDir, { recursive: true, force: true });
    this.tempDir = undefined;
    this.report({ step: 'cleaned-up', volumes: names, pool });
  }

  private async openPool(): Promise<StoragePool> {
    if (this.options.pool !== undefined) {
      const pool = await findPool(this.conn, this.options.pool);
      this.report({ step: 'pool-ready', pool: pool.name, dir: undefined, temporary: false });
      return pool;
    }
    return this.guarded(async () => {
      const dir = await mkdtemp(join(this.options.parentDir ?? '/var/tmp', `${this.prefix}-`));
      this.tempDir = dir;
      // libvirtd (and QEMU) may run as another user: let them in.
      await chmod(dir, 0o711);
      const name = `${this.prefix}-pool`;
      this.tempPool = await this.conn.createStoragePool(
        `<pool type='dir'><name>${escapeXml(name)}</name><target><path>${escapeXml(dir)}</path></target></pool>`,
      );
      this.report({ step: 'pool-ready', pool: name, dir, temporary: true });
      return this.tempPool;
    });
  }

  /** Runs a step that makes something, unless cleanup has begun; cleanup waits for it. */
  private guarded<T>(make: () => Promise<T>): Promise<T> {
    this.checkNotCleaning();
    const made = make();
    this.pending = made.catch(() => undefined);
    return made;
  }

  private createOne(
    pool: StoragePool,
    name: string,
    format: VolumeFormat,
    sparse: boolean,
  ): Promise<StorageVolume> {
    const owner =
      typeof process.getuid === 'function'
        ? { uid: process.getuid(), gid: process.getgid!() }
        : undefined;
    return this.guarded(async () => {
      await createVolume(this.conn, {
        pool: pool.name,
        name,
        capacity: BigInt(this.size),
        format,
        ...(sparse ? { allocation: 0n } : {}),
        ...(owner ? { owner } : {}),
      });
      const vol = await pool.lookupVolume(name);
      this.created.push(vol);
      return vol;
    });
  }

  /** Once cleanup has begun (SIGINT), the run must not make anything new. */
  private checkNotCleaning(): void {
    if (this.cleaning) {
      throw new DiskError('LAB_INTERRUPTED', 'the experiment was interrupted and cleaned up');
    }
  }

  private async measure(
    volumes: { kind: ThinVolumeKind; vol: StorageVolume; format: VolumeFormat }[],
  ): Promise<ThinVolumeSizes[]> {
    const out: ThinVolumeSizes[] = [];
    for (const { kind, vol, format } of volumes) {
      const f = await inspectImage(await vol.path(), { format });
      out.push({
        kind,
        name: vol.name,
        path: f.path,
        format,
        virtualSize: f.virtualSize,
        apparentSize: f.apparentSize,
        allocatedSize: f.allocatedSize,
        backupReads: f.backupReads,
      });
    }
    return out;
  }
}

/** 104857600 -> "100M", as one would type it; bytes when not a whole MiB. */
function qemuSize(n: number): string {
  return n % MiB === 0 ? `${n / MiB}M` : String(n);
}

async function qemuIo(binary: string, args: string[]): Promise<void> {
  try {
    await run(binary, args, { timeout: 120_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    const message = e.stderr?.trim() || e.message;
    throw new DiskError('LAB_TOOL_FAILED', `qemu-io ${args.join(' ')} failed: ${message}`, {
      cause: err,
      details: { tool: 'qemu-io', message },
    });
  }
}
