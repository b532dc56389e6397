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
import type { Connection, Domain } from '../../libvirt/index.js';
import type { Manifest, ManifestDisk } from '../../repo/manifest.js';
import type { Repository } from '../../repo/repository.js';
import { BackupDisk } from '../../repo/reader.js';
import { shellQuote, type SshTarget } from '../../util/ssh.js';
import { createRemoteDisk, remoteRun } from '../remote/disk-sink.js';
import { placeRestore, type RestoreFacts, type RestoreSite } from './place.js';
import type { PlannedFile, RestoreOptions, RestoreResult } from './restore.js';
import { RemoteStaging, remoteMkdirs, remoteRemoveCreatedDirs } from './remote-staging.js';
import { bootFileMode, copyBackedDisk } from './write.js';

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
  facts: RestoreFacts,
): Promise<RestoreResult> {
  return placeRestore(conn, m, plan, xml, existing, o, facts, remoteSite(ssh, repo, m, o));
}

/** A host over ssh as a restore's site (remote-staging.ts). */
function remoteSite(ssh: SshTarget, repo: Repository, m: Manifest, o: RestoreOptions): RestoreSite {
  const staging = new RemoteStaging(ssh, o.force === true, o.signal);
  let createdDir: string | undefined;
  return {
    async prepare() {
      if (o.toDir) createdDir = await remoteMkdirs(ssh, o.toDir, o.signal);
      return [];
    },
    writeBootFile: (p) =>
      writeRemoteBootFile(ssh, repo, m.id, p.disk, staging.add(p.path), o.signal),
    writeDisk: (p, format) =>
      writeRemoteDisk(ssh, repo, m.id, p.disk, staging.add(p.path), format, o),
    commit: () => staging.commit(),
    finish: () => staging.finish(),
    async rollback() {
      await staging.rollback();
      if (o.toDir) await remoteRemoveCreatedDirs(ssh, createdDir, o.toDir);
    },
  };
}
