/**
 * `brankas host add|list|remove`: hosts registered by name in the state
 * directory's hosts file (src/service/hosts.ts), so `-c NAME` reaches one
 * and `inventory`/`status --all-hosts` cover them all. Registering checks
 * the URI's form only; it connects nowhere.
 */
import { addHost, readHosts, removeHost } from '../../service/hosts.js';
import type { Command } from '../command.js';
import { table } from '../format.js';
import { stateDir } from '../vm-job.js';

export const hostAdd: Command = {
  name: 'host add',
  summary: 'Register a libvirt host by name, for -c NAME and --all-hosts',
  usage: 'brankas host add NAME URI [--json]',
  help:
    'URI as for -c, e.g. qemu+ssh://root@host/system?keyfile=/root/.ssh/id_ed25519. Over\n' +
    'qemu+ssh:// the disks travel through the same ssh (backup, restore, verify); nothing of\n' +
    'brankas is needed on the host, only qemu-nbd and qemu-img besides libvirt.',
  positionals: { min: 2, max: 2, names: 'NAME and URI' },
  async run(ctx, { positionals }) {
    const [name, uri] = positionals as [string, string];
    const host = await addHost(stateDir(ctx), name, uri);
    if (ctx.json) return ctx.printJson(host);
    ctx.print(ctx.t('host.added', { name: host.name, uri: host.uri }));
  },
};

export const hostList: Command = {
  name: 'host list',
  summary: 'List the registered hosts',
  usage: 'brankas host list [--json]',
  positionals: { min: 0, max: 0, names: '' },
  async run(ctx) {
    const hosts = await readHosts(stateDir(ctx));
    if (ctx.json) return ctx.printJson({ hosts });
    if (hosts.length === 0) return ctx.print(ctx.t('host.none'));
    ctx.print(
      table([
        [ctx.t('host.col.name'), ctx.t('host.col.uri'), ctx.t('host.col.added')],
        ...hosts.map((h) => [h.name, h.uri, h.added]),
      ]),
    );
  },
};

export const hostRemove: Command = {
  name: 'host remove',
  summary: 'Forget a registered host (nothing on it is touched)',
  usage: 'brankas host remove NAME [--json]',
  positionals: { min: 1, max: 1, names: 'NAME' },
  async run(ctx, { positionals }) {
    const host = await removeHost(stateDir(ctx), positionals[0]!);
    if (ctx.json) return ctx.printJson(host);
    ctx.print(ctx.t('host.removed', { name: host.name, uri: host.uri }));
  },
};

export const hostCommands: Command[] = [hostAdd, hostList, hostRemove];
