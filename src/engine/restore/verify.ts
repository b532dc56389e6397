/**
 * The restore test the seed insists on ("test the restore before you rely on
 * it"): read every disk of a backup back from the repository (every chunk is
 * re-hashed on the way) and, with boot, restore it into a scratch directory
 * as an isolated transient VM (no network), boot it, check it reaches
 * running and, through its QEMU guest agent or else a shell on its serial
 * console (probe.ts), that the guest answers; then
 * compare the restored files with the backup, remove everything, and record
 * the result in the backup's manifest. A test that cannot run as asked (an
 * unusable or full scratch directory, host access the original VM does not
 * have) throws and records nothing: it says nothing about the backup.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Connection, Domain } from '../../libvirt/index.js';
import { openImage } from '../../image/index.js';
import type { Repository } from '../../repo/repository.js';
import { BackupDisk } from '../../repo/reader.js';
import { blake3, prepareBlake3 } from '../../util/blake3.js';
import { errorCode, errorMessage } from '../../util/errors.js';
import { GUEST_DIR_MODE } from '../guest/work-dir.js';
import { pathError } from './fs-errors.js';
import { hasAgentChannel, pingAgent, probeSerial, serialSocket } from './probe.js';
import type { DamagedBackup } from '../catalog.js';
import { resolveBackup, restoreBackup } from './restore.js';
import { dataHostOf } from '../remote/host.js';
import { remoteTempDir, removeRemoteDir } from '../remote/disk-sink.js';

export interface VerifyResult {
  backup: string;
  vm: string;
  at: string;
  how: 'data' | 'boot';
  passed: boolean;
  /** Why not, when it did not pass. */
  reason: string | null;
  /**
   * Per disk its content hash (SHA-256 over the BLAKE3 of each 4 MiB piece,
   * holes and zeros included) and whether the restored file has the same.
   */
  disks: { disk: string; contentHash: string; restoredMatches: boolean | null }[];
  booted: boolean | null;
  /** How the guest was asked: its QEMU guest agent, a shell on its serial console, or not at all. */
  probe: 'agent' | 'serial' | null;
  guestAnswered: boolean | null;
  seconds: number;
}

export interface VerifyOptions {
  boot?: boolean;
  bootTimeoutMs?: number;
  /** Where the restored disks go while the test runs (default /var/tmp); removed after. */
  scratchDir?: string;
  /**
   * Boot the test VM even with host access its original does not have (see
   * RestoreOptions.allowHostAccess); refused, and nothing recorded, without.
   */
  allowHostAccess?: boolean;
  /**
   * Stops the test: the scratch VM and files are removed, nothing is recorded,
   * and the call rejects with the signal's reason.
   */
  signal?: AbortSignal;
  onStep?: (step: string) => void;
  /** When the VM's newest backup is damaged, test the newest intact one (else refuse). */
  skipDamaged?: boolean;
  /** Told which damaged backups were passed over (with skipDamaged). */
  onSkippedDamaged?: (skipped: DamagedBackup[]) => void;
}

const STEP = 4 * 1024 * 1024;

/**
 * Errors that stop a test before it says anything about the backup: the
 * scratch directory is unusable or too small, or the test VM would need host
 * access its original does not have.
 */
const NOT_A_RESULT = new Set(['RESTORE_PATH_UNUSABLE', 'RESTORE_NO_SPACE', 'RESTORE_HOST_ACCESS']);

async function hashOf(
  r: {
    virtualSize: number;
    read(o: number, n: number): Promise<Buffer>;
  },
  signal: AbortSignal | undefined,
): Promise<string> {
  // BLAKE3 per piece (about 1.5 GB/s per core against SHA-256's 0.23), SHA-256 over the
  // 32-byte digests: streaming, and memory does not grow with the disk.
  const h = createHash('sha256');
  for (let off = 0; off < r.virtualSize; off += STEP) {
    signal?.throwIfAborted();
    h.update(blake3(await r.read(off, Math.min(STEP, r.virtualSize - off))));
  }
  return `b3-4m:${h.digest('hex')}`;
}

export async function verifyBackup(
  conn: Connection,
  repo: Repository,
  ref: string,
  o: VerifyOptions = {},
): Promise<VerifyResult> {
  const started = Date.now();
  const m = await resolveBackup(repo, ref, o);
  const result: VerifyResult = {
    backup: m.id,
    vm: m.vm.name,
    at: new Date().toISOString(),
    how: o.boot ? 'boot' : 'data',
    passed: false,
    reason: null,
    disks: [],
    booted: null,
    probe: null,
    guestAnswered: null,
    seconds: 0,
  };
  // Where the scratch VM's files go: here, or on the connection's host over ssh.
  const host = dataHostOf(conn);
  let scratch: string | undefined;
  let sockets: string | undefined;
  let domain: Domain | undefined;
  try {
    await prepareBlake3();
    for (const d of m.disks) {
      o.onStep?.(`reading ${d.name}`);
      const disk = await BackupDisk.open(repo, m.id, d.name);
      try {
        result.disks.push({
          disk: d.name,
          contentHash: await hashOf(disk, o.signal),
          restoredMatches: null,
        });
      } finally {
        await disk.close();
      }
    }
    if (o.boot) {
      // QEMU runs as another user: it must pass through to the disks (libvirt gives it the
      // files and creates the sockets), but nothing here is world-writable (guest/work-dir.ts).
      const under = o.scratchDir ?? '/var/tmp';
      if (host.kind === 'ssh') {
        // On the VM's host: the scratch VM boots there (docs/remote-hosts.md).
        scratch = await remoteTempDir(host.ssh, `${under}/brankas-verify-${m.id.slice(-8)}-`);
        sockets = await remoteTempDir(host.ssh, '/tmp/brankas-');
      } else {
        const made = await mkdtemp(join(under, `brankas-verify-${m.id.slice(-8)}-`)).catch(
          (err: unknown) => Promise.reject(pathError(err, under)),
        );
        scratch = made;
        await chmod(made, GUEST_DIR_MODE);
        // Unix socket paths must fit in 107 bytes, so they get a short directory of their own.
        sockets = await mkdtemp(join(tmpdir(), 'brankas-'));
        await chmod(sockets, GUEST_DIR_MODE);
      }
      o.onStep?.(`restoring into ${scratch}`);
      const restored = await restoreBackup(conn, repo, m.id, {
        as: `brankas-verify-${m.id.slice(-8)}`,
        toDir: scratch,
        socketDir: sockets,
        ...(o.signal ? { signal: o.signal } : {}),
        filesOnly: true,
        dropInterfaces: true,
        ...(o.allowHostAccess ? { allowHostAccess: true } : {}),
      });
      // The restored files must equal the backup before the guest writes to them.
      for (const d of restored.disks) {
        const entry = result.disks.find((x) => x.disk === d.disk)!;
        const img =
          host.kind === 'ssh'
            ? await (
                await import('../../nbd/index.js')
              ).openRemoteImageOverNbd(host.ssh, d.path, { format: d.format })
            : await openImage(d.path, { format: d.format as 'raw' | 'qcow2' });
        try {
          entry.restoredMatches = (await hashOf(img, o.signal)) === entry.contentHash;
        } finally {
          await img.close();
        }
      }
      o.onStep?.(`booting ${restored.vm}`);
      // Transient: it is gone as soon as it stops.
      domain = await conn.createDomain(restored.xml);
      result.booted = (await domain.state()).state === 'running';
      // As long as the tiny guest's own boot may take: a TCG guest on a loaded host is slow to
      // answer, and a restore test that gives up too early reports a good backup as failed.
      const timeoutMs = o.bootTimeoutMs ?? 300_000;
      const socket = serialSocket(restored.xml);
      if (hasAgentChannel(restored.xml)) result.probe = 'agent';
      // A remote guest's serial socket is on its host: only its agent can be asked from here.
      else if (socket && host.kind === 'local') result.probe = 'serial';
      if (result.probe !== null) {
        o.onStep?.(
          `waiting for ${result.probe === 'agent' ? 'the guest agent' : 'the serial console'}`,
        );
        const why =
          result.probe === 'agent'
            ? await pingAgent(domain, timeoutMs, o.signal)
            : await probeSerial(socket!, timeoutMs, o.signal);
        result.guestAnswered = why === undefined;
        if (why !== undefined) result.reason = why;
      }
      await domain.destroy();
      domain = undefined;
    }
    if (result.reason === null) {
      if (result.booted === false) result.reason = 'the restored VM did not reach running';
      else if (result.disks.some((d) => d.restoredMatches === false)) {
        result.reason = 'a restored disk differs from the backup';
      }
    }
    result.passed = result.reason === null;
  } catch (err) {
    if (o.signal?.aborted) throw o.signal.reason;
    // Not a verdict on the backup: the test could not run as asked. Nothing is recorded.
    if (NOT_A_RESULT.has(errorCode(err) ?? '')) throw err;
    result.passed = false;
    result.reason = errorMessage(err);
  } finally {
    if (domain) await domain.destroy().catch(() => undefined);
    for (const dir of [scratch, sockets]) {
      if (!dir) continue;
      if (host.kind === 'ssh') await removeRemoteDir(host.ssh, dir);
      else await rm(dir, { recursive: true, force: true });
    }
  }
  result.seconds = (Date.now() - started) / 1000;
  await repo.updateManifest(m.id, (man) => {
    man.verify = result;
  });
  return result;
}
