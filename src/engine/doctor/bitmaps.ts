/**
 * Orphan persistent dirty bitmaps: bitmaps in a VM's qcow2 images that no
 * libvirt checkpoint of the VM names for that disk. A killed offline backup
 * (between `qemu-img bitmap --add` and the checkpoint's definition, ../backup/
 * offline.ts), a checkpoint deleted with --metadata-only, a VM defined again
 * without its checkpoints: each leaves one that QEMU keeps updating on every
 * write and storing in the image, for nothing. Found here; removed by
 * fix.ts, only those brankas made (its checkpoints' names,
 * `brankas-<8 hex>-<sequence>`, ../backup/live/line.ts); another tool's are
 * listed and left alone.
 *
 * Where they are read: a shut-off VM's images natively
 * (image/qcow2-bitmaps.ts; only the disk's own image, the top of its chain:
 * backing files may be shared with other VMs), removed with `qemu-img bitmap
 * --remove`; a running (or paused) VM's from its QEMU (`query-block` over
 * libvirt's QMP passthrough: bitmaps added since it started are not in the
 * file yet), removed with `block-dirty-bitmap-remove` there; libvirt has no
 * API for a bitmap no checkpoint names. Bitmaps a job is using (busy) are not
 * orphans. A shut-off VM's images on a `qemu+ssh://` host are read with
 * `qemu-img info` and changed with `qemu-img bitmap` there, over ssh.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readDomainXml, type Domain } from '../../libvirt/index.js';
import { readQcow2Bitmaps } from '../../image/index.js';
import { errorMessage } from '../../util/errors.js';
import { shellQuote, sshExec } from '../../util/ssh.js';
import { readCheckpointXml } from '../backup/live/xml.js';
import { EngineError } from '../errors.js';
import type { DataHost } from '../remote/host.js';

const run = promisify(execFile);

/** The names brankas gives its checkpoints, and so their bitmaps. */
const BRANKAS_BITMAP = /^brankas-[0-9a-zA-Z]{8}-\d+$/;

export interface OrphanBitmap {
  vm: string;
  /** The disk's target (vda). */
  disk: string;
  /** The image file the bitmap is in. */
  image: string;
  bitmap: string;
  /** Found in the running QEMU (removed there), else in the image file. */
  running: boolean;
}

export function isBrankasBitmap(name: string): boolean {
  return BRANKAS_BITMAP.test(name);
}

interface QmpBlock {
  inserted?: {
    file?: string;
    'node-name'?: string;
    'dirty-bitmaps'?: { name: string; persistent?: boolean; busy?: boolean }[];
  };
}

/** The running QEMU's block nodes (`query-block`). */
async function queryBlock(vm: Domain): Promise<QmpBlock[]> {
  const answer = JSON.parse(await vm.qemuMonitorCommand('{"execute":"query-block"}')) as {
    return?: QmpBlock[];
  };
  return answer.return ?? [];
}

/**
 * The bitmaps in an image file: read natively here, from `qemu-img info` on a remote host. An
 * image it cannot read (gone, not qcow2 after all) holds nothing to look at here.
 */
async function fileBitmaps(host: DataHost, image: string): Promise<string[]> {
  if (host.kind === 'local') {
    const dir = await readQcow2Bitmaps(image).catch(() => undefined);
    return dir?.bitmaps.map((b) => b.name) ?? [];
  }
  const r = await sshExec(host.ssh, `qemu-img info -U --output=json ${shellQuote(image)}`);
  if (r.code !== 0) return [];
  const info = JSON.parse(r.stdout.toString('utf8')) as {
    'format-specific'?: { data?: { bitmaps?: { name: string }[] } };
  };
  return (info['format-specific']?.data?.bitmaps ?? []).map((b) => b.name);
}

/** Every persistent bitmap of the VM's qcow2 disks that none of its checkpoints names. */
export async function findOrphanBitmaps(
  vm: Domain,
  host: DataHost | undefined,
): Promise<OrphanBitmap[]> {
  const running = await vm.isActive();
  if (!running && host === undefined) return [];
  const named = new Set<string>();
  for (const cp of await vm.listCheckpoints()) {
    for (const [disk, bitmap] of readCheckpointXml(await cp.xml()).bitmaps) {
      named.add(`${disk}\0${bitmap}`);
    }
  }
  const disks = readDomainXml(await vm.xml()).disks.filter(
    (d) => d.type === 'file' && d.format === 'qcow2' && d.source !== undefined,
  );
  if (disks.length === 0) return [];
  const out: OrphanBitmap[] = [];
  const blocks = running ? await queryBlock(vm) : [];
  for (const d of disks) {
    const image = d.source!;
    let names: string[];
    if (running) {
      const node = blocks.find((b) => b.inserted?.file === image)?.inserted;
      names = (node?.['dirty-bitmaps'] ?? [])
        .filter((b) => b.persistent === true && b.busy !== true)
        .map((b) => b.name);
    } else {
      names = await fileBitmaps(host!, image);
    }
    for (const bitmap of names) {
      if (!named.has(`${d.target}\0${bitmap}`)) {
        out.push({ vm: vm.name, disk: d.target, image, bitmap, running });
      }
    }
  }
  return out;
}

/** Removes a brankas bitmap no checkpoint names (found again now: the VM may have changed). */
export async function removeOrphanBitmap(
  vm: Domain,
  host: DataHost | undefined,
  f: OrphanBitmap,
): Promise<void> {
  const failed = (err: unknown): EngineError =>
    new EngineError(
      'DOCTOR_BITMAP_REMOVE_FAILED',
      `cannot remove bitmap ${f.bitmap} from ${f.image}: ${errorMessage(err)}`,
      { details: { bitmap: f.bitmap, image: f.image }, cause: err },
    );
  if (!isBrankasBitmap(f.bitmap)) throw failed(new Error('not a bitmap brankas made'));
  if (await vm.isActive()) {
    const node = (await queryBlock(vm)).find((b) => b.inserted?.file === f.image)?.inserted;
    if (!node?.['node-name']) throw failed(new Error('the disk is not attached to the running VM'));
    const answer = JSON.parse(
      await vm.qemuMonitorCommand(
        JSON.stringify({
          execute: 'block-dirty-bitmap-remove',
          arguments: { node: node['node-name'], name: f.bitmap },
        }),
      ),
    ) as { error?: { desc?: string } };
    if (answer.error) throw failed(new Error(answer.error.desc ?? 'QEMU refused'));
    return;
  }
  if (host === undefined) throw failed(new Error('no data path to the host of its image'));
  if (host.kind === 'ssh') {
    const command = `qemu-img bitmap --remove ${shellQuote(f.image)} ${shellQuote(f.bitmap)}`;
    const r = await sshExec(host.ssh, command);
    if (r.code !== 0) throw failed(new Error(r.stderr.trim() || `exit code ${r.code}`));
    return;
  }
  try {
    await run('qemu-img', ['bitmap', '--remove', f.image, f.bitmap]);
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw failed(stderr ? new Error(stderr) : err);
  }
}
