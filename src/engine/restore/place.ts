/**
 * The end of every restore, local or remote: each planned file written under its temporary
 * name (by the site: this host's file system, or a host over ssh), all placed at once, then
 * the VM defined (and started). On failure what this restore wrote and defined goes and what it
 * replaced is back; a VM is never left half restored.
 */
import { DomainXml, SnapshotDelete, type Connection, type Domain } from '../../libvirt/index.js';
import type { Manifest } from '../../repo/manifest.js';
import type { GraphicsDecision } from './graphics.js';
import type { HostAccess } from './host-access.js';
import type { PlannedFile, RestoreOptions, RestoreResult } from './restore.js';
import { isBootFile } from './write.js';

/** Where a restore writes its files. */
export interface RestoreSite {
  /** Makes the target directories; returns the leftovers of killed restores it removed. */
  prepare(): Promise<string[]>;
  /** Writes a boot file under its temporary name. */
  writeBootFile(p: PlannedFile): Promise<void>;
  /** Writes a disk under its temporary name; returns its data bytes. */
  writeDisk(p: PlannedFile, format: 'qcow2' | 'raw'): Promise<number>;
  /** Puts every file in its place (a replaced one is kept aside until finish). */
  commit(): Promise<void>;
  /** The restore succeeded: what was kept aside goes. */
  finish(): Promise<void>;
  /** The restore failed: what it wrote and the directories it made go, what it replaced is back. */
  rollback(): Promise<void>;
}

export interface RestoreFacts {
  started: number;
  name: string;
  graphics: GraphicsDecision[];
  hostAccess: HostAccess[];
}

export async function placeRestore(
  conn: Connection,
  m: Manifest,
  plan: PlannedFile[],
  xml: string,
  existing: Domain | undefined,
  o: RestoreOptions,
  facts: RestoreFacts,
  site: RestoreSite,
): Promise<RestoreResult> {
  let defined: Domain | undefined;
  // The definition a forced restore replaces, put back if the restore then fails.
  let replacedXml: string | undefined;
  let droppedSnapshots: string[] = [];
  try {
    const cleanedLeftovers = await site.prepare();
    const disks: RestoreResult['disks'] = [];
    const bootFiles: RestoreResult['bootFiles'] = [];
    // Every file is complete and synced under a temporary name before any takes its place.
    for (const p of plan) {
      o.signal?.throwIfAborted();
      if (isBootFile(p.disk)) {
        await site.writeBootFile(p);
        bootFiles.push({ kind: p.disk.name.slice('boot-'.length), path: p.path });
        continue;
      }
      const format = p.format === 'raw' ? 'raw' : 'qcow2';
      const dataBytes = await site.writeDisk(p, format);
      disks.push({ disk: p.disk.name, path: p.path, format, dataBytes });
      o.onDisk?.({ disk: p.disk.name, path: p.path, dataBytes });
    }
    o.signal?.throwIfAborted();
    await site.commit();
    let vmName = facts.name;
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
    await site.finish();
    return {
      backup: m.id,
      vm: vmName,
      disks,
      bootFiles,
      started: o.start === true && !o.filesOnly,
      droppedSnapshots,
      seconds: (Date.now() - facts.started) / 1000,
      xml,
      graphics: facts.graphics,
      hostAccess: facts.hostAccess,
      cleanedLeftovers,
      dryRun: false,
    };
  } catch (err) {
    if (defined) await defined.undefine().catch(() => undefined);
    if (replacedXml) await conn.defineDomain(replacedXml).catch(() => undefined);
    await site.rollback();
    throw err;
  }
}

export async function dropSnapshotRecords(vm: Domain): Promise<string[]> {
  const names: string[] = [];
  for (const s of await vm.listSnapshots()) {
    names.push(s.name);
    await s.delete(SnapshotDelete.METADATA_ONLY);
  }
  return names;
}
