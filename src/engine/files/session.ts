/**
 * One `brankas files` request's hold on a backup's disk: the backup and disk
 * chosen, the disk open for random reads (the layout and the host reader read
 * it), and, only when a helper VM must read a volume, the NBD export of the
 * disk on a socket in a private work directory. Closing it closes both.
 */
import { randomBytes } from 'node:crypto';
import { chmod, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupDisk } from '../../repo/reader.js';
import type { Repository } from '../../repo/repository.js';
import { chooseBackupDisk, type ChooseOptions } from '../catalog.js';
import { guestWorkDir } from '../guest/tiny-guest.js';
import { mountBackup, type Mount } from '../mount/index.js';
import { readLayout, type DiskLayout, type ReadAt } from './layout.js';

/** Where a helper VM finds the disk. */
export interface HelperMount {
  dir: string;
  name: string;
  nbdSocket: string;
}

export interface Session {
  backup: string;
  vm: string;
  startedAt: string;
  disk: string;
  layout: DiskLayout;
  /** Reads the disk (never past its end). */
  read: ReadAt;
  /** Serves the disk for a helper VM (once; later calls return the same). */
  helperMount(): Promise<HelperMount>;
  close(): Promise<void>;
}

export async function openSession(
  repo: Repository,
  ref: string,
  o: ChooseOptions & { disk?: string },
): Promise<Session> {
  const { manifest, disk: name } = await chooseBackupDisk(repo, ref, o);
  const disk = await BackupDisk.open(repo, manifest.id, name);
  const read: ReadAt = async (offset, length) => {
    const len = Math.max(0, Math.min(length, disk.virtualSize - offset));
    const buf = Buffer.alloc(len);
    await disk.readInto(buf, 0, offset, len);
    return buf;
  };
  let layout: DiskLayout;
  try {
    layout = await readLayout(read, disk.virtualSize);
  } catch (err) {
    await disk.close();
    throw err;
  }
  let helper: Promise<{ mount: Mount; hm: HelperMount }> | undefined;
  const startHelper = async (): Promise<{ mount: Mount; hm: HelperMount }> => {
    const vmName = `brankas-files-${randomBytes(6).toString('hex')}`;
    // A private directory with an unguessable name: QEMU (another user) reaches the NBD socket
    // in it by its path, no one can list it (work-dir.ts).
    const dir = await guestWorkDir(vmName);
    const nbdSocket = join(dir, 'nbd.sock');
    try {
      const mount = await mountBackup(repo, manifest.id, {
        disk: name,
        listen: { socketPath: nbdSocket },
      });
      await chmod(nbdSocket, 0o666).catch(async (err: unknown) => {
        await mount.close();
        throw err;
      });
      return { mount, hm: { dir, name: vmName, nbdSocket } };
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  };
  return {
    backup: manifest.id,
    vm: manifest.vm.name,
    startedAt: manifest.startedAt,
    disk: name,
    layout,
    read,
    helperMount: async () => (await (helper ??= startHelper())).hm,
    close: async () => {
      try {
        const h = await helper?.catch(() => undefined);
        if (h) {
          await h.mount.close();
          await rm(h.hm.dir, { recursive: true, force: true });
        }
      } finally {
        await disk.close();
      }
    },
  };
}
