/**
 * Facts and small files of a remote host, read over ssh with what any
 * libvirt host has: `qemu-img info` for what a backup records about a disk
 * image (format, backing chain, qcow2 creation options), `stat` and `cat`
 * for the boot files a domain names (kernel, initrd, NVRAM). Nothing of
 * brankas runs there.
 */
import { shellQuote, sshExec, type SshTarget } from '../../util/ssh.js';
import { EngineError } from '../errors.js';

export interface RemoteImageInfo {
  format: string;
  virtualSize: number;
  /** The files below this one, nearest first. */
  backingChain: string[];
  qcow2:
    | { clusterSize: number; compat: string; compressionType: string; lazyRefcounts: boolean }
    | undefined;
}

interface QemuImgLayer {
  filename?: string;
  format?: string;
  'virtual-size'?: number;
  'cluster-size'?: number;
  'format-specific'?: {
    type?: string;
    data?: { compat?: string; 'compression-type'?: string; 'lazy-refcounts'?: boolean };
  };
}

/** Parses `qemu-img info --output=json --backing-chain` (an array, the image first). */
export function parseQemuImgInfo(json: string): RemoteImageInfo {
  const layers = JSON.parse(json) as QemuImgLayer[] | QemuImgLayer;
  const list = Array.isArray(layers) ? layers : [layers];
  const top = list[0];
  if (!top?.format || typeof top['virtual-size'] !== 'number') {
    throw new Error('qemu-img info gave no format or size');
  }
  const q = top['format-specific'];
  return {
    format: top.format,
    virtualSize: top['virtual-size'],
    backingChain: list.slice(1).map((l) => l.filename ?? ''),
    qcow2:
      top.format === 'qcow2' && q?.type === 'qcow2'
        ? {
            clusterSize: top['cluster-size'] ?? 65536,
            compat: q.data?.compat ?? '1.1',
            compressionType: q.data?.['compression-type'] ?? 'zlib',
            lazyRefcounts: q.data?.['lazy-refcounts'] ?? false,
          }
        : undefined,
  };
}

/**
 * What qemu-img on the host says about an image; undefined when it cannot say (no qemu-img
 * there, an image it cannot open): the backup then reads without the creation options, as a
 * local backup does when the image info fails. ssh failing is an error.
 */
export async function remoteImageInfo(
  ssh: SshTarget,
  path: string,
  format: string | undefined,
  signal?: AbortSignal,
): Promise<RemoteImageInfo | undefined> {
  const f = format ? ` -f ${shellQuote(format)}` : '';
  const r = await sshExec(
    ssh,
    `qemu-img info --output=json --backing-chain -U${f} ${shellQuote(path)}`,
    { signal },
  );
  if (r.code !== 0) return undefined;
  try {
    return parseQemuImgInfo(r.stdout.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** A regular file on the host: its bytes and permission bits; undefined when it is not one. */
export async function readRemoteFile(
  ssh: SshTarget,
  path: string,
  signal?: AbortSignal,
): Promise<{ data: Buffer; mode: number } | undefined> {
  const p = shellQuote(path);
  // The mode on the first line (octal), then the bytes; exit 3: not a regular file.
  const r = await sshExec(ssh, `[ -f ${p} ] || exit 3; stat -L -c %a ${p} && cat ${p}`, {
    signal,
  });
  if (r.code === 3) return undefined;
  const nl = r.stdout.indexOf(0x0a);
  const mode = nl > 0 ? parseInt(r.stdout.subarray(0, nl).toString('ascii'), 8) : NaN;
  if (r.code !== 0 || Number.isNaN(mode)) {
    throw new EngineError(
      'REMOTE_COMMAND_FAILED',
      `cannot read ${path} on ${ssh.host}: ${r.stderr.trim() || `exit code ${r.code}`}`,
      { details: { path, host: ssh.host } },
    );
  }
  return { data: Buffer.from(r.stdout.subarray(nl + 1)), mode };
}
