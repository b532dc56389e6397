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
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  DomainXml,
  isNotFound,
  SnapshotDelete,
  type Connection,
  type Domain,
} from '../../libvirt/index.js';
import type { Repository } from '../../repo/repository.js';
import type { Manifest, ManifestDisk } from '../../repo/manifest.js';
import { chooseBackup, type ChooseOptions, type DamagedBackup } from '../catalog.js';
import { EngineError } from '../errors.js';
import { checkSpace } from './space.js';
import { Staging } from './staging.js';
import { isBootFile, writeBootFile, writeDisk, type RestoreProgressFn } from './write.js';
import { rewriteDomainXml } from './xml.js';

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
  /** The domain XML it was defined (or started) with. */
  xml: string;
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

async function lookup(conn: Connection, name: string): Promise<Domain | undefined> {
  try {
    return await conn.lookupDomain(name);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export async function restoreBackup(
  conn: Connection,
  repo: Repository,
  ref: string,
  o: RestoreOptions = {},
): Promise<RestoreResult> {
  const started = Date.now();
  const m = await resolveBackup(repo, ref, o);
  if (!m.domainXml) {
    throw new EngineError('RESTORE_NO_XML', `backup ${m.id} has no domain XML to define`, {
      details: { backup: m.id },
    });
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
  const plan: { disk: ManifestDisk; path: string; format: string }[] = [];
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
    // Boot files shared with a still-present original are left as they are.
    if (isBootFile(d) && path === original && existsSync(path)) continue;
    if (existsSync(path) && !o.force) {
      throw new EngineError(
        'RESTORE_FILE_EXISTS',
        `${path} exists; brankas does not overwrite files without --force (or restore --to another directory)`,
        { details: { path, backup: m.id } },
      );
    }
    plan.push({ disk: d, path, format });
  }

  if (o.noSpaceCheck !== true) await checkSpace(plan, m.id);

  const staging = new Staging(o.force === true);
  let defined: Domain | undefined;
  // The definition a forced restore replaces, put back if the restore then fails.
  let replacedXml: string | undefined;
  let droppedSnapshots: string[] = [];
  try {
    if (o.toDir) await mkdir(o.toDir, { recursive: true });
    const disks: RestoreResult['disks'] = [];
    const bootFiles: RestoreResult['bootFiles'] = [];
    // Every file is complete and synced under a temporary name before any takes its place.
    for (const p of plan) {
      o.signal?.throwIfAborted();
      const target = { ...staging.add(p.path), final: p.path };
      if (isBootFile(p.disk)) {
        await writeBootFile(repo, m.id, p.disk, target);
        bootFiles.push({ kind: p.disk.name.slice('boot-'.length), path: p.path });
        continue;
      }
      const format = p.format === 'raw' ? 'raw' : 'qcow2';
      const dataBytes = await writeDisk(repo, m.id, p.disk, target, format, {
        signal: o.signal,
        onProgress: o.onProgress,
      });
      disks.push({ disk: p.disk.name, path: p.path, format, dataBytes });
      o.onDisk?.({ disk: p.disk.name, path: p.path, dataBytes });
    }
    const xml = rewriteDomainXml(m.domainXml, {
      disks: new Map(disks.map((d) => [d.disk, { path: d.path, format: d.format }])),
      bootFiles: new Map(bootFiles.map((b) => [b.kind, b.path])),
      newName: o.as,
      socketDir: o.as
        ? (o.socketDir ?? o.toDir ?? (disks[0] ? dirname(disks[0].path) : undefined))
        : undefined,
      dropInterfaces: o.dropInterfaces ?? false,
    });
    o.signal?.throwIfAborted();
    await staging.commit();
    let vmName = name;
    if (!o.filesOnly) {
      if (existing) replacedXml = await existing.xml(DomainXml.INACTIVE | DomainXml.SECURE);
      const domain = await conn.defineDomain(xml);
      if (!existing) defined = domain;
      if (o.start) await domain.start();
      vmName = domain.name;
      // The replaced disks are flat copies now: snapshots that lived in them (or on them) are
      // gone, and libvirt's records of them would point at nothing. The records go; no file does.
      if (existing) droppedSnapshots = await dropSnapshotRecords(existing);
    }
    await staging.finish();
    return {
      backup: m.id,
      vm: vmName,
      disks,
      bootFiles,
      started: o.start === true && !o.filesOnly,
      droppedSnapshots,
      seconds: (Date.now() - started) / 1000,
      xml,
    };
  } catch (err) {
    // Never a half-restored VM: remove what this restore created, put back what it replaced.
    if (defined) await defined.undefine().catch(() => undefined);
    if (replacedXml) await conn.defineDomain(replacedXml).catch(() => undefined);
    await staging.rollback();
    throw err;
  }
}

async function dropSnapshotRecords(vm: Domain): Promise<string[]> {
  const names: string[] = [];
  for (const s of await vm.listSnapshots()) {
    names.push(s.name);
    await s.delete(SnapshotDelete.METADATA_ONLY);
  }
  return names;
}
