/**
 * A checkpoint whose metadata libvirt lost while its bitmaps stayed in the
 * qcow2 disks (the VM undefined and defined again: `virsh undefine
 * --checkpoints-metadata` keeps the bitmaps) is defined again from the
 * parent backup's record, so the line stays incremental. libvirt checks the
 * bitmaps itself (REDEFINE_VALIDATE: each exists in the running QEMU and is
 * consistent), and the line's usual checks follow; any refusal leaves the
 * disk read whole as `checkpoint-missing`.
 */
import { CheckpointCreate, type Domain, type DomainCheckpoint } from '../../../libvirt/index.js';
import type { Manifest } from '../../../repo/index.js';
import { escapeXml as e } from '../../../util/xml.js';
import type { LiveDisk, LiveRecord } from './line.js';

export async function redefineFromBitmaps(
  domain: Domain,
  parent: Manifest,
  record: LiveRecord,
  disks: LiveDisk[],
): Promise<DomainCheckpoint | undefined> {
  // libvirt names each bitmap after its checkpoint (xml.ts asks for no other name).
  const withBitmap = disks.filter((d) => d.format === 'qcow2' && record.disks[d.target]);
  if (withBitmap.length === 0) return undefined;
  const created = Math.floor(Date.parse(parent.startedAt) / 1000);
  const xml =
    `<domaincheckpoint><name>${e(record.checkpoint)}</name>` +
    `<creationTime>${Number.isFinite(created) ? created : 0}</creationTime><disks>` +
    withBitmap
      .map(
        (d) => `<disk name='${e(d.target)}' checkpoint='bitmap' bitmap='${e(record.checkpoint)}'/>`,
      )
      .join('') +
    `</disks></domaincheckpoint>`;
  try {
    return await domain.createCheckpoint(
      xml,
      CheckpointCreate.REDEFINE | CheckpointCreate.REDEFINE_VALIDATE,
    );
  } catch {
    return undefined;
  }
}
