// Test support: the set-up several integration tests share: a connection to qemu:///system, a
// plain repository, a scratch directory, and the tiny guest defined there (not started) with a
// qcow2 copy of its base disk as vda and its serial console on a socket in the directory. Its
// remove() undoes all of it, and a set-up failing midway undoes what it had made.

import { copyFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Connection, DomainUndefine, type Domain } from '../../src/libvirt/index.js';
import { initPlainRepo } from './cli.js';
import {
  ensureGuestImages,
  guestDomainXml,
  makeScratchDir,
  type GuestDisk,
  type ScratchDir,
} from './guest.js';

export interface GuestLab {
  conn: Connection;
  repoDir: string;
  scratch: ScratchDir;
  /** The defined (not started) guest, named after the scratch directory. */
  vm: Domain;
  /** vda's file: a qcow2 copy of the guest's base disk. */
  vda: string;
  /** The guest's serial console (SerialConsole.connect it once started). */
  consoleSocket: string;
  /** Destroys and undefines the guest (its snapshot and checkpoint records too), closes the
   * connection, removes the scratch directory and the repository. Never throws. */
  remove(): Promise<void>;
}

/** `label` names the scratch directory; `moreDisks` (made by the caller in it) follow vda. */
export async function defineGuestLab(
  label: string,
  o: { moreDisks?: (scratch: ScratchDir) => Promise<GuestDisk[]> } = {},
): Promise<GuestLab> {
  let conn: Connection | undefined;
  let repoDir: string | undefined;
  let scratch: ScratchDir | undefined;
  let vm: Domain | undefined;
  const remove = async (): Promise<void> => {
    try {
      if (vm) await removeDomain(vm);
    } finally {
      await conn?.close().catch(() => undefined);
      await scratch?.remove();
      if (repoDir) await rm(repoDir, { recursive: true, force: true });
    }
  };
  try {
    conn = await Connection.open('qemu:///system');
    repoDir = await initPlainRepo();
    scratch = await makeScratchDir(label);
    const images = await ensureGuestImages();
    const vda = join(scratch.path, 'vda.qcow2');
    await copyFile(images.baseDisk, vda);
    const more = o.moreDisks ? await o.moreDisks(scratch) : [];
    const consoleSocket = join(scratch.path, 'console.sock');
    vm = await conn.defineDomain(
      guestDomainXml({
        name: scratch.name,
        kernel: images.kernel,
        initrd: images.initrd,
        disks: [{ path: vda, format: 'qcow2', target: 'vda' }, ...more],
        serialSocket: consoleSocket,
        memoryMiB: 128,
      }),
    );
    return { conn, repoDir, scratch, vm, vda, consoleSocket, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

/** Destroys a domain if it runs and undefines it with its snapshot and checkpoint records. */
export async function removeDomain(d: Domain): Promise<void> {
  if (await d.isActive().catch(() => false)) await d.destroy().catch(() => undefined);
  await d
    .undefine(DomainUndefine.SNAPSHOTS_METADATA | DomainUndefine.CHECKPOINTS_METADATA)
    .catch(() => undefined);
}
