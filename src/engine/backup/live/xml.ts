/**
 * The XML documents of a live backup: the pull-mode `<domainbackup>` that
 * asks libvirt for an NBD export of each disk (full, or incremental from a
 * checkpoint), the `<domaincheckpoint>` taken at the same instant, and what
 * brankas reads back from a checkpoint's XML. libvirt's formats:
 * formatbackup.rst and formatcheckpoint.rst.
 */
import { escapeXml as e } from '../../../util/xml.js';
import { attr, child, children, parseXml, text } from '../../../util/xml.js';

export interface ExportDisk {
  /** The disk's target (vda), also the NBD export's name. */
  target: string;
  /** The scratch file libvirt creates for the copy-before-write data (and deletes). */
  scratch: string;
  /** Incremental from this checkpoint: the export carries `qemu:dirty-bitmap:<bitmap>`. */
  incremental?: string;
}

/** The dirty bitmap's export name of a disk (our choice, so nothing is guessed). */
export function exportBitmap(target: string): string {
  return `brankas-dirty-${target}`;
}

export function bitmapContext(target: string): string {
  return `qemu:dirty-bitmap:${exportBitmap(target)}`;
}

/**
 * A pull-mode backup: every listed disk exported on one unix socket; per
 * disk `backupmode` full or incremental, so one doubtful disk is read whole
 * while the others stay incremental. Disks not listed take no part.
 */
export function backupXml(socket: string, disks: ExportDisk[]): string {
  const lines = disks.map((d) => {
    const mode = d.incremental
      ? `backupmode='incremental' incremental='${e(d.incremental)}' exportbitmap='${e(exportBitmap(d.target))}'`
      : `backupmode='full'`;
    return (
      `    <disk name='${e(d.target)}' backup='yes' type='file' ${mode} exportname='${e(d.target)}'>\n` +
      `      <scratch file='${e(d.scratch)}'/>\n` +
      `    </disk>`
    );
  });
  return (
    `<domainbackup mode='pull'>\n` +
    `  <server transport='unix' socket='${e(socket)}'/>\n` +
    `  <disks>\n${lines.join('\n')}\n  </disks>\n` +
    `</domainbackup>\n`
  );
}

/**
 * The checkpoint taken with the backup: a bitmap on each disk that can keep
 * one (qcow2), none on the others (libvirt keeps no bitmaps for raw images).
 */
export function checkpointXml(
  name: string,
  description: string,
  disks: { target: string; bitmap: boolean }[],
): string {
  const lines = disks.map(
    (d) => `    <disk name='${e(d.target)}' checkpoint='${d.bitmap ? 'bitmap' : 'no'}'/>`,
  );
  return (
    `<domaincheckpoint>\n` +
    `  <name>${e(name)}</name>\n` +
    `  <description>${e(description)}</description>\n` +
    `  <disks>\n${lines.join('\n')}\n  </disks>\n` +
    `</domaincheckpoint>\n`
  );
}

export interface CheckpointFacts {
  name: string;
  creationTime: number | undefined;
  /** Disks with a bitmap: target → bitmap name. */
  bitmaps: Map<string, string>;
}

export function readCheckpointXml(xml: string): CheckpointFacts {
  const root = parseXml(xml, 'checkpoint XML').documentElement!;
  const bitmaps = new Map<string, string>();
  const disks = child(root, 'disks');
  for (const d of disks ? children(disks, 'disk') : []) {
    const name = attr(d, 'name');
    if (name && attr(d, 'checkpoint') === 'bitmap') bitmaps.set(name, attr(d, 'bitmap') ?? name);
  }
  const created = Number(text(child(root, 'creationTime')));
  return {
    name: text(child(root, 'name')) ?? '',
    creationTime: Number.isFinite(created) ? created : undefined,
    bitmaps,
  };
}

/**
 * The uid and gid QEMU runs as, from a running domain's DAC label
 * (`<seclabel model='dac'><label>+64055:+64055</label>`), when it has one.
 */
export function dacOwner(liveXml: string): { uid: number; gid: number } | undefined {
  const root = parseXml(liveXml, 'domain XML').documentElement!;
  for (const s of children(root, 'seclabel')) {
    if (attr(s, 'model') !== 'dac') continue;
    const m = /^\+?(\d+):\+?(\d+)$/.exec(text(child(s, 'label'))?.trim() ?? '');
    if (m) return { uid: Number(m[1]), gid: Number(m[2]) };
  }
  return undefined;
}
