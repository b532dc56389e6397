/**
 * `brankas disk info VM|PATH`: what each disk costs, four ways (virtual size,
 * `ls -l`, `du`, data written), and so what a backup of it reads.
 */
import { existsSync } from 'node:fs';
import {
  inspectImage,
  inspectVmDisks,
  type ImageFacts,
  type VmDiskFacts,
} from '../../engine/disk/index.js';
import { findVm } from '../../engine/snapshot/tree.js';
import type { Command } from '../command.js';
import type { CliContext } from '../context.js';
import { formatBytes, table } from '../format.js';

export const diskInfo: Command = {
  name: 'disk info',
  summary: "Show a VM's disks (or one image file): sizes, data written, what a backup reads",
  usage: 'brankas disk info VM|PATH [--format raw|qcow2] [--json]',
  help:
    'For each disk: format, virtual size, the file size ls -l shows, the space du shows on the\n' +
    'host, the data actually written (from the allocation map, all backing layers flattened),\n' +
    'which is what a brankas backup reads, the backing chain and internal snapshots.\n' +
    'An argument with a "/" (or naming an existing file and no VM) is an image path; --format\n' +
    'says its format instead of probing (a raw disk is never probed when a VM names it).',
  options: { format: { type: 'string' } },
  positionals: { min: 1, max: 1, names: 'VM or PATH' },
  async run(ctx, { values, positionals }) {
    const arg = positionals[0]!;
    const format = values['format'] as string | undefined;
    if (arg.includes('/') || (existsSync(arg) && !(await isVm(ctx, arg)))) {
      // A qemu-nbd it starts must not outlive the process, even when stopped at once.
      const image = await inspectImage(arg, {
        ...(format ? { format } : {}),
        signal: ctx.lifetime(),
      });
      if (ctx.json) return ctx.printJson(image);
      return printImage(ctx, image);
    }
    const conn = await ctx.connect();
    const report = await inspectVmDisks(conn, await findVm(conn, arg), { signal: ctx.lifetime() });
    // A disk that cannot be measured fails the command, after the others are shown.
    const code = report.disks.some((d) => d.error) ? 1 : 0;
    if (ctx.json) {
      ctx.printJson(report);
      return code;
    }
    if (report.disks.length === 0) ctx.print(ctx.t('disk.noDisks', { vm: report.vm }));
    else printVm(ctx, report.vm, report.disks);
    for (const s of report.skipped) {
      ctx.print(ctx.t('disk.skipped', { target: s.target, reason: s.reason }));
    }
    return code;
  },
};

async function isVm(ctx: CliContext, name: string): Promise<boolean> {
  try {
    await findVm(await ctx.connect(), name);
    return true;
  } catch {
    return false;
  }
}

function printVm(ctx: CliContext, vm: string, disks: VmDiskFacts[]): void {
  ctx.print(ctx.t('disk.vm', { vm, count: disks.length }));
  const header = [
    'disk.col.target',
    'disk.col.format',
    'disk.col.virtual',
    'disk.col.apparent',
    'disk.col.allocated',
    'disk.col.written',
    'disk.col.source',
  ] as const;
  const rows = disks.map((d) => {
    const i = d.image;
    return [
      d.target,
      i?.format ?? d.declaredFormat ?? '?',
      formatBytes(i?.virtualSize),
      formatBytes(i?.apparentSize),
      formatBytes(i?.allocatedSize),
      formatBytes(i?.backupReads),
      d.source,
    ];
  });
  ctx.print(table([header.map((k) => ctx.t(k)), ...rows]));
  for (const d of disks) {
    const target = d.target;
    if (d.error) {
      ctx.print(ctx.t('disk.error', { target, source: d.source, message: d.error.message }));
      continue;
    }
    const i = d.image!;
    if (i.backingChain && i.backingChain.length > 0) {
      ctx.print(ctx.t('disk.backing', { target, chain: chainText(i) }));
    }
    if (i.snapshots && i.snapshots.length > 0) {
      ctx.print(ctx.t('disk.snapshots', { target, list: snapshotsText(i) }));
    }
    if (i.reader === 'qemu-nbd') {
      ctx.print(ctx.t('disk.viaNbd', { target, reason: i.fallbackReason ?? '?' }));
    }
  }
}

function chainText(i: ImageFacts): string {
  return (i.backingChain ?? [])
    .map((l) => `${l.path} (${l.format}, ${formatBytes(l.allocatedSize)} du)`)
    .join(' -> ');
}

function snapshotsText(i: ImageFacts): string {
  return (i.snapshots ?? [])
    .map(
      (s) =>
        `${s.name} (${s.date}${s.vmStateSize > 0 ? `, vm state ${formatBytes(s.vmStateSize)}` : ''})`,
    )
    .join(', ');
}

function printImage(ctx: CliContext, i: ImageFacts): void {
  const exact = (n: number): string => (n < 1024 ? formatBytes(n) : `${formatBytes(n)} (${n} B)`);
  const none = ctx.t('disk.none');
  const unknown = ctx.t('disk.unknown');
  ctx.print(i.path);
  ctx.print(
    table(
      [
        [ctx.t('disk.label.format'), i.format],
        [ctx.t('disk.label.virtual'), exact(i.virtualSize)],
        [ctx.t('disk.label.apparent'), exact(i.apparentSize)],
        [ctx.t('disk.label.allocated'), exact(i.allocatedSize)],
        [ctx.t('disk.label.written'), exact(i.dataWritten)],
        [ctx.t('disk.label.backup'), ctx.t('disk.backupNote', { size: exact(i.backupReads) })],
        [
          ctx.t('disk.label.backing'),
          i.backingChain === undefined ? unknown : chainText(i) || none,
        ],
        [
          ctx.t('disk.label.snapshots'),
          i.snapshots === undefined ? unknown : snapshotsText(i) || none,
        ],
        [
          ctx.t('disk.label.reader'),
          i.reader === 'native'
            ? ctx.t('disk.readerNative')
            : ctx.t('disk.readerNbd', { reason: i.fallbackReason ?? '?' }),
        ],
      ],
      '  ',
    ),
  );
}

export const diskCommands = [diskInfo];
