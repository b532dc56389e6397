/**
 * Mounting a backup: one disk of it served read-only over NBD, straight from
 * the repository, for `qemu-img`, `nbdinfo`, `nbdfuse` or a VM to read. The
 * backup is chosen like a restore's (an id, or a VM name for its newest
 * backup); the disk is held under the repository's shared lock, so garbage
 * collection waits until the mount is closed. It listens on a unix socket (by
 * default in a fresh private directory) or on a loopback TCP port, never
 * elsewhere.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NbdServer, type NbdTarget } from '../../nbd/index.js';
import { BackupDisk } from '../../repo/reader.js';
import type { Repository } from '../../repo/repository.js';
import { chooseBackupDisk, type ChooseOptions } from '../catalog.js';
import { EngineError } from '../errors.js';
import { BackupExport } from './backup-export.js';

export interface MountOptions extends ChooseOptions {
  /** The disk's target name (vda...); default the backup's first disk. */
  disk?: string;
  /** Where to listen; default a socket in a new 0700 directory under the temp directory. */
  listen?: NbdTarget;
  /** A client broke the protocol or a read failed; the server goes on. */
  onClientError?: (err: Error) => void;
}

export interface MountInfo {
  backup: string;
  vm: string;
  startedAt: string;
  disk: string;
  virtualSize: number;
  /** An NBD URI for qemu-img, nbdinfo... (the default export). */
  uri: string;
  address: NbdTarget;
}

export interface Mount extends MountInfo {
  /** Idempotent: ends every connection, removes the socket (and its directory if ours). */
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1']);

export function nbdUri(address: NbdTarget): string {
  if ('socketPath' in address)
    return `nbd+unix:///?socket=${encodeURIComponent(address.socketPath).replace(/%2F/g, '/')}`;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `nbd://${host}:${address.port}/`;
}

export async function mountBackup(
  repo: Repository,
  ref: string,
  o: MountOptions = {},
): Promise<Mount> {
  if (o.listen && 'host' in o.listen && !LOOPBACK.has(o.listen.host)) {
    throw new EngineError('MOUNT_NOT_LOOPBACK', `${o.listen.host} is not a loopback address`, {
      details: { host: o.listen.host },
    });
  }
  const { manifest, disk: name } = await chooseBackupDisk(repo, ref, o);
  const disk = await BackupDisk.open(repo, manifest.id, name);
  let dir: string | undefined;
  try {
    const ex = await BackupExport.over(disk);
    if (!o.listen) dir = await mkdtemp(join(tmpdir(), 'brankas-mount-'));
    const listen = o.listen ?? { socketPath: join(dir!, 'nbd.sock') };
    const server = await NbdServer.listen({
      name,
      export: ex,
      listen,
      ...(o.onClientError ? { onClientError: o.onClientError } : {}),
    });
    let closing: Promise<void> | undefined;
    return {
      backup: manifest.id,
      vm: manifest.vm.name,
      startedAt: manifest.startedAt,
      disk: name,
      virtualSize: ex.size,
      uri: nbdUri(server.address),
      address: server.address,
      close: () =>
        (closing ??= (async () => {
          try {
            await server.close();
          } finally {
            await disk.close();
            if (dir) await rm(dir, { recursive: true, force: true });
          }
        })()),
    };
  } catch (err) {
    await disk.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
