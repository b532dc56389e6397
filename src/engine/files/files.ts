/**
 * File-level restore: `ls` and `get` on a backup's disk without restoring it
 * (docs/file-restore.md). The disk is read straight from the repository; its
 * layout is read here, on the host, so that what cannot work (LUKS, an unknown
 * filesystem, a path naming no volume, a destination that exists) is refused
 * first. An ext2/3/4 volume is then read in-process (host-files.ts); any other,
 * or one using an ext4 feature the host reader lacks, or any with `helper`, is
 * read by one helper VM over NBD. Either way the payload goes to a listing, a
 * tar file or a safe extraction.
 */
import { lstat, mkdir, open, rename, rm } from 'node:fs/promises';
import { Ext4, isFsUnsupported } from '../../image/fs/ext4/index.js';
import type { Connection } from '../../libvirt/index.js';
import type { Repository } from '../../repo/repository.js';
import type { ChooseOptions } from '../catalog.js';
import { EngineError } from '../errors.js';
import { runHelper } from './helper-vm.js';
import { hostList, hostTar, PathFault } from './host-files.js';
import { READABLE_FS, type DiskLayout, type Volume } from './layout.js';
import { newTokens, parseListing, type FileEntry, type HelperStatus } from './protocol.js';
import { openSession, type Session } from './session.js';
import { TarExtractor, type ExtractSummary } from './tar-extract.js';

export interface FilesOptions extends ChooseOptions {
  /** The disk's target name (vda...); default the backup's first disk. */
  disk?: string;
  signal?: AbortSignal;
  /** The helper's deadline, boot to last byte (default HELPER_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Read with the helper VM even where the host reader could. */
  helper?: boolean;
}

/** Opens the libvirt connection a helper VM needs (only asked for when one boots). */
export type Connect = () => Promise<Connection>;

/**
 * Who read the volume: brankas itself ('host') or a helper VM; why the helper did when the
 * volume is ext2/3/4: it was asked for (`forced`), or the filesystem uses a feature the host
 * reader does not read (`unsupported`, naming it).
 */
export interface ReaderChoice {
  reader: 'host' | 'helper-vm';
  helperReason?: 'forced' | 'unsupported';
  unsupportedFeature?: string;
}

export interface FilesTarget extends ReaderChoice {
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

function target(s: Session, v: Volume | undefined, via: ReaderChoice): FilesTarget {
  return {
    backup: s.backup,
    vm: s.vm,
    disk: s.disk,
    table: s.layout.table,
    volume: v ? volumeLabel(v) : '',
    fs: v?.fs ?? '',
    ...via,
  };
}

/** Turns the guest's (or the host reader's) error status into the engine's error. */
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
          disk: s.disk,
          backup: s.backup,
        },
      });
    case 'OUTSIDE':
      return outside(userPathOf(st.arg), 'a symbolic link on the way leads out of the filesystem');
    case 'MOUNT':
      return new EngineError('FILES_MOUNT_FAILED', `cannot mount ${volumeLabel(v)} (${v.fs})`, {
        details: {
          volume: volumeLabel(v),
          fs: v.fs,
          disk: s.disk,
          message: 'the kernel refused to mount it (damaged, or a feature it lacks)',
        },
      });
    default:
      return new EngineError('FILES_HELPER_FAILED', `helper status ${st.code} ${st.arg}`, {
        details: { reason: `it answered ${st.code}`, console: st.arg || '(nothing)' },
      });
  }
}

/**
 * Runs `host` on the volume's ext4 when the host reader can read it; else says that a helper VM
 * must, and why. A path fault becomes the engine's error, as the helper's status would.
 */
async function onHost<T>(
  s: Session,
  v: Volume,
  o: FilesOptions,
  userPathOf: (rel: string) => string,
  host: (fs: Ext4) => Promise<T>,
): Promise<{ value: T } | ReaderChoice> {
  if (v.fs !== 'ext4') return { reader: 'helper-vm' };
  if (o.helper) return { reader: 'helper-vm', helperReason: 'forced' };
  const end = v.size;
  const read = (off: number, len: number): Promise<Buffer> =>
    off < 0 || off >= end
      ? Promise.resolve(Buffer.alloc(0))
      : s.read(v.offset + off, Math.min(len, end - off));
  try {
    return { value: await host(await Ext4.open(read, v.size)) };
  } catch (err) {
    if (isFsUnsupported(err)) {
      return {
        reader: 'helper-vm',
        helperReason: 'unsupported',
        unsupportedFeature: String(err.details['feature']),
      };
    }
    if (err instanceof PathFault)
      throw statusError({ ok: false, code: err.code, arg: err.rel }, s, v, userPathOf);
    throw err;
  }
}

const HOST: ReaderChoice = { reader: 'host' };

export async function listFiles(
  connect: Connect,
  repo: Repository,
  ref: string,
  path: string,
  o: FilesOptions = {},
): Promise<Listing> {
  const s = await openSession(repo, ref, o);
  try {
    const at = { backup: s.backup, disk: s.disk };
    const r = resolvePath(s.layout, path, at);
    if (!r.volume) {
      // The top of a partitioned disk: its partitions, from the layout alone.
      return {
        ...target(s, undefined, HOST),
        path: '/',
        entries: s.layout.volumes.map((v) => ({
          name: v.name,
          type: 'dir' as const,
          mode: 0o555,
          uid: 0,
          gid: 0,
          size: v.size,
          mtime: s.startedAt,
          fs: v.fs,
        })),
      };
    }
    const v = r.volume;
    checkReadable(v, s.disk);
    const host = await onHost(
      s,
      v,
      o,
      () => path,
      (fs) => hostList(fs, r.rel),
    );
    if ('value' in host) return { ...target(s, v, HOST), path, entries: host.value };
    const chunks: Buffer[] = [];
    const tokens = newTokens();
    const hm = await s.helperMount();
    const st = await runHelper({
      conn: await connect(),
      ...hm,
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
    return {
      ...target(s, v, host),
      path,
      entries: parseListing(Buffer.concat(chunks), tokens.sep),
    };
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

/** Produces the archive, handing each piece to `onPayload`; the reader that did it. */
type Producer = (onPayload: (c: Buffer) => Promise<void>) => Promise<void>;

export async function getFiles(
  connect: Connect,
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
    const at = { backup: s.backup, disk: s.disk };
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
    checkReadable(v, s.disk);
    const rels = resolved.map((r) => r.rel);
    const userPathOf = (rel: string): string => paths[rels.indexOf(rel)] ?? rel;
    // The host reader resolves every path before the first byte: a fault or a feature it
    // lacks is known before anything is written.
    const host = await onHost(s, v, o, userPathOf, (fs) => hostTar(fs, rels));
    const via: ReaderChoice = 'value' in host ? HOST : host;
    const produce: Producer =
      'value' in host
        ? async (onPayload) => {
            for await (const c of host.value) await onPayload(c);
          }
        : async (onPayload) => {
            const hm = await s.helperMount();
            const st = await runHelper({
              conn: await connect(),
              ...hm,
              request: { op: 'get' as const, device: v.device, fs: v.fs, paths: rels },
              tokens: newTokens(),
              onPayload,
              ...(o.signal ? { signal: o.signal } : {}),
              ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
            });
            if (!st.ok) throw statusError(st, s, v, userPathOf);
          };
    let bytes = 0;
    if (o.tar !== undefined) {
      const partial = `${o.tar}.partial`;
      const fh = await open(partial, 'w', 0o600);
      try {
        await produce(async (c) => {
          o.signal?.throwIfAborted();
          bytes += c.length;
          await fh.write(c);
        });
        await fh.close();
      } catch (err) {
        await fh.close().catch(() => undefined);
        await rm(partial, { force: true });
        throw err;
      }
      await rename(partial, o.tar);
      return { ...target(s, v, via), paths, tar: o.tar, bytes };
    }
    const to = o.to!;
    const made = !(await exists(to));
    await mkdir(to, { recursive: true, mode: 0o755 });
    const ex = new TarExtractor(to, { owners: o.owners ?? process.getuid?.() === 0 });
    try {
      await produce(async (c) => {
        o.signal?.throwIfAborted();
        bytes += c.length;
        await ex.write(c);
      });
      const extracted = await ex.finish();
      return { ...target(s, v, via), paths, to, bytes, extracted };
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
