/**
 * `brankas inventory`: the host and every VM with its state, disks and
 * snapshot count.
 */
import { inventory, type HostInventory } from '../../engine/inventory.js';
import { acrossHosts, allHostsOption, exitCodeOf, printHostHeading } from '../all-hosts.js';
import type { Command } from '../command.js';
import type { CliContext } from '../context.js';
import { formatBytes, table } from '../format.js';
import type { MessageKey } from '../i18n.js';

export const inventoryCommand: Command = {
  name: 'inventory',
  summary: 'Show the host and every VM: state, disks (format, virtual size), snapshots',
  usage: 'brankas inventory [--all-hosts] [--json] [-c URI|HOST]',
  help:
    'With --all-hosts: this connection and every host registered with brankas host add, one\n' +
    'after the other (exit 1 when one cannot be reached; the others are still shown).',
  options: { ...allHostsOption },
  async run(ctx, args) {
    if (args.values['all-hosts'] === true) {
      const entries = await acrossHosts(ctx, inventory);
      if (ctx.json) {
        ctx.printJson({
          hosts: entries.map(({ result, ...e }) => ({
            ...e,
            ...(result ? { inventory: result } : {}),
          })),
        });
      } else {
        for (const [i, e] of entries.entries()) {
          if (i > 0) ctx.print();
          printHostHeading(ctx, e);
          if (e.result) render(ctx, e.result);
        }
      }
      return exitCodeOf(entries);
    }
    const inv = await inventory(await ctx.connect());
    if (ctx.json) ctx.printJson(inv);
    else render(ctx, inv);
  },
};

function render(ctx: CliContext, inv: HostInventory): void {
  const { t } = ctx;
  ctx.print(t('inventory.host'));
  ctx.print(
    table(
      [
        [t('inventory.hostname'), inv.hostname],
        [t('inventory.uri'), inv.uri],
        [t('inventory.hypervisor'), `${inv.hypervisor.type} ${inv.hypervisor.version}`],
        [t('inventory.libvirt'), inv.libvirtVersion],
      ],
      '  ',
    ),
  );
  ctx.print();
  ctx.print(t('inventory.vms', { count: inv.vms.length }));
  if (inv.vms.length === 0) {
    ctx.print(`  ${t('inventory.noVms')}`);
    return;
  }
  const rows = [
    [
      t('inventory.col.name'),
      t('inventory.col.state'),
      t('inventory.col.snapshots'),
      t('inventory.col.disks'),
    ],
  ];
  for (const vm of inv.vms) {
    const disks = vm.disks
      .filter((d) => d.device === 'disk')
      .map(
        (d) =>
          `${d.target} ${d.format ?? '?'} ${
            d.virtualSize === undefined ? t('inventory.unknownSize') : formatBytes(d.virtualSize)
          }`,
      )
      .join(', ');
    const state = t(`state.${vm.state}` as MessageKey);
    rows.push([
      vm.name,
      vm.persistent ? state : `${state} (${t('inventory.transient')})`,
      String(vm.snapshotCount),
      disks || '-',
    ]);
  }
  ctx.print(table(rows, '  '));
}
