/**
 * `--persist`, the live restore: each disk of a VM run from a backup copied
 * whole (overlay and backup, flattened) into a local qcow2 beside its
 * overlay, then the VM moved onto it. A running VM is copied by libvirt's
 * block copy while it runs (its writes mirrored), and once the copy is in
 * step the job ends with a pivot; a VM that is off is converted with
 * qemu-img. The persistent definition then names the local disks. A failure
 * cancels the copy and removes what it wrote: the VM goes on over the
 * backup as before.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import {
  BlockCopy,
  BlockJobAbort,
  DomainXml,
  type Connection,
  type Domain,
} from '../../libvirt/index.js';
import { errorMessage } from '../../util/errors.js';
import { escapeXml } from '../../util/xml.js';
import { EngineError } from '../errors.js';
import { lookup } from '../restore/restore.js';
import { localDisksXml } from './xml.js';

const exec = promisify(execFile);

/** How long a block copy may make no progress before it counts as stuck. */
const STALL_DEADLINE_MS = 600_000;

export interface PersistDisk {
  disk: string;
  overlay: string;
}

export interface PersistOptions {
  backup: string;
  signal?: AbortSignal;
  onProgress?: (e: { disk: string; done: bigint; total: bigint }) => void;
}

export interface PersistResult {
  vm: string;
  disks: { disk: string; path: string }[];
  live: boolean;
  seconds: number;
}

/** `vm-vda.qcow2` -> `vm-vda.local.qcow2`. */
export function localPath(overlay: string): string {
  return overlay.replace(/\.qcow2$/, '') + '.local.qcow2';
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Copies one disk while the VM runs and pivots onto the copy. */
async function copyLive(
  domain: Domain,
  disk: string,
  dest: string,
  o: PersistOptions,
): Promise<void> {
  const destXml = `<disk type='file'><driver type='qcow2'/><source file='${escapeXml(dest)}'/></disk>`;
  // A persistent domain's copy must be a transient job (libvirt refuses otherwise): it does not
  // survive a restart of libvirtd, which then leaves the VM on its overlay, as before.
  await domain.blockCopy(disk, destXml, BlockCopy.TRANSIENT_JOB);
  try {
    let last = -1n;
    let moved = Date.now();
    for (;;) {
      o.signal?.throwIfAborted();
      const info = await domain.blockJobInfo(disk);
      if (!info) throw new Error('the copy job ended before it was in step');
      o.onProgress?.({ disk, done: info.cur, total: info.end });
      // libvirt reports cur == end only once the mirror is ready to pivot.
      if (info.end > 0n && info.cur === info.end) {
        try {
          await domain.blockJobAbort(disk, BlockJobAbort.PIVOT);
          return;
        } catch {
          // Not ready after all (new writes came): poll again.
        }
      }
      if (info.cur !== last) {
        last = info.cur;
        moved = Date.now();
      } else if (Date.now() - moved > STALL_DEADLINE_MS) {
        throw new Error(`no progress for ${STALL_DEADLINE_MS / 1000} s`);
      }
      await pause(200);
    }
  } catch (err) {
    await domain.blockJobAbort(disk).catch(() => undefined);
    throw err;
  }
}

export async function persistRun(
  conn: Connection,
  vm: string,
  disks: PersistDisk[],
  o: PersistOptions,
): Promise<PersistResult> {
  const started = Date.now();
  const domain = await lookup(conn, vm);
  if (!domain) {
    throw new EngineError('VM_NOT_FOUND', `no VM named '${vm}'`, { details: { vm } });
  }
  const live = await domain.isActive();
  const done: { disk: string; path: string }[] = [];
  let current: PersistDisk | undefined;
  try {
    for (const d of disks) {
      current = d;
      const dest = localPath(d.overlay);
      if (existsSync(dest)) {
        throw new EngineError(
          'RESTORE_FILE_EXISTS',
          `${dest} exists; brankas does not overwrite files`,
          {
            details: { path: dest, backup: o.backup },
          },
        );
      }
      if (live) await copyLive(domain, d.disk, dest, o);
      else await exec('qemu-img', ['convert', '-O', 'qcow2', d.overlay, dest]);
      done.push({ disk: d.disk, path: dest });
      current = undefined;
      // Defined at once: a later disk failing leaves this one local, and said so.
      const inactive = await domain.xml(DomainXml.INACTIVE | DomainXml.SECURE);
      await conn.defineDomain(localDisksXml(inactive, done));
    }
  } catch (err) {
    if (err instanceof EngineError && err.code === 'RESTORE_FILE_EXISTS') throw err;
    // A disk not yet pivoted is still the overlay's; its partial copy goes.
    if (current) await unlink(localPath(current.overlay)).catch(() => undefined);
    const message = errorMessage(err);
    throw new EngineError(
      'RUN_PERSIST_FAILED',
      `VM '${vm}' could not be moved onto local disks (disk ${current?.disk ?? '-'}: ${message}); it goes on running over backup ${o.backup}`,
      { cause: err, details: { vm, disk: current?.disk ?? '-', message, backup: o.backup } },
    );
  }
  return { vm, disks: done, live, seconds: (Date.now() - started) / 1000 };
}
