/**
 * What differs in a live backup when the VM's host is another one reached
 * over ssh (remote/host.ts): the job's directory is made there and its NBD
 * socket forwarded here (remote/job-dir.ts), the disk images' facts come
 * from `qemu-img info` there, and a killed backup's leftovers are its job
 * (still running under libvirt, found through libvirt as locally) and its
 * directory there. On this machine's own connection everything stays as
 * the local functions do it.
 */
import type { Domain } from '../../../libvirt/index.js';
import { imageHeaderInfo } from '../../../image/index.js';
import type { DataHost } from '../../remote/host.js';
import { remoteImageInfo } from '../../remote/files.js';
import { RemoteJobDir, removeRemoteDirs } from '../../remote/job-dir.js';
import type { BeginOptions } from './export.js';
import {
  abortJob,
  brankasJob,
  clearLeftovers,
  findLeftovers,
  guestFrozen,
  type LiveLeftovers,
} from './leftovers.js';
import type { LiveDisk } from './line.js';

/** The export's directory maker for the host: none (the local default) or one over ssh. */
export function hostJobDir(host: DataHost): Pick<BeginOptions, 'jobDir'> {
  if (host.kind === 'local') return {};
  return { jobDir: (marker, owner) => RemoteJobDir.start(host.ssh, marker, owner) };
}

/**
 * What killed live backups left on the VM. On another host only the running job's
 * directory is known (the directories of other VMs' jobs there are not listed here).
 */
export async function findHostLeftovers(
  host: DataHost,
  vm: Domain,
  workRoot: string | undefined,
): Promise<LiveLeftovers> {
  if (host.kind === 'local') return findLeftovers(vm, workRoot);
  const job = await brankasJob(vm);
  const frozen = job !== undefined && (await guestFrozen(vm, await vm.xml().catch(() => '')));
  return { job: job?.dir ?? null, dirs: job ? [job.dir] : [], frozen };
}

export async function clearHostLeftovers(
  host: DataHost,
  vm: Domain,
  l: LiveLeftovers,
): Promise<void> {
  if (host.kind === 'local') return clearLeftovers(vm, l);
  if (l.frozen) await vm.fsThaw().catch(() => undefined);
  if (l.job !== null) await abortJob(vm);
  await removeRemoteDirs(host.ssh, l.dirs);
}

export interface DiskFacts {
  format: string;
  qcow2:
    | {
        clusterSize: number;
        compat: string;
        compressionType: string | number;
        lazyRefcounts: boolean;
      }
    | undefined;
  backingChain: string[];
}

/** The image's creation options, for a restore to recreate it; undefined when unknown. */
export async function diskFacts(
  host: DataHost,
  spec: LiveDisk,
  signal?: AbortSignal,
): Promise<DiskFacts | undefined> {
  if (!spec.source) return undefined;
  const format = spec.format === 'raw' || spec.format === 'qcow2' ? spec.format : undefined;
  if (host.kind === 'ssh') return remoteImageInfo(host.ssh, spec.source, format, signal);
  // Its header only is read.
  const info = await imageHeaderInfo(spec.source, format ? { format } : {}).catch(() => undefined);
  return info && { ...info, backingChain: info.backingChain.map((l) => l.path) };
}
