/**
 * "Serve this": every disk of a backup as a read-only NBD export, one
 * `NbdServer` per disk on its own unix socket (the same `BackupExport` that
 * `brankas mount` serves), each socket given to the user QEMU runs as with
 * mode 0600, so QEMU (and root) may connect and no other user. The disks
 * are held under the repository's shared lock until close(), so garbage
 * collection waits. Runs in whatever process calls it: the CLI's serving
 * process (`brankas serve-export`) owns that process, not this module.
 */
import { chmod, chown, lstat, unlink } from 'node:fs/promises';
import { NbdServer } from '../../nbd/index.js';
import { BackupDisk } from '../../repo/reader.js';
import type { Repository } from '../../repo/repository.js';
import { BackupExport } from '../mount/index.js';

export interface ServedDisk {
  disk: string;
  socket: string;
}

export interface ServeOptions {
  /** Who may connect besides root (qemuOwner() of the host's capabilities). */
  owner?: { uid: number; gid: number } | undefined;
  onClientError?: (err: Error) => void;
}

export interface ExportServers {
  /** Idempotent: ends every connection, removes the sockets, releases the disks. */
  close(): Promise<void>;
}

/** A socket left by a serving process that died is replaced; anything else is not touched. */
async function removeStaleSocket(path: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (st?.isSocket()) await unlink(path);
}

export async function serveBackupDisks(
  repo: Repository,
  backupId: string,
  disks: ServedDisk[],
  o: ServeOptions = {},
): Promise<ExportServers> {
  const open: { disk: BackupDisk; server?: NbdServer }[] = [];
  const close = async (): Promise<void> => {
    for (const s of open.splice(0)) {
      try {
        await s.server?.close();
      } finally {
        await s.disk.close();
      }
    }
  };
  try {
    for (const d of disks) {
      const disk = await BackupDisk.open(repo, backupId, d.disk);
      const entry: (typeof open)[number] = { disk };
      open.push(entry);
      await removeStaleSocket(d.socket);
      entry.server = await NbdServer.listen({
        name: d.disk,
        export: await BackupExport.over(disk),
        listen: { socketPath: d.socket },
        ...(o.onClientError ? { onClientError: o.onClientError } : {}),
      });
      if (o.owner) await chown(d.socket, o.owner.uid, o.owner.gid);
      await chmod(d.socket, 0o600);
    }
  } catch (err) {
    await close();
    throw err;
  }
  let closing: Promise<void> | undefined;
  return { close: () => (closing ??= close()) };
}
