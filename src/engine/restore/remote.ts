/**
 * A restore onto a remote host (the connection is `qemu+ssh://`): the same
 * plan and checks as a local restore (restore.ts), the files written there
 * over the same ssh. Disks go through a remote qemu-nbd into fresh images
 * made by `qemu-img create` (remote/disk-sink.ts), boot files through `cat`.
 * As locally, every file is written under a hidden temporary name in its
 * target directory and only placed once all are complete, here by a hard
 * link (which refuses a path that appeared meanwhile) and the temporary name
 * removed; on failure everything this restore wrote, the domain it defined
 * and the directory it created are removed. Restoring over an existing VM
 * or file (--force) is refused on a remote host for now (restore.ts).
 */
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import type { Connection, Domain } from '../../libvirt/index.js';
import type { Manifest, ManifestDisk } from '../../repo/manifest.js';
import type { Repository } from '../../repo/repository.js';
import { BackupDisk } from '../../repo/reader.js';
import { shellQuote, sshExec, type SshTarget } from '../../util/ssh.js';
import { createRemoteDisk, remoteRun } from '../remote/disk-sink.js';
import type { GraphicsDecision } from './graphics.js';
import type { HostAccess } from './host-access.js';
import type { PlannedFile, RestoreOptions, RestoreResult } from './restore.js';
import { bootFileMode, copyBackedDisk, isBootFile } from './write.js';

/** Whether anything is at `path` on the host. */
export async function remoteExists(
  ssh: SshTarget,
  path: string,
  signal?: AbortSignal,
): Promise<boolean> {
  const r = await sshExec(ssh, `[ -e ${shellQuote(path)} ] || [ -L ${shellQuote(path)} ]`, {
    signal,
  });
  return r.code === 0;
}

/**
 * A hidden name beside `final`. Not staging.ts's `brankas-new-PID-…`: a pid of this machine
 * means nothing on the host, and a brankas there must not take this file for a dead one's.
 */
function hiddenName(final: string): string {
  return join(
    dirname(final),
    `.${basename(final)}.brankas-remote-${randomBytes(8).toString('hex')}`,
  );
}

async function writeRemoteDisk(
  ssh: SshTarget,
  repo: Repository,
  backupId: string,
  disk: ManifestDisk,
  path: string,
  format: 'qcow2' | 'raw',
  o: RestoreOptions,
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
  o: RestoreOptions,
  ssh: SshTarget,
  facts: { started: number; name: string; graphics: GraphicsDecision[]; hostAccess: HostAccess[] },
): Promise<RestoreResult> {
  const written: string[] = [];
  const placed: string[] = [];
  let createdDir = false;
  let defined: Domain | undefined;
  try {
    if (o.toDir) {
      const out = await remoteRun(
        ssh,
        `[ -d ${shellQuote(o.toDir)} ] || { mkdir -p ${shellQuote(o.toDir)} && echo created; }`,
        `creating ${o.toDir}`,
        { signal: o.signal },
      );
      createdDir = out.trim() === 'created';
    }
    const disks: RestoreResult['disks'] = [];
    const bootFiles: RestoreResult['bootFiles'] = [];
    const staged: { tmp: string; final: string }[] = [];
    for (const p of plan) {
      o.signal?.throwIfAborted();
      const tmp = hiddenName(p.path);
      written.push(tmp);
      staged.push({ tmp, final: p.path });
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
    // Placed only once all are complete; `ln` refuses a path something took meanwhile.
    for (const s of staged) {
      await remoteRun(
        ssh,
        `ln ${shellQuote(s.tmp)} ${shellQuote(s.final)} && rm -f ${shellQuote(s.tmp)}`,
        `placing ${s.final}`,
        { signal: o.signal },
      );
      placed.push(s.final);
    }
    let vmName = facts.name;
    if (!o.filesOnly) {
      const domain = await conn.defineDomain(xml);
      defined = domain;
      if (o.start) await domain.start();
      vmName = domain.name;
    }
    return {
      backup: m.id,
      vm: vmName,
      disks,
      bootFiles,
      started: o.start === true && !o.filesOnly,
      droppedSnapshots: [],
      seconds: (Date.now() - facts.started) / 1000,
      xml,
      graphics: facts.graphics,
      hostAccess: facts.hostAccess,
      cleanedLeftovers: [],
      dryRun: false,
    };
  } catch (err) {
    // Never a half-restored VM: what this restore wrote, defined and created goes.
    if (defined) await defined.undefine().catch(() => undefined);
    const files = [...written, ...placed].map(shellQuote).join(' ');
    const dir = createdDir && o.toDir ? `; rmdir ${shellQuote(o.toDir)} 2>/dev/null` : '';
    if (files || dir) await sshExec(ssh, `rm -f ${files}${dir}; true`).catch(() => undefined);
    throw err;
  }
}
