/**
 * File-level restore: `ls` and `get` on a backup's disk without restoring it
 * (docs/file-restore.md). The disk is served over NBD straight from the
 * repository; its layout is read here, on the host, so that what cannot work
 * (LUKS, an unknown filesystem, a path naming no volume, a destination that
 * exists) is refused before a helper VM boots; then one helper answers the
 * request and the payload is streamed to a listing, a tar file or a safe
 * extraction.
 */
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Connection } from '../../libvirt/index.js';
import { BackupDisk } from '../../repo/reader.js';
import type { Repository } from '../../repo/repository.js';
import type { ChooseOptions } from '../catalog.js';
import { EngineError } from '../errors.js';
import { guestWorkDir } from '../guest/tiny-guest.js';
import { mountBackup, type Mount } from '../mount/index.js';
import { runHelper } from './helper-vm.js';
import { READABLE_FS, readLayout, type DiskLayout, type Volume } from './layout.js';
import { newTokens, parseListing, type FileEntry, type HelperStatus } from './protocol.js';
import { TarExtractor, type ExtractSummary } from './tar-extract.js';

export interface FilesOptions extends ChooseOptions {
  /** The disk's target name (vda...); default the backup's first disk. */
  disk?: string;
  signal?: AbortSignal;
  /** The helper's deadline, boot to last byte (default HELPER_TIMEOUT_MS). */
  timeoutMs?: number;
}

export interface FilesTarget {
  backup: string;
  vm: string;
  disk: string;
  table: DiskLayout['table'];
  /** '/' for a whole-disk filesystem, `/p1`... for a partition, '' for a partitioned disk's top. */
  volume: string;
  /** The volume's filesystem ('' at a partitioned disk's top). */
  fs: string;
}

export interface Listing extends FilesTarget {
  path: string;
  entries: (FileEntry & { fs?: string })[];
}

export interface GetOptions extends FilesOptions {
  /** Extract into this directory (refused if it exists, unless force). */
  to?: string;
  /** Write the tar archive to this file (refused if it exists, unless force). */
  tar?: string;
  force?: boolean;
  /** Give extracted entries their owners (default: when running as root). */
  owners?: boolean;
}

export interface GetResult extends FilesTarget {
  paths: string[];
  to?: string;
  tar?: string;
  /** Bytes of the archive received. */
  bytes: number;
  extracted?: ExtractSummary;
}

interface Resolved {
  /** Undefined: the top of a partitioned disk. */
  volume: Volume | undefined;
  rel: string;
}

function volumeLabel(v: Volume): string {
  return v.name === '' ? '/' : `/${v.name}`;
}

function outside(path: string, reason: string): EngineError<'FILES_PATH_OUTSIDE'> {
  return new EngineError('FILES_PATH_OUTSIDE', `'${path}' leads outside: ${reason}`, {
    details: { path, reason },
  });
}

/** Maps a user's path to a volume and a path relative to its root. */
export function resolvePath(
  layout: DiskLayout,
  path: string,
  at: { backup: string; disk: string },
): Resolved {
  if (path.includes('\0')) throw outside(path, 'it holds a NUL');
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw outside(path, "'..' is not allowed");
  if (layout.volumes.length === 0) {
    throw new EngineError('FILES_NO_FILESYSTEM', `disk ${at.disk} holds no filesystem`, {
      details: { disk: at.disk, backup: at.backup },
    });
  }
  if (layout.table === 'none') return { volume: layout.volumes[0]!, rel: parts.join('/') || '.' };
  if (parts.length === 0) return { volume: undefined, rel: '.' };
  const volume = layout.volumes.find((v) => v.name === parts[0]);
  if (!volume) {
    throw new EngineError('FILES_VOLUME_NOT_FOUND', `no volume ${parts[0]} on ${at.disk}`, {
      details: {
        disk: at.disk,
        backup: at.backup,
        volume: `/${parts[0]}`,
        volumes: layout.volumes.map(volumeLabel).join(', '),
      },
    });
  }
  return { volume, rel: parts.slice(1).join('/') || '.' };
}

/** Refuses what the helper cannot read, by name. */
function checkReadable(
  v: Volume,
  disk: string,
): asserts v is Volume & { fs: (typeof READABLE_FS)[number] } {
  if (v.fs === 'luks') {
    throw new EngineError('FILES_ENCRYPTED', `${volumeLabel(v)} of ${disk} is LUKS`, {
      details: { volume: volumeLabel(v), disk },
    });
  }
  if (!(READABLE_FS as readonly string[]).includes(v.fs)) {
    throw new EngineError('FILES_FS_UNSUPPORTED', `${volumeLabel(v)} of ${disk} is ${v.fs}`, {
      details: { volume: volumeLabel(v), disk, fs: v.fs, readable: READABLE_FS.join(', ') },
    });
  }
}

interface Session {
  mount: Mount;
  layout: DiskLayout;
  dir: string;
  name: string;
  nbdSocket: string;
  close(): Promise<void>;
}

async function openSession(repo: Repository, ref: string, o: FilesOptions): Promise<Session> {
  const name = `brankas-files-${randomBytes(6).toString('hex')}`;
  // A private directory with an unguessable name: QEMU (another user) reaches the NBD socket
  // in it by its path, no one can list it (work-dir.ts).
  const dir = await guestWorkDir(name);
  const nbdSocket = join(dir, 'nbd.sock');
  let mount: Mount | undefined;
  try {
    mount = await mountBackup(repo, ref, {
      ...(o.disk !== undefined ? { disk: o.disk } : {}),
      ...(o.skipDamaged !== undefined ? { skipDamaged: o.skipDamaged } : {}),
      listen: { socketPath: nbdSocket },
    });
    await chmod(nbdSocket, 0o666);
    const disk = await BackupDisk.open(repo, mount.backup, mount.disk);
    let layout: DiskLayout;
    try {
      layout = await readLayout(async (offset, length) => {
        const len = Math.max(0, Math.min(length, disk.virtualSize - offset));
        const buf = Buffer.alloc(len);
        await disk.readInto(buf, 0, offset, len);
        return buf;
      }, disk.virtualSize);
    } finally {
      await disk.close();
    }
    const m = mount;
    return {
      mount: m,
      layout,
      dir,
      name,
      nbdSocket,
      close: async () => {
        await m.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await mount?.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function target(s: Session, v: Volume | undefined): FilesTarget {
  return {
    backup: s.mount.backup,
    vm: s.mount.vm,
    disk: s.mount.disk,
    table: s.layout.table,
    volume: v ? volumeLabel(v) : '',
    fs: v?.fs ?? '',
  };
}

/** Turns the guest's error status into the engine's error. */
function statusError(
  st: Exclude<HelperStatus, { ok: true }>,
  s: Session,
  v: Volume,
  userPathOf: (rel: string) => string,
): EngineError {
  switch (st.code) {
    case 'NOT_FOUND':
      return new EngineError('FILES_PATH_NOT_FOUND', `no ${userPathOf(st.arg)}`, {
        details: {
          path: userPathOf(st.arg),
          volume: volumeLabel(v),
          disk: s.mount.disk,
          backup: s.mount.backup,
        },
      });
    case 'OUTSIDE':
      return outside(userPathOf(st.arg), 'a symbolic link on the way leads out of the filesystem');
    case 'MOUNT':
      return new EngineError('FILES_MOUNT_FAILED', `cannot mount ${volumeLabel(v)} (${v.fs})`, {
        details: {
          volume: volumeLabel(v),
          fs: v.fs,
          disk: s.mount.disk,
          message: 'the kernel refused to mount it (damaged, or a feature it lacks)',
        },
      });
    default:
      return new EngineError('FILES_HELPER_FAILED', `helper status ${st.code} ${st.arg}`, {
        details: { reason: `it answered ${st.code}`, console: st.arg || '(nothing)' },
      });
  }
}

export async function listFiles(
  conn: Connection,
  repo: Repository,
  ref: string,
  path: string,
  o: FilesOptions = {},
): Promise<Listing> {
  const s = await openSession(repo, ref, o);
  try {
    const at = { backup: s.mount.backup, disk: s.mount.disk };
    const r = resolvePath(s.layout, path, at);
    if (!r.volume) {
      // The top of a partitioned disk: its partitions, from the layout alone.
      return {
        ...target(s, undefined),
        path: '/',
        entries: s.layout.volumes.map((v) => ({
          name: v.name,
          type: 'dir' as const,
          mode: 0o555,
          uid: 0,
          gid: 0,
          size: v.size,
          mtime: s.mount.startedAt,
          fs: v.fs,
        })),
      };
    }
    const v = r.volume;
    checkReadable(v, s.mount.disk);
    const chunks: Buffer[] = [];
    const tokens = newTokens();
    const st = await runHelper({
      conn,
      dir: s.dir,
      name: s.name,
      nbdSocket: s.nbdSocket,
      request: { op: 'ls', device: v.device, fs: v.fs, paths: [r.rel] },
      tokens,
      onPayload: (c) => {
        chunks.push(Buffer.from(c));
        return Promise.resolve();
      },
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    });
    if (!st.ok) throw statusError(st, s, v, () => path);
    return { ...target(s, v), path, entries: parseListing(Buffer.concat(chunks), tokens.sep) };
  } finally {
    await s.close();
  }
}

async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined)) !== undefined;
}

function destExists(path: string): EngineError<'FILES_DEST_EXISTS'> {
  return new EngineError('FILES_DEST_EXISTS', `${path} exists`, { details: { path } });
}

export async function getFiles(
  conn: Connection,
  repo: Repository,
  ref: string,
  paths: string[],
  o: GetOptions,
): Promise<GetResult> {
  if ((o.to === undefined) === (o.tar === undefined)) {
    throw new Error('getFiles: give exactly one of to and tar');
  }
  const dest = (o.to ?? o.tar)!;
  if (!o.force && (await exists(dest))) throw destExists(dest);
  const s = await openSession(repo, ref, o);
  try {
    const at = { backup: s.mount.backup, disk: s.mount.disk };
    const resolved = paths.map((p) => resolvePath(s.layout, p, at));
    const v = resolved[0]?.volume;
    const volumes = s.layout.volumes.map(volumeLabel).join(', ');
    for (const [i, r] of resolved.entries()) {
      if (!r.volume || r.volume !== v) {
        throw new EngineError('FILES_ONE_VOLUME', `${paths[i]} is not in one volume`, {
          details: { path: paths[i]!, volumes },
        });
      }
    }
    if (!v) throw new Error('getFiles: no paths');
    checkReadable(v, s.mount.disk);
    const rels = resolved.map((r) => r.rel);
    const userPathOf = (rel: string): string => paths[rels.indexOf(rel)] ?? rel;
    const request = { op: 'get' as const, device: v.device, fs: v.fs, paths: rels };
    const common = {
      conn,
      dir: s.dir,
      name: s.name,
      nbdSocket: s.nbdSocket,
      request,
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    };
    let bytes = 0;
    if (o.tar !== undefined) {
      const partial = `${o.tar}.partial`;
      const fh = await open(partial, 'w', 0o600);
      let st: HelperStatus;
      try {
        st = await runHelper({
          ...common,
          onPayload: async (c) => {
            bytes += c.length;
            await fh.write(c);
          },
        });
        await fh.close();
      } catch (err) {
        await fh.close().catch(() => undefined);
        await rm(partial, { force: true });
        throw err;
      }
      if (!st.ok) {
        await rm(partial, { force: true });
        throw statusError(st, s, v, userPathOf);
      }
      await rename(partial, o.tar);
      return { ...target(s, v), paths, tar: o.tar, bytes };
    }
    const to = o.to!;
    const made = !(await exists(to));
    await mkdir(to, { recursive: true, mode: 0o755 });
    const ex = new TarExtractor(to, { owners: o.owners ?? process.getuid?.() === 0 });
    try {
      const st = await runHelper({
        ...common,
        onPayload: async (c) => {
          bytes += c.length;
          await ex.write(c);
        },
      });
      if (!st.ok) throw statusError(st, s, v, userPathOf);
      const extracted = await ex.finish();
      return { ...target(s, v), paths, to, bytes, extracted };
    } catch (err) {
      await ex.abort();
      // A directory this call made holds nothing else: it goes with the failure.
      if (made) await rm(to, { recursive: true, force: true });
      throw err;
    }
  } finally {
    await s.close();
  }
}
