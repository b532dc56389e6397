/**
 * `brankas demo`: the whole seed tutorial, performed for real on a throwaway
 * tiny guest and reported step by step (the faces word it).
 *
 *  1. Experiment 1, the snapshot life cycle (Tugas 1).
 *  2. Experiment 2, thin provisioning (in a temporary pool).
 *  3. Tugas 2, the cold backup: important files are written in the guest, a
 *     snapshot is taken as well, and the VM is backed up into a fresh
 *     encrypted repository (shut down, XML and disk stored, started again).
 *  4. The disaster: the VM's disk file is deleted. Reverting to the snapshot
 *     fails, because the snapshot lived in that file: a snapshot is not a
 *     backup. The backup is restored in place and booted; the files are back
 *     with the same checksums.
 *  5. Step 4 of the tutorial, "test the restore before you rely on it":
 *     `verify --boot` restores the backup beside it as an isolated transient
 *     VM, boots it, and records that it passed.
 *
 * Everything the demo made (the guest, its files, the pool, the repository)
 * is removed by cleanup(), which is safe to call at any time, more than once.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { readDomainXml, type Connection } from '../../libvirt/index.js';
import { LocalBackend, Repository, type KdfParams } from '../../repo/index.js';
import { errorMessage } from '../../util/errors.js';
import { coldBackup, type ColdBackupResult } from '../backup/cold.js';
import type { PowerEvent } from '../backup/power.js';
import { TinyGuest } from '../guest/tiny-guest.js';
import { restoreBackup } from '../restore/restore.js';
import { verifyBackup, type VerifyResult } from '../restore/verify.js';
import { createSnapshot } from '../snapshot/create.js';
import { executeRevert, planRevert } from '../snapshot/revert.js';
import {
  snapshotLifecycle,
  type LabStep,
  type SnapshotLifecycleResult,
} from './snapshot-lifecycle.js';
import {
  ThinProvisioningLab,
  type ThinProvisioningResult,
  type ThinStep,
} from './thin-provisioning.js';

export type DemoPart = 'snapshot' | 'thin' | 'backup' | 'disaster' | 'verify';

export type DemoEvent =
  | { kind: 'guest-ready'; vm: string; seconds: number }
  | { kind: 'part'; part: DemoPart }
  | { kind: 'lab'; step: LabStep }
  | { kind: 'lab-result'; result: SnapshotLifecycleResult }
  | { kind: 'thin'; step: ThinStep }
  | { kind: 'thin-result'; result: ThinProvisioningResult }
  | { kind: 'repo-created'; path: string; encrypted: boolean }
  | { kind: 'files-written'; files: string[]; checksums: string }
  | { kind: 'snapshot-taken'; snapshot: string }
  | { kind: 'power'; event: PowerEvent }
  | { kind: 'backed-up'; id: string; readBytes: number; newStoredBytes: number; seconds: number }
  | { kind: 'disk-deleted'; path: string }
  | { kind: 'revert-failed'; snapshot: string; message: string }
  | { kind: 'revert-succeeded'; snapshot: string }
  | { kind: 'restored'; id: string; seconds: number }
  | { kind: 'files-compared'; checksums: string; same: boolean }
  | { kind: 'verified'; result: VerifyResult }
  | { kind: 'cleaned-up' };

export interface DemoOptions {
  /** Parent of the demo's working directory (repository, pool): default /var/tmp. */
  parentDir?: string;
  /** Leave Experiment 2 out (it needs about 11 GiB free for the reserved raw volume, or skips it). */
  skipThin?: boolean;
  /** Cuts the guest's boot short (launch removes the guest); cleanup() serves every other moment. */
  signal?: AbortSignal;
  /** Key derivation cost of the demo repository (tests pass a cheap one). */
  kdf?: KdfParams;
  onEvent?: (e: DemoEvent) => void;
}

export interface DemoResult {
  vm: string;
  snapshotLab: boolean;
  thinLab: boolean | null;
  backup: string;
  /** The snapshot could not bring the VM back once its disk was gone. */
  snapshotFailedAfterDisaster: boolean;
  filesRestored: boolean;
  verifyPassed: boolean;
  passed: boolean;
  seconds: number;
}

const SNAPSHOT = 'sebelum-bencana';
const FILES = ['/data/penting.txt', '/data/laporan.bin'];

export class Demo {
  private guest: TinyGuest | undefined;
  private launching: Promise<TinyGuest> | undefined;
  private lab: ThinProvisioningLab | undefined;
  private workDir: string | undefined;
  private cleaning: Promise<void> | undefined;
  private readonly emit: (e: DemoEvent) => void;

  constructor(
    private readonly conn: Connection,
    private readonly options: DemoOptions = {},
  ) {
    this.emit = options.onEvent ?? (() => undefined);
  }

  async run(): Promise<DemoResult> {
    const started = Date.now();
    try {
      const name = `brankas-demo-${randomBytes(3).toString('hex')}`;
      this.workDir = await mkdtemp(join(this.options.parentDir ?? '/var/tmp', `${name}-`));
      await chmod(this.workDir, 0o755);
      let t = Date.now();
      this.launching = TinyGuest.launch(this.conn, {
        name,
        ...(this.options.signal ? { signal: this.options.signal } : {}),
      });
      this.guest = await this.launching;
      const guest = this.guest;
      const vm = guest.domain;
      this.emit({ kind: 'guest-ready', vm: name, seconds: (Date.now() - t) / 1000 });

      this.emit({ kind: 'part', part: 'snapshot' });
      const labResult = await snapshotLifecycle(vm, guest.shell(), {
        dir: '/data',
        onStep: (step) => this.emit({ kind: 'lab', step }),
      });
      this.emit({ kind: 'lab-result', result: labResult });

      let thinLab: boolean | null = null;
      if (!this.options.skipThin) {
        this.emit({ kind: 'part', part: 'thin' });
        this.lab = new ThinProvisioningLab(this.conn, {
          parentDir: this.workDir,
          namePrefix: `${name}-thin`,
          onStep: (step) => this.emit({ kind: 'thin', step }),
        });
        const thin = await this.lab.run();
        this.emit({ kind: 'thin-result', result: thin });
        const q = thin.empty.find((v) => v.kind === 'qcow2');
        const r = thin.empty.find((v) => v.kind === 'raw-sparse');
        thinLab = q !== undefined && r !== undefined && q.apparentSize < r.apparentSize;
      }

      this.emit({ kind: 'part', part: 'backup' });
      const repoDir = join(this.workDir, 'repo');
      const password = randomBytes(18).toString('base64url');
      // One backend for both; the repository closes it, and until it exists that is ours to do.
      const backend = new LocalBackend(repoDir);
      let repo: Repository;
      try {
        await Repository.init(backend, {
          password,
          ...(this.options.kdf ? { kdf: this.options.kdf } : {}),
        });
        this.emit({ kind: 'repo-created', path: repoDir, encrypted: true });
        repo = await Repository.open(backend, { password });
      } catch (err) {
        await backend.close();
        throw err;
      }
      try {
        await guest.console.run(
          `echo 'data penting' > ${FILES[0]}; dd if=/dev/urandom of=${FILES[1]} bs=1M count=2 2>/dev/null; sync`,
        );
        const checksums = await guest.console.run(`md5sum ${FILES.join(' ')}`);
        this.emit({ kind: 'files-written', files: FILES, checksums });
        await createSnapshot(vm, { name: SNAPSHOT, description: 'brankas demo' });
        this.emit({ kind: 'snapshot-taken', snapshot: SNAPSHOT });
        const backup: ColdBackupResult = await coldBackup(this.conn, repo, name, {
          shutdownTimeoutMs: 60_000,
          forceOffAfterTimeout: true,
          onPower: (event) => this.emit({ kind: 'power', event }),
        });
        const id = backup.manifest.id;
        this.emit({
          kind: 'backed-up',
          id,
          readBytes: backup.readBytes,
          newStoredBytes: backup.newStoredBytes,
          seconds: backup.seconds,
        });
        await guest.reattach(); // up to BOOT_TIMEOUT_MS: a TCG boot on a loaded host

        this.emit({ kind: 'part', part: 'disaster' });
        const disk = readDomainXml(await vm.xml()).disks[0]!.source!;
        await vm.destroy();
        await unlink(disk);
        this.emit({ kind: 'disk-deleted', path: disk });
        let snapshotFailed = false;
        try {
          await executeRevert(vm, await planRevert(vm, SNAPSHOT));
          this.emit({ kind: 'revert-succeeded', snapshot: SNAPSHOT });
        } catch (err) {
          snapshotFailed = true;
          this.emit({ kind: 'revert-failed', snapshot: SNAPSHOT, message: errorMessage(err) });
        }
        if ((await vm.state()).state !== 'shutoff') await vm.destroy();
        t = Date.now();
        // The forced restore also drops libvirt's record of the snapshot that died with the disk.
        await restoreBackup(this.conn, repo, id, { force: true, start: true });
        this.emit({ kind: 'restored', id, seconds: (Date.now() - t) / 1000 });
        await guest.reattach(); // up to BOOT_TIMEOUT_MS: a TCG boot on a loaded host
        const after = await guest.console.run(`md5sum ${FILES.join(' ')}`);
        const same = after === checksums;
        this.emit({ kind: 'files-compared', checksums: after, same });

        this.emit({ kind: 'part', part: 'verify' });
        const verified = await verifyBackup(this.conn, repo, id, {
          boot: true,
          scratchDir: this.workDir,
        });
        this.emit({ kind: 'verified', result: verified });

        const result: DemoResult = {
          vm: name,
          snapshotLab: labResult.confirmed,
          thinLab,
          backup: id,
          snapshotFailedAfterDisaster: snapshotFailed,
          filesRestored: same,
          verifyPassed: verified.passed,
          passed: false,
          seconds: 0,
        };
        result.passed =
          result.snapshotLab && thinLab !== false && snapshotFailed && same && verified.passed;
        result.seconds = (Date.now() - started) / 1000;
        return result;
      } finally {
        await repo.close();
      }
    } finally {
      await this.cleanup();
    }
  }

  /** Removes the guest, the pool and volumes, and the repository: whatever the demo made. */
  cleanup(): Promise<void> {
    this.cleaning ??= (async () => {
      const errors: unknown[] = [];
      const step = async (f: () => Promise<unknown>): Promise<void> => {
        try {
          await f();
        } catch (err) {
          errors.push(err);
        }
      };
      // A guest still booting is waited for: launch removes it itself when stopped.
      await step(async () =>
        (this.guest ?? (await this.launching?.catch(() => undefined)))?.dispose(),
      );
      await step(async () => this.lab?.cleanup());
      await step(async () => this.workDir && rm(this.workDir, { recursive: true, force: true }));
      this.emit({ kind: 'cleaned-up' });
      if (errors.length > 0) throw errors[0];
    })();
    return this.cleaning;
  }
}
