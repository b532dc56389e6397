/**
 * `brankas snapshot create|list|info|revert|delete`: the seed's Tugas 1,
 * through brankas's own libvirt client, with its guardrails.
 */
import {
  createSnapshot,
  executeDelete,
  executeRevert,
  findSnapshot,
  findVm,
  planDelete,
  planRevert,
  snapshotTree,
  chainWarnings,
  type ChainWarning,
  type SnapshotNode,
} from '../../engine/snapshot/index.js';
import { EngineError } from '../../engine/errors.js';
import { readDomainXml } from '../../libvirt/index.js';
import { UsageError, type Command } from '../command.js';
import type { CliContext } from '../context.js';
import { table } from '../format.js';
import { confirm, isInteractive } from '../prompt.js';
import { waitOption, withVmJob } from '../vm-job.js';

const threshold = { 'chain-threshold': { type: 'string' } } as const;

function chainLimit(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    throw UsageError.say('usage.wholeNumber', { option: '--chain-threshold', min: 1 });
  }
  return n;
}

export function formatTime(ctx: CliContext, epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  return d.toLocaleString(ctx.lang === 'id' ? 'id-ID' : 'en-GB', { hour12: false });
}

export function printWarnings(ctx: CliContext, warnings: ChainWarning[]): void {
  for (const w of warnings) {
    ctx.note(
      ctx.t(w.kind === 'snapshot-count' ? 'snapshot.warnCount' : 'snapshot.warnChain', {
        vm: w.vm,
        count: w.count,
        threshold: w.threshold,
        disk: w.disk ?? '',
        oldest: w.oldest.join(', '),
      }),
    );
  }
}

/** Says which checkpoints a snapshot command deleted, and what it means for the next backup. */
function printRetired(ctx: CliContext, vm: string, names: string[]): void {
  if (names.length > 0) ctx.note(ctx.t('snapcp.retired', { vm, names: names.join(', ') }));
}

export const snapshotCreate: Command = {
  name: 'snapshot create',
  summary: 'Take a snapshot (a save point) of a VM',
  usage:
    'brankas snapshot create VM NAME [--description TEXT] [--disk-only] [--quiesce] [--chain-threshold N] [--wait] [--json]',
  help:
    'Internal snapshots (the default) live inside qcow2 disks and, for a running VM, include its\n' +
    'memory. --disk-only takes an external snapshot: new writes go to overlay files.',
  options: {
    description: { type: 'string' },
    'disk-only': { type: 'boolean' },
    quiesce: { type: 'boolean' },
    ...threshold,
    ...waitOption,
  },
  positionals: { min: 2, max: 2, names: 'VM and NAME' },
  async run(ctx, args) {
    const { values, positionals } = args;
    const vm = await findVm(await ctx.connect(), positionals[0]!);
    if (!ctx.json) ctx.note(ctx.t('snapshot.creating', { vm: vm.name, name: positionals[1]! }));
    // Not while a backup reads the disk, nor beside a revert: one job per VM.
    const result = await withVmJob(ctx, args, vm.name, { kind: 'snapshot' }, () =>
      createSnapshot(vm, {
        name: positionals[1]!,
        description: values['description'] as string | undefined,
        diskOnly: values['disk-only'] === true,
        quiesce: values['quiesce'] === true,
        chainThreshold: chainLimit(values['chain-threshold']),
      }),
    );
    if (ctx.json) return ctx.printJson(result);
    printRetired(ctx, vm.name, result.retiredCheckpoints);
    ctx.print(
      ctx.t('snapshot.created', {
        vm: vm.name,
        name: result.snapshot.name,
        location: result.snapshot.location,
        memory: result.snapshot.memory === 'no' ? ctx.t('word.no') : ctx.t('word.yes'),
      }),
    );
    printWarnings(ctx, result.warnings);
  },
};

export const snapshotList: Command = {
  name: 'snapshot list',
  summary: "List a VM's snapshots as a tree",
  usage: 'brankas snapshot list VM [--chain-threshold N] [--json]',
  options: { ...threshold },
  positionals: { min: 1, max: 1, names: 'VM' },
  async run(ctx, { values, positionals }) {
    const vm = await findVm(await ctx.connect(), positionals[0]!);
    const nodes = await snapshotTree(vm);
    const warnings = chainWarnings(
      vm.name,
      nodes,
      readDomainXml(await vm.xml()).disks,
      chainLimit(values['chain-threshold']),
    );
    if (ctx.json) return ctx.printJson({ vm: vm.name, snapshots: nodes, warnings });
    if (nodes.length === 0) {
      ctx.print(ctx.t('snapshot.none', { vm: vm.name }));
      return;
    }
    ctx.print(table([header(ctx), ...nodes.map((n) => row(ctx, n))]));
    printWarnings(ctx, warnings);
  },
};

function header(ctx: CliContext): string[] {
  return [
    'snapshot.col.name',
    'snapshot.col.created',
    'snapshot.col.state',
    'snapshot.col.memory',
    'snapshot.col.location',
    'snapshot.col.description',
  ].map((k) => ctx.t(k as Parameters<CliContext['t']>[0]));
}

function row(ctx: CliContext, n: SnapshotNode): string[] {
  return [
    `${'  '.repeat(n.depth)}${n.depth > 0 ? '└ ' : ''}${n.name}${n.current ? ' *' : ''}`,
    formatTime(ctx, n.creationTime),
    n.state,
    n.memory === 'no' ? ctx.t('word.no') : ctx.t('word.yes'),
    n.location,
    n.description ?? '',
  ];
}

export const snapshotInfo: Command = {
  name: 'snapshot info',
  summary: 'Show one snapshot in detail',
  usage: 'brankas snapshot info VM NAME [--json]',
  positionals: { min: 2, max: 2, names: 'VM and NAME' },
  async run(ctx, { positionals }) {
    const vm = await findVm(await ctx.connect(), positionals[0]!);
    await findSnapshot(vm, positionals[1]!); // a typed SNAPSHOT_NOT_FOUND for an unknown name
    const nodes = await snapshotTree(vm);
    const n = nodes.find((x) => x.name === positionals[1])!;
    if (ctx.json) return ctx.printJson({ vm: vm.name, ...n });
    ctx.print(
      table([
        [ctx.t('snapshot.col.name'), n.name + (n.current ? ` (${ctx.t('snapshot.current')})` : '')],
        ['VM', vm.name],
        [ctx.t('snapshot.col.created'), formatTime(ctx, n.creationTime)],
        [ctx.t('snapshot.col.state'), n.state],
        [ctx.t('snapshot.col.memory'), n.memory],
        [ctx.t('snapshot.col.location'), n.location],
        [ctx.t('snapshot.parent'), n.parent ?? '-'],
        [ctx.t('snapshot.children'), n.children.join(', ') || '-'],
        [ctx.t('snapshot.col.description'), n.description ?? ''],
        ...n.disks.map((d) => [`disk ${d.name}`, `${d.snapshot}${d.source ? ` ${d.source}` : ''}`]),
      ]),
    );
  },
};

export const snapshotRevert: Command = {
  name: 'snapshot revert',
  summary: 'Return a VM to a snapshot (changes made after it are lost)',
  usage:
    'brankas snapshot revert VM NAME [--yes] [--safety-snapshot] [--running|--paused] [--wait] [--json]',
  options: {
    ...waitOption,
    yes: { type: 'boolean', short: 'y' },
    'safety-snapshot': { type: 'boolean' },
    running: { type: 'boolean' },
    paused: { type: 'boolean' },
  },
  positionals: { min: 2, max: 2, names: 'VM and NAME' },
  async run(ctx, args) {
    const { values, positionals } = args;
    if (values['running'] && values['paused']) {
      throw UsageError.say('usage.exclusive', { a: '--running', b: '--paused' });
    }
    const target = values['running'] ? 'running' : values['paused'] ? 'paused' : 'snapshot';
    const vm = await findVm(await ctx.connect(), positionals[0]!);
    const plan = await planRevert(vm, positionals[1]!, target);
    const warning = [
      ctx.t('snapshot.revertLoses', { vm: vm.name, time: formatTime(ctx, plan.loseChangesSince) }),
      ...(plan.losesRunningMemory ? [ctx.t('snapshot.revertLosesMemory', { vm: vm.name })] : []),
      ...(values['safety-snapshot'] ? [ctx.t('snapshot.revertSafety')] : []),
      ...(plan.retiresCheckpoints.length > 0
        ? [
            ctx.t('snapcp.willRetire', {
              vm: vm.name,
              names: plan.retiresCheckpoints.join(', '),
            }),
          ]
        : []),
    ];
    if (!values['yes']) {
      if (!isInteractive(ctx)) {
        throw new EngineError(
          'CONFIRMATION_REQUIRED',
          `${warning.join(' ')} Not a terminal: add --yes to revert without being asked.`,
          { details: { vm: vm.name, snapshot: plan.snapshot.name, warning: warning.join(' ') } },
        );
      }
      for (const w of warning) ctx.note(w);
      if (!(await confirm(ctx, ctx.t('snapshot.revertAsk')))) {
        ctx.note(ctx.t('snapshot.revertCancelled'));
        return 1;
      }
    } else if (!ctx.json) {
      for (const w of warning) ctx.note(w);
    }
    // Taken once confirmed (nobody waits on a prompt): one job per VM.
    const result = await withVmJob(ctx, args, vm.name, { kind: 'snapshot' }, () =>
      executeRevert(vm, plan, { safetySnapshot: values['safety-snapshot'] === true, target }),
    );
    if (ctx.json) return ctx.printJson(result);
    printRetired(ctx, vm.name, result.retiredCheckpoints);
    if (result.safetySnapshot)
      ctx.print(ctx.t('snapshot.safetyTaken', { name: result.safetySnapshot }));
    ctx.print(
      ctx.t('snapshot.reverted', {
        vm: vm.name,
        name: plan.snapshot.name,
        state: ctx.t(`state.${result.finalState}` as Parameters<CliContext['t']>[0]),
      }),
    );
  },
};

export const snapshotDelete: Command = {
  name: 'snapshot delete',
  summary: 'Delete a snapshot to tidy up and save space',
  usage:
    'brankas snapshot delete VM NAME [--children] [--metadata-only] [--dry-run] [--wait] [--json]',
  options: {
    ...waitOption,
    children: { type: 'boolean' },
    'metadata-only': { type: 'boolean' },
    'dry-run': { type: 'boolean' },
  },
  positionals: { min: 2, max: 2, names: 'VM and NAME' },
  async run(ctx, args) {
    const { values, positionals } = args;
    const vm = await findVm(await ctx.connect(), positionals[0]!);
    const plan = await planDelete(vm, positionals[1]!, {
      children: values['children'] === true,
      metadataOnly: values['metadata-only'] === true,
    });
    if (!values['dry-run']) {
      await withVmJob(ctx, args, vm.name, { kind: 'snapshot' }, () => executeDelete(vm, plan));
    }
    if (ctx.json) return ctx.printJson({ ...plan, dryRun: values['dry-run'] === true });
    ctx.print(
      ctx.t(values['dry-run'] ? 'snapshot.wouldDelete' : 'snapshot.deleted', {
        vm: vm.name,
        names: plan.removes.join(', '),
      }),
    );
  },
};

export const snapshotCommands = [
  snapshotCreate,
  snapshotList,
  snapshotInfo,
  snapshotRevert,
  snapshotDelete,
];
