/**
 * `brankas lab thin-provisioning`: the seed's Experiment 2 (comparing backup
 * sizes), on volumes made for the run in a temporary pool (or a given one),
 * printed step by step with the observation, the tutorial's explanation, and
 * what the tutorial gets only half right.
 */
import {
  ThinProvisioningLab,
  type ThinStep,
  type ThinVolumeSizes,
} from '../../engine/lab/thin-provisioning.js';
import type { Command } from '../command.js';
import type { CliContext } from '../context.js';
import { formatBytes, table } from '../format.js';

export const labThinProvisioning: Command = {
  name: 'lab thin-provisioning',
  summary: 'Experiment 2 of the tutorial: qcow2 and raw sizes, and what a backup reads',
  usage: 'brankas lab thin-provisioning [--pool NAME] [--dir DIR] [--json] [--lang id]',
  help:
    'Creates disk1.qcow2, disk2.raw (as virsh vol-create-as makes it: the whole size reserved)\n' +
    'and disk3.raw (sparse, --allocation 0), 10 GiB each, measures them, writes 100 MiB into\n' +
    'each with qemu-io, measures again, and deletes them. Without --pool they live in a\n' +
    'temporary dir pool in a fresh directory under DIR (default /var/tmp), removed afterwards.\n' +
    'With --pool they are created in that pool under unique names. Needs qemu-io on this host.',
  options: { pool: { type: 'string' }, dir: { type: 'string' } },
  async run(ctx, { values }) {
    const steps: ThinStep[] = [];
    if (!ctx.json) {
      ctx.print(ctx.t('thin.title'));
      ctx.print(ctx.t('thin.hypothesis'));
      ctx.print();
    }
    const lab = new ThinProvisioningLab(await ctx.connect(), {
      ...(typeof values['pool'] === 'string' ? { pool: values['pool'] } : {}),
      ...(typeof values['dir'] === 'string' ? { parentDir: values['dir'] } : {}),
      onStep: (s) => {
        steps.push(s);
        if (!ctx.json) printThinStep(ctx, s);
      },
    });
    const stopListening = ctx.onInterrupt(() => lab.cleanup());
    try {
      const result = await lab.run();
      if (ctx.json) return ctx.printJson({ ...result, steps });
      ctx.print();
      concludeThin(ctx, result.empty, result.written, result.writeBytes);
    } finally {
      stopListening();
    }
  },
};

export function printThinStep(ctx: CliContext, s: ThinStep): void {
  switch (s.step) {
    case 'pool-ready':
      return ctx.print(
        s.temporary
          ? ctx.t('thin.poolTemp', { pool: s.pool, dir: s.dir ?? '' })
          : ctx.t('thin.poolGiven', { pool: s.pool }),
      );
    case 'volume-created':
      return ctx.print(`  ${s.command}`);
    case 'volume-skipped':
      return ctx.print(
        ctx.t('thin.skipped', {
          kind: s.kind,
          needed: formatBytes(s.needed),
          available: formatBytes(s.available),
        }),
      );
    case 'measured':
      ctx.print();
      ctx.print(
        s.phase === 'empty'
          ? ctx.t('thin.empty')
          : ctx.t('thin.after', { size: formatBytes(s.writtenBytes) }),
      );
      return ctx.print(sizesTable(ctx, s.volumes));
    case 'writing':
      ctx.print();
      return ctx.print(ctx.t('thin.writing', { size: formatBytes(s.bytes) }));
    case 'written':
      return ctx.print(`  ${s.command}`);
    case 'cleaned-up':
      return ctx.print(ctx.t('thin.cleaned'));
  }
}

function sizesTable(ctx: CliContext, vols: ThinVolumeSizes[]): string {
  const header = [
    'thin.col.volume',
    'thin.col.virtual',
    'thin.col.apparent',
    'thin.col.allocated',
    'thin.col.backup',
  ] as const;
  return table(
    [
      header.map((k) => ctx.t(k)),
      ...vols.map((v) => [
        v.name,
        formatBytes(v.virtualSize),
        formatBytes(v.apparentSize),
        formatBytes(v.allocatedSize),
        formatBytes(v.backupReads),
      ]),
    ],
    '  ',
  );
}

/** One size when every volume agrees, otherwise each volume's. */
function readsText(vols: ThinVolumeSizes[]): string {
  const sizes = new Set(vols.map((v) => formatBytes(v.backupReads)));
  if (sizes.size === 1) return [...sizes][0]!;
  return vols.map((v) => `${formatBytes(v.backupReads)} (${v.name})`).join(', ');
}

export function concludeThin(
  ctx: CliContext,
  empty: ThinVolumeSizes[],
  written: ThinVolumeSizes[],
  writeBytes: number,
): void {
  const qcow2 = empty.find((v) => v.kind === 'qcow2');
  const raw = empty.find((v) => v.kind === 'raw-sparse');
  const reserved = empty.find((v) => v.kind === 'raw-reserved');
  ctx.print(
    ctx.t('thin.observation', {
      qcow2Ls: formatBytes(qcow2?.apparentSize),
      rawLs: formatBytes(raw?.apparentSize),
    }),
  );
  ctx.print();
  ctx.print(ctx.t('thin.explain'));
  ctx.print();
  const parts = [
    ctx.t('thin.halfRightLs', {
      sparseDu: formatBytes(raw?.allocatedSize),
      rawLs: formatBytes(raw?.apparentSize),
    }),
    ...(reserved
      ? [ctx.t('thin.halfRightReserved', { reservedDu: formatBytes(reserved.allocatedSize) })]
      : []),
    ctx.t('thin.halfRightBackup', {
      emptyReads: readsText(empty),
      writtenReads: readsText(written),
      written: formatBytes(writeBytes),
    }),
  ];
  ctx.print(parts.join(' '));
}

export const labThinCommands = [labThinProvisioning];
