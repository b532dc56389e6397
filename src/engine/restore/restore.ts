/**
 * Restore (the seed: "copy the disk file back, then `virsh define` the saved
 * XML"), made safe: disks are written sparsely as fresh qcow2 or raw files
 * (the kind recorded at backup), the domain is defined from the saved XML
 * with paths rewritten, and nothing is overwritten without --force. Files
 * are written under temporary names and take their places only once all are
 * complete (staging.ts); a file --force replaces is kept until the restore
 * has succeeded. On failure, every file written and any domain newly defined
 * are removed and whatever was replaced is put back, so a half-restored VM
 * is never left behind.
 *
 * A restore never gives a VM more than the VM it comes from had: the new
 * name must be a safe file name (names.ts), and the XML to define is made and
 * checked before anything is written (definition.ts).
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { isNotFound, type Connection, type Domain } from '../../libvirt/index.js';
import type { Repository } from '../../repo/repository.js';
import { errorCode } from '../../util/errors.js';
import type { Manifest, ManifestDisk } from '../../repo/manifest.js';
import { chooseBackup, type ChooseOptions, type DamagedBackup } from '../catalog.js';
import { EngineError } from '../errors.js';
import { hostAccessRefused, planDefinition } from './definition.js';
import { pathError } from './fs-errors.js';
import type { GraphicsDecision } from './graphics.js';
import type { HostAccess } from './host-access.js';
import { checkManifestDiskName, checkRestoreName } from './names.js';
import { checkSpace } from './space.js';
import { cleanLeftovers, removeCreatedDirs, Staging } from './staging.js';
import { isBootFile, writeBootFile, writeDisk, type RestoreProgressFn } from './write.js';
import { dataHostOf } from '../remote/host.js';
import { executeRemote } from './remote.js';
import { placeRestore, type RestoreSite } from './place.js';
import { checkRemoteSpace } from './remote-space.js';
import { blockDeviceRefused, remoteKind } from './remote-staging.js';

export interface RestoreOptions {
  /** A new name: the copy gets a new UUID and new MAC addresses and runs beside the original. */
  as?: string;
  /** Directory for the restored files (default: where the originals were). */
  toDir?: string;
  /** Image format of the restored disks (default: as backed up). */
  format?: 'qcow2' | 'raw';
  /** Start the VM once defined. */
  start?: boolean;
  /** Overwrite an existing VM definition and existing files (the disaster case). */
  force?: boolean;
  /** Write the files and the XML only; define nothing (the caller boots it its own way). */
  filesOnly?: boolean;
  /** Leave network interfaces out (an isolated VM). */
  dropInterfaces?: boolean;
  /**
   * With `as`: where the copy's unix sockets (serial consoles, channels) go
   * (default: the restore directory). A socket path must fit in 107 bytes.
   */
  socketDir?: string;
  /**
   * Skip the free-space check made before writing (for file systems that
   * compress or deduplicate, where statfs understates what fits).
   */
  noSpaceCheck?: boolean;
  /** When the VM's newest backup is damaged, restore the newest intact one (else refuse). */
  skipDamaged?: boolean;
  /** Told which damaged backups were passed over (with skipDamaged). */
  onSkippedDamaged?: (skipped: DamagedBackup[]) => void;
  /**
   * Define host access the reference VM (the one replaced, or the original
   * of a copy) does not have: filesystem passthrough, host devices, host
   * paths, files outside the restore's target. Refused (RESTORE_HOST_ACCESS)
   * without it.
   */
  allowHostAccess?: boolean;
  /**
   * A password for the graphical consoles (VNC, SPICE), which the backup
   * does not hold; without one they keep the reference VM's, or else listen
   * on a local unix socket only.
   */
  graphicsPassword?: string;
  /**
   * Plan only: check everything, write and define nothing, and return what
   * would be done (the XML, the consoles, the host access it would need).
   */
  dryRun?: boolean;
  /** Stops the restore; what it wrote is removed, what it replaced put back. */
  signal?: AbortSignal;
  onProgress?: RestoreProgressFn;
  onDisk?: (e: { disk: string; path: string; dataBytes: number }) => void;
}

export interface RestoreResult {
  backup: string;
  vm: string;
  disks: { disk: string; path: string; format: string; dataBytes: number }[];
  bootFiles: { kind: string; path: string }[];
  started: boolean;
  /** Snapshot records of the VM a forced restore replaced, removed (metadata only). */
  droppedSnapshots: string[];
  seconds: number;
  /** The domain XML it was defined (or started) with; console passwords included. */
  xml: string;
  /** What became of each graphical console (graphics.ts). */
  graphics: GraphicsDecision[];
  /**
   * Host access the reference VM does not have: granted with allowHostAccess
   * (empty without); in a dry run, what would need it.
   */
  hostAccess: HostAccess[];
  /** Partial files of restores into the same directories whose process had died, removed. */
  cleanedLeftovers: string[];
  /** Planned only (dryRun): `disks` carry the backup's data bytes, nothing was written. */
  dryRun: boolean;
}

/**
 * A backup by id, or a VM name meaning that VM's latest backup; refuses when that one is
 * damaged unless `skipDamaged` (catalog.ts), and tells `onSkippedDamaged` what it passed over.
 */
export async function resolveBackup(
  repo: Repository,
  ref: string,
  o: ChooseOptions & { onSkippedDamaged?: (skipped: DamagedBackup[]) => void } = {},
): Promise<Manifest> {
  const { manifest, skippedDamaged } = await chooseBackup(repo, ref, o);
  if (skippedDamaged.length) o.onSkippedDamaged?.(skippedDamaged);
  return manifest;
}

export async function lookup(conn: Connection, name: string): Promise<Domain | undefined> {
  try {
    return await conn.lookupDomain(name);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export async function lookupByUuid(
  conn: Connection,
  uuid: string | null,
): Promise<Domain | undefined> {
  if (!uuid) return undefined;
  try {
    return await conn.lookupDomainByUuid(uuid);
  } catch (err) {
    if (isNotFound(err) || errorCode(err) === 'LIBVIRT_INVALID_ARGUMENT') return undefined;
    throw err;
  }
}

export async function restoreBackup(
  conn: Connection,
  repo: Repository,
  ref: string,
  o: RestoreOptions = {},
): Promise<RestoreResult> {
  try {
    // Paths go into the domain XML, which libvirt reads from its own working directory.
    return await restoreChecked(conn, repo, ref, {
      ...o,
      ...(o.toDir !== undefined ? { toDir: resolve(o.toDir) } : {}),
      ...(o.socketDir !== undefined ? { socketDir: resolve(o.socketDir) } : {}),
    });
  } catch (err) {
    throw pathError(err);
  }
}

export interface PlannedFile {
  disk: ManifestDisk;
  path: string;
  format: string;
  exists: boolean;
}

async function restoreChecked(
  conn: Connection,
  repo: Repository,
  ref: string,
  o: RestoreOptions,
): Promise<RestoreResult> {
  const started = Date.now();
  if (o.as !== undefined) checkRestoreName(o.as);
  const m = await resolveBackup(repo, ref, o);
  if (!m.domainXml) {
    throw new EngineError('RESTORE_NO_XML', `backup ${m.id} has no domain XML to define`, {
      details: { backup: m.id },
    });
  }
  for (const d of m.disks) checkManifestDiskName(d.name, m.id);
  // The files go where the connection's VMs live: here, or on its host over ssh (remote.ts).
  const host = dataHostOf(conn);
  const exists = async (path: string): Promise<boolean> => {
    if (host.kind === 'local') return existsSync(path);
    const kind = await remoteKind(host.ssh, path, o.signal);
    // Locally a block device is written in place; over ssh that is not done (yet).
    if (kind === 'block' && o.force) throw blockDeviceRefused(host.ssh, path);
    return kind !== 'none';
  };
  if (o.toDir !== undefined && host.kind === 'local') {
    const st = statSync(o.toDir, { throwIfNoEntry: false });
    if (st && !st.isDirectory()) {
      throw pathError(
        Object.assign(new Error('not a directory'), { code: 'ENOTDIR', path: o.toDir }),
      );
    }
  }
  const name = o.as ?? m.vm.name;
  const existing = await lookup(conn, name);
  if (existing && !o.force) {
    throw new EngineError(
      'RESTORE_VM_EXISTS',
      `a VM named '${name}' is already defined; restore with --as NEWNAME beside it, or with ` +
        `--force to replace its definition and files (the disaster case: its disk is gone)`,
      { details: { vm: name, backup: m.id } },
    );
  }
  if (existing && (await existing.isActive())) {
    throw new EngineError(
      'RESTORE_VM_RUNNING',
      `VM '${name}' is running: shut it down before restoring over it`,
      {
        details: { vm: name },
      },
    );
  }

  // Plan every target path first: nothing is written until all are known to be free.
  const plan: PlannedFile[] = [];
  for (const d of m.disks) {
    const opts = (d.formatOptions ?? {}) as { source?: string; path?: string };
    const original = isBootFile(d) ? opts.path : opts.source;
    if (!original) continue;
    const format = isBootFile(d) ? 'file' : (o.format ?? (d.format === 'raw' ? 'raw' : 'qcow2'));
    let path: string;
    if (o.toDir)
      path = join(
        o.toDir,
        o.as && !isBootFile(d) ? `${o.as}-${d.name}.${format}` : basename(original),
      );
    else if (o.as && !isBootFile(d)) path = join(dirname(original), `${o.as}-${d.name}.${format}`);
    else path = original;
    const there = await exists(path);
    // Boot files shared with a still-present original are left as they are.
    if (isBootFile(d) && path === original && there) continue;
    if (there && !o.force) {
      throw new EngineError(
        'RESTORE_FILE_EXISTS',
        `${path} exists; brankas does not overwrite files without --force (or restore --to another directory)`,
        { details: { path, backup: m.id } },
      );
    }
    plan.push({ disk: d, path, format, exists: there });
  }

  // The XML to define is known before anything is written, and checked.
  const disksPlanned = plan.filter((p) => !isBootFile(p.disk));
  const { xml, graphics, hostAccess, reference } = await planDefinition(
    conn,
    m.domainXml,
    plan.map((p) => ({ ...p, boot: isBootFile(p.disk) })),
    existing ?? (await lookupByUuid(conn, m.vm.uuid)),
    o,
  );
  if (o.dryRun) {
    // The plan: what would be written and defined, and what it would need allowing.
    return {
      backup: m.id,
      vm: name,
      disks: disksPlanned.map((p) => ({
        disk: p.disk.name,
        path: p.path,
        format: p.format,
        dataBytes: p.disk.dataBytes,
      })),
      bootFiles: plan
        .filter((p) => isBootFile(p.disk))
        .map((p) => ({ kind: p.disk.name.slice('boot-'.length), path: p.path })),
      started: false,
      droppedSnapshots: [],
      seconds: (Date.now() - started) / 1000,
      xml,
      graphics,
      hostAccess,
      cleanedLeftovers: [],
      dryRun: true,
    };
  }
  if (hostAccess.length > 0 && o.allowHostAccess !== true) {
    throw hostAccessRefused(m.id, name, reference, hostAccess, xml);
  }

  if (host.kind === 'ssh') {
    if (o.noSpaceCheck !== true) await checkRemoteSpace(host.ssh, plan, m.id, o.signal);
    return executeRemote(conn, repo, m, plan, xml, existing, o, host.ssh, {
      started,
      name,
      graphics,
      hostAccess,
    });
  }
  if (o.noSpaceCheck !== true) await checkSpace(plan, m.id);
  const facts = { started, name, graphics, hostAccess };
  return placeRestore(conn, m, plan, xml, existing, o, facts, localSite(repo, m, plan, o));
}

/** This host's file system as a restore's site (staging.ts). */
function localSite(
  repo: Repository,
  m: Manifest,
  plan: PlannedFile[],
  o: RestoreOptions,
): RestoreSite {
  const staging = new Staging(o.force === true);
  const target = (p: PlannedFile) => ({ ...staging.add(p.path), final: p.path });
  // The first directory this restore created for --to, removed again if it fails.
  let createdDir: string | undefined;
  return {
    async prepare() {
      if (o.toDir) createdDir = await mkdir(o.toDir, { recursive: true });
      const cleaned: string[] = [];
      for (const dir of new Set(plan.map((p) => dirname(p.path)))) {
        cleaned.push(...(await cleanLeftovers(dir)));
      }
      return cleaned;
    },
    writeBootFile: (p) => writeBootFile(repo, m.id, p.disk, target(p)),
    writeDisk: (p, format) =>
      writeDisk(repo, m.id, p.disk, target(p), format, {
        signal: o.signal,
        onProgress: o.onProgress,
      }),
    commit: () => staging.commit(),
    finish: () => staging.finish(),
    async rollback() {
      await staging.rollback();
      if (o.toDir) await removeCreatedDirs(createdDir, o.toDir);
    },
  };
}
