/**
 * `restore BACKUP --disk vda --to PATH` with a `qemu+ssh://` connection: the
 * disk is written on that host, PATH being a path there (docs/remote-hosts.md
 * says why). The same steps as the local disk.ts, each over ssh: PATH an
 * existing directory there means `VM-DISK.FORMAT` in it; an existing file is
 * replaced only with --force, and only once the new image is complete
 * (remote-staging.ts); the free space there is checked first
 * (remote-space.ts); on failure what was written and the directories made
 * are removed.
 */
import { dirname, join } from 'node:path';
import type { ManifestDisk } from '../../repo/manifest.js';
import type { Repository } from '../../repo/repository.js';
import { shellQuote, sshExec, type SshTarget } from '../../util/ssh.js';
import { EngineError } from '../errors.js';
import type { RestoreDiskOptions, RestoreDiskResult } from './disk.js';
import { checkManifestDiskName, checkRestoreName } from './names.js';
import { writeRemoteDisk } from './remote.js';
import { checkRemoteSpace } from './remote-space.js';
import {
  blockDeviceRefused,
  remoteKind,
  remoteMkdirs,
  remoteRemoveCreatedDirs,
  RemoteStaging,
} from './remote-staging.js';
import type { Manifest } from '../../repo/manifest.js';

export async function restoreDiskRemote(
  ssh: SshTarget,
  repo: Repository,
  m: Manifest,
  disk: ManifestDisk,
  to: string,
  format: 'qcow2' | 'raw',
  o: RestoreDiskOptions,
  started: number,
): Promise<RestoreDiskResult> {
  const intoDir = (await sshExec(ssh, `[ -d ${shellQuote(to)} ]`, { signal: o.signal })).code === 0;
  if (intoDir) {
    // The file name comes from the manifest: it must stay a name in that directory.
    checkRestoreName(m.vm.name);
    checkManifestDiskName(disk.name, m.id);
  }
  const path = intoDir ? join(to, `${m.vm.name}-${disk.name}.${format}`) : to;
  const kind = await remoteKind(ssh, path, o.signal);
  if (kind !== 'none' && !o.force) {
    throw new EngineError(
      'RESTORE_FILE_EXISTS',
      `${path} exists; brankas does not overwrite files without --force (or restore --to another directory)`,
      { details: { path, backup: m.id } },
    );
  }
  if (kind === 'block') throw blockDeviceRefused(ssh, path);
  if (o.noSpaceCheck !== true)
    await checkRemoteSpace(ssh, [{ disk, path, format }], m.id, o.signal);
  const createdDir = await remoteMkdirs(ssh, dirname(path), o.signal);
  const staging = new RemoteStaging(ssh, o.force === true, o.signal);
  try {
    const dataBytes = await writeRemoteDisk(ssh, repo, m.id, disk, staging.add(path), format, o);
    await staging.commit();
    await staging.finish();
    return {
      backup: m.id,
      vm: m.vm.name,
      disk: disk.name,
      path,
      format,
      dataBytes,
      seconds: (Date.now() - started) / 1000,
      cleanedLeftovers: [],
    };
  } catch (err) {
    await staging.rollback();
    await remoteRemoveCreatedDirs(ssh, createdDir, dirname(path));
    throw err;
  }
}
