/**
 * The plan of `brankas run`: which backup, where each disk's overlay and NBD
 * socket go, and the domain XML to define, all made and checked before
 * anything is created. The XML is restore's (`planDefinition`: a new name,
 * no UUID or MAC addresses, sockets of its own, graphical consoles secured,
 * host access compared with the original VM), with each disk then made an
 * overlay over its export (xml.ts).
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Connection } from '../../libvirt/index.js';
import type { Repository } from '../../repo/repository.js';
import type { ManifestDisk } from '../../repo/manifest.js';
import type { ChooseOptions, DamagedBackup } from '../catalog.js';
import { EngineError } from '../errors.js';
import { hostAccessRefused, planDefinition, type PlannedPath } from '../restore/definition.js';
import { pathError } from '../restore/fs-errors.js';
import type { GraphicsDecision } from '../restore/graphics.js';
import type { HostAccess } from '../restore/host-access.js';
import { checkManifestDiskName, checkRestoreName } from '../restore/names.js';
import { lookup, lookupByUuid, resolveBackup } from '../restore/restore.js';
import { isBootFile } from '../restore/write.js';
import { MAX_SOCKET_PATH } from '../restore/xml.js';
import { overlayXml } from './xml.js';

export interface RunOptions extends ChooseOptions {
  /** The new VM's name (required: a run never takes the original's place). */
  as: string;
  /** Directory for the overlays and sockets (default: the original disk's directory). */
  toDir?: string;
  allowHostAccess?: boolean;
  graphicsPassword?: string;
  onSkippedDamaged?: (skipped: DamagedBackup[]) => void;
}

export interface RunDiskPlan {
  disk: string;
  virtualSize: number;
  overlay: string;
  socket: string;
}

export interface RunPlan {
  backup: string;
  /** The backed-up VM. */
  source: string;
  /** The VM to define. */
  vm: string;
  disks: RunDiskPlan[];
  /** Boot files (kernel, initrd) missing on this host, to write from the backup. */
  bootFiles: { disk: ManifestDisk; path: string }[];
  xml: string;
  graphics: GraphicsDecision[];
  hostAccess: HostAccess[];
}

export async function planRun(
  conn: Connection,
  repo: Repository,
  ref: string,
  options: RunOptions,
): Promise<RunPlan> {
  const o = { ...options, ...(options.toDir ? { toDir: resolve(options.toDir) } : {}) };
  try {
    return await plan(conn, repo, ref, o);
  } catch (err) {
    throw pathError(err);
  }
}

async function plan(
  conn: Connection,
  repo: Repository,
  ref: string,
  o: RunOptions,
): Promise<RunPlan> {
  checkRestoreName(o.as);
  const m = await resolveBackup(repo, ref, o);
  if (!m.domainXml) {
    throw new EngineError('RESTORE_NO_XML', `backup ${m.id} has no domain XML to define`, {
      details: { backup: m.id },
    });
  }
  for (const d of m.disks) checkManifestDiskName(d.name, m.id);
  if (await lookup(conn, o.as)) {
    throw new EngineError(
      'RESTORE_VM_EXISTS',
      `a VM named '${o.as}' is already defined; run the backup --as another name`,
      { details: { vm: o.as, backup: m.id } },
    );
  }
  const disks: RunDiskPlan[] = [];
  const bootFiles: RunPlan['bootFiles'] = [];
  const paths: PlannedPath[] = [];
  for (const d of m.disks) {
    const opts = (d.formatOptions ?? {}) as { source?: string; path?: string };
    if (isBootFile(d)) {
      if (!opts.path) continue;
      const path = o.toDir ? join(o.toDir, basename(opts.path)) : opts.path;
      // A kernel still where it was (or already in --to) is used as it is.
      if (existsSync(path)) continue;
      bootFiles.push({ disk: d, path });
      paths.push({ disk: d, path, format: 'file', boot: true });
      continue;
    }
    if (!opts.source) continue;
    const dir = o.toDir ?? dirname(opts.source);
    const overlay = join(dir, `${o.as}-${d.name}.qcow2`);
    const socket = join(dir, `${o.as}-${d.name}.sock`);
    for (const path of [overlay, socket]) {
      if (existsSync(path)) {
        throw new EngineError(
          'RESTORE_FILE_EXISTS',
          `${path} exists; brankas does not overwrite files (run --to another directory)`,
          { details: { path, backup: m.id } },
        );
      }
    }
    if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
      throw new EngineError(
        'RESTORE_SOCKET_PATH_TOO_LONG',
        `the export's socket ${socket} is longer than the ${MAX_SOCKET_PATH} bytes a unix socket path may have; run --to a shorter directory`,
        { details: { path: socket, max: MAX_SOCKET_PATH } },
      );
    }
    disks.push({ disk: d.name, virtualSize: d.virtualSize, overlay, socket });
    paths.push({ disk: d, path: overlay, format: 'qcow2', boot: false });
  }
  const reference = await lookupByUuid(conn, m.vm.uuid);
  const def = await planDefinition(conn, m.domainXml, paths, reference, {
    as: o.as,
    toDir: o.toDir,
    graphicsPassword: o.graphicsPassword,
  });
  if (def.hostAccess.length > 0 && o.allowHostAccess !== true) {
    throw hostAccessRefused(m.id, o.as, def.reference, def.hostAccess, def.xml);
  }
  return {
    backup: m.id,
    source: m.vm.name,
    vm: o.as,
    disks,
    bootFiles,
    xml: overlayXml(def.xml, disks),
    graphics: def.graphics,
    hostAccess: def.hostAccess,
  };
}
