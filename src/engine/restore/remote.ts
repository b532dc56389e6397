/**
 * A restore onto a remote host (the connection is `qemu+ssh://`): the same
 * plan and checks as a local restore (restore.ts), the files written there
 * over the same ssh. Disks go through a remote qemu-nbd into fresh images
 * made by `qemu-img create` (remote/disk-sink.ts), boot files through `cat`.
 * As locally, every file is written under a hidden temporary name in its
 * target directory and only placed once all are complete (remote-staging.ts);
 * with --force a replaced file and the replaced VM's definition are kept
 * until the restore has succeeded. On failure everything this restore wrote,
 * the domain it defined and the directories it created are removed, and what
 * it replaced is put back.
 */
import { DomainXml, type Connection, type Domain } from '../../libvirt/index.js';
import type { Manifest, ManifestDisk } from '../../repo/manifest.js';
import type { Repository } from '../../repo/repository.js';
import { BackupDisk } from '../../repo/reader.js';
import { shellQuote, type SshTarget } from '../../util/ssh.js';
import { createRemoteDisk, remoteRun } from '../remote/disk-sink.js';
import type { GraphicsDecision } from './graphics.js';
import type { HostAccess } from './host-access.js';
import {
  dropSnapshotRecords,
  type PlannedFile,
  type RestoreOptions,
  type RestoreResult,
} from './restore.js';
import { RemoteStaging, remoteMkdirs, remoteRemoveCreatedDirs } from './remote-staging.js';
import { bootFileMode, copyBackedDisk, isBootFile } from './write.js';

export async function writeRemoteDisk(
  ssh: SshTarget,
  repo: Repository,
  backupId: string,
  disk: ManifestDisk,
  path: string,
  format: 'qcow2' | 'raw',
  o: Pick<RestoreOptions, 'signal' | 'onProgress'>,
): Promise<number> {
  const backed = await BackupDisk.open(repo, backupId, disk.name);
  try {
    const fo = (disk.formatOptions ?? {}) as { clusterSize?: number; compat?: string };
    const writer = await createRemoteDisk(ssh, path, {
      format,
      virtualSize: backed.virtualSize,
      clusterSize: fo.clusterSize,
      compat: fo.compat === '0.10' || fo.compat === '1.1' ? fo.compat : undefined,
      signal: o.signal,
    });
    return await copyBackedDisk(backed, format, disk.name, writer, o);
  } finally {
    await backed.close();
  }
}

async function writeRemoteBootFile(
  ssh: SshTarget,
  repo: Repository,
  backupId: string,
  disk: ManifestDisk,
  path: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const backed = await BackupDisk.open(repo, backupId, disk.name);
  try {
    const data = await backed.read(0, backed.virtualSize);
    const mode = bootFileMode(disk).toString(8);
    const p = shellQuote(path);
    await remoteRun(
      ssh,
      `set -C; umask 077; cat > ${p} && chmod ${mode} ${p} && sync ${p}`,
      `writing ${path}`,
      { signal, input: data },
    );
  } finally {
    await backed.close();
  }
}

export async function executeRemote(
  conn: Connection,
  repo: Repository,
  m: Manifest,
  plan: PlannedFile[],
  xml: string,
  existing: Domain | undefined,
  o: RestoreOptions,
  ssh: SshTarget,
  facts: { started: number; name: string; graphics: GraphicsDecision[]; hostAccess: HostAccess[] },
): Promise<RestoreResult> {
  const staging = new RemoteStaging(ssh, o.force === true, o.signal);
  let createdDir: string | undefined;
  let defined: Domain | undefined;
  // The definition a forced restore replaces, put back if the restore then fails.
  let replacedXml: string | undefined;
  let droppedSnapshots: string[] = [];
  try {
    if (o.toDir) createdDir = await remoteMkdirs(ssh, o.toDir, o.signal);
    const disks: RestoreResult['disks'] = [];
    const bootFiles: RestoreResult['bootFiles'] = [];
    for (const p of plan) {
      o.signal?.throwIfAborted();
      const tmp = staging.add(p.path);
      if (isBootFile(p.disk)) {
        await writeRemoteBootFile(ssh, repo, m.id, p.disk, tmp, o.signal);
        bootFiles.push({ kind: p.disk.name.slice('boot-'.length), path: p.path });
        continue;
      }
      const format = p.format === 'raw' ? 'raw' : 'qcow2';
      const dataBytes = await writeRemoteDisk(ssh, repo, m.id, p.disk, tmp, format, o);
      disks.push({ disk: p.disk.name, path: p.path, format, dataBytes });
      o.onDisk?.({ disk: p.disk.name, path: p.path, dataBytes });
    }
    o.signal?.throwIfAborted();
    // Placed only once all are complete (remote-staging.ts).
    await staging.commit();
    let vmName = facts.name;
    if (!o.filesOnly) {
      if (existing) replacedXml = await existing.xml(DomainXml.INACTIVE | DomainXml.SECURE);
      const domain = await conn.defineDomain(xml);
      if (!existing) defined = domain;
      if (o.start) await domain.start();
      vmName = domain.name;
      // As locally: the replaced disks are flat copies now, their snapshots' records go.
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
      seconds: (Date.now() - facts.started) / 1000,
      xml,
      graphics: facts.graphics,
      hostAccess: facts.hostAccess,
      cleanedLeftovers: [],
      dryRun: false,
    };
  } catch (err) {
    // Never a half-restored VM: what this restore wrote and defined goes, what it replaced is back.
    if (defined) await defined.undefine().catch(() => undefined);
    if (replacedXml) await conn.defineDomain(replacedXml).catch(() => undefined);
    await staging.rollback();
    if (o.toDir) await remoteRemoveCreatedDirs(ssh, createdDir, o.toDir);
    throw err;
  }
}
