/**
 * The restore test the seed insists on ("test the restore before you rely on
 * it"): read every disk of a backup back from the repository (every chunk is
 * re-hashed on the way) and, with boot, restore it into a scratch directory
 * as an isolated transient VM (no network), boot it, check it reaches
 * running and, where it has a serial console, that its shell answers; then
 * compare the restored files with the backup, remove everything, and record
 * the result in the backup's manifest.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Connection, Domain } from '../../libvirt/index.js';
import { openImage } from '../../image/index.js';
import type { Repository } from '../../repo/repository.js';
import { BackupDisk } from '../../repo/reader.js';
import { attr, child, children, parseXml } from '../../util/xml.js';
import { SerialConsole } from '../guest/serial-console.js';
import { untilAborted } from '../../util/abort.js';
import { errorMessage } from '../../util/errors.js';
import { resolveBackup, restoreBackup } from './restore.js';

export interface VerifyResult {
  backup: string;
  vm: string;
  at: string;
  how: 'data' | 'boot';
  passed: boolean;
  /** Why not, when it did not pass. */
  reason: string | null;
  disks: { disk: string; sha256: string; restoredMatches: boolean | null }[];
  booted: boolean | null;
  guestAnswered: boolean | null;
  seconds: number;
}

export interface VerifyOptions {
  boot?: boolean;
  bootTimeoutMs?: number;
  /** Where the restored disks go while the test runs (default /var/tmp); removed after. */
  scratchDir?: string;
  /**
   * Stops the test: the scratch VM and files are removed, nothing is recorded,
   * and the call rejects with the signal's reason.
   */
  signal?: AbortSignal;
  onStep?: (step: string) => void;
}

const STEP = 4 * 1024 * 1024;

async function hashOf(
  r: {
    virtualSize: number;
    read(o: number, n: number): Promise<Buffer>;
  },
  signal: AbortSignal | undefined,
): Promise<string> {
  const h = createHash('sha256');
  for (let off = 0; off < r.virtualSize; off += STEP) {
    signal?.throwIfAborted();
    h.update(await r.read(off, Math.min(STEP, r.virtualSize - off)));
  }
  return h.digest('hex');
}

function serialSocket(xml: string): string | undefined {
  const devices = child(parseXml(xml).documentElement!, 'devices');
  for (const s of devices ? children(devices, 'serial') : []) {
    const src = child(s, 'source');
    if (attr(s, 'type') === 'unix' && attr(src, 'mode') === 'bind') return attr(src, 'path');
  }
  return undefined;
}

export async function verifyBackup(
  conn: Connection,
  repo: Repository,
  ref: string,
  o: VerifyOptions = {},
): Promise<VerifyResult> {
  const started = Date.now();
  const m = await resolveBackup(repo, ref);
  const result: VerifyResult = {
    backup: m.id,
    vm: m.vm.name,
    at: new Date().toISOString(),
    how: o.boot ? 'boot' : 'data',
    passed: false,
    reason: null,
    disks: [],
    booted: null,
    guestAnswered: null,
    seconds: 0,
  };
  let scratch: string | undefined;
  let sockets: string | undefined;
  let domain: Domain | undefined;
  try {
    for (const d of m.disks) {
      o.onStep?.(`reading ${d.name}`);
      const disk = await BackupDisk.open(repo, m.id, d.name);
      try {
        result.disks.push({
          disk: d.name,
          sha256: await hashOf(disk, o.signal),
          restoredMatches: null,
        });
      } finally {
        await disk.close();
      }
    }
    if (o.boot) {
      // QEMU runs as another user: it must reach the disks and create its sockets.
      scratch = await mkdtemp(
        join(o.scratchDir ?? '/var/tmp', `brankas-verify-${m.id.slice(-8)}-`),
      );
      await chmod(scratch, 0o1777);
      // Unix socket paths must fit in 107 bytes, so they get a short directory of their own.
      sockets = await mkdtemp(join(tmpdir(), 'brankas-'));
      await chmod(sockets, 0o1777);
      o.onStep?.(`restoring into ${scratch}`);
      const restored = await restoreBackup(conn, repo, m.id, {
        as: `brankas-verify-${m.id.slice(-8)}`,
        toDir: scratch,
        socketDir: sockets,
        ...(o.signal ? { signal: o.signal } : {}),
        filesOnly: true,
        dropInterfaces: true,
      });
      // The restored files must equal the backup before the guest writes to them.
      for (const d of restored.disks) {
        const entry = result.disks.find((x) => x.disk === d.disk)!;
        const img = await openImage(d.path, { format: d.format as 'raw' | 'qcow2' });
        try {
          entry.restoredMatches = (await hashOf(img, o.signal)) === entry.sha256;
        } finally {
          await img.close();
        }
      }
      o.onStep?.(`booting ${restored.vm}`);
      // Transient: it is gone as soon as it stops.
      domain = await conn.createDomain(restored.xml);
      result.booted = (await domain.state()).state === 'running';
      const socket = serialSocket(restored.xml);
      if (socket) {
        const console = await SerialConsole.connect(socket, { timeoutMs: 10_000 });
        try {
          await untilAborted(console.waitReady(o.bootTimeoutMs ?? 120_000), o.signal);
          result.guestAnswered =
            (await console.run('echo brankas-verify')).trim() === 'brankas-verify';
        } catch (err) {
          o.signal?.throwIfAborted();
          result.guestAnswered = false;
          result.reason = `the guest did not answer on its serial console: ${errorMessage(err)}`;
        } finally {
          console.close();
        }
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
    result.passed = false;
    result.reason = errorMessage(err);
  } finally {
    if (domain) await domain.destroy().catch(() => undefined);
    for (const dir of [scratch, sockets]) {
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  }
  result.seconds = (Date.now() - started) / 1000;
  await repo.updateManifest(m.id, (man) => {
    man.verify = result;
  });
  return result;
}
