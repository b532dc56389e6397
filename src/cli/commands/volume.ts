/**
 * `brankas volume create|list|delete`: storage volumes through brankas's own
 * libvirt client, as the tutorial makes them with
 * `virsh vol-create-as default-pool disk1.qcow2 10G --format qcow2`.
 */
import {
  createVolume,
  DiskError,
  executeVolumeDelete,
  listVolumes,
  parseSize,
  planVolumeDelete,
  type VolumeSummary,
} from '../../engine/disk/index.js';
import { UsageError, type Command } from '../command.js';
import { formatBytes, table } from '../format.js';
import { confirm, isInteractive } from '../prompt.js';

export const volumeCreate: Command = {
  name: 'volume create',
  summary: 'Create a storage volume (virsh vol-create-as)',
  usage: 'brankas volume create POOL NAME SIZE --format qcow2|raw [--allocation SIZE] [--json]',
  help:
    'SIZE: bytes, or a number with K, M, G, T (binary, as virsh reads them: 10G = 10 GiB).\n' +
    'As with virsh, a raw volume gets its whole size reserved on the host unless\n' +
    '--allocation 0 makes it a sparse file; a qcow2 volume grows as data is written.',
  options: { format: { type: 'string' }, allocation: { type: 'string' } },
  positionals: { min: 3, max: 3, names: 'POOL, NAME and SIZE' },
  async run(ctx, { values, positionals }) {
    const format = values['format'];
    if (typeof format !== 'string')
      throw UsageError.say('usage.required', { option: '--format qcow2|raw' });
    const [pool, name, size] = positionals as [string, string, string];
    const capacity = parseSize(size);
    const allocation =
      typeof values['allocation'] === 'string'
        ? parseSize(values['allocation'], { allowZero: true })
        : undefined;
    const vol = await createVolume(await ctx.connect(), {
      pool,
      name,
      capacity,
      format,
      ...(allocation === undefined ? {} : { allocation }),
    });
    if (ctx.json) return ctx.printJson(vol);
    ctx.print(
      ctx.t('volume.created', {
        name: vol.name,
        pool: vol.pool,
        format: vol.format ?? '?',
        capacity: formatBytes(vol.capacity),
        allocation: formatBytes(vol.allocation),
        path: vol.path,
      }),
    );
  },
};

export const volumeList: Command = {
  name: 'volume list',
  summary: "List a storage pool's volumes",
  usage: 'brankas volume list POOL [--json]',
  positionals: { min: 1, max: 1, names: 'POOL' },
  async run(ctx, { positionals }) {
    const pool = positionals[0]!;
    const vols = await listVolumes(await ctx.connect(), pool);
    if (ctx.json) return ctx.printJson({ pool, volumes: vols });
    if (vols.length === 0) return ctx.print(ctx.t('volume.none', { pool }));
    const header = [
      'volume.col.name',
      'volume.col.format',
      'volume.col.capacity',
      'volume.col.allocation',
      'volume.col.path',
    ] as const;
    ctx.print(table([header.map((k) => ctx.t(k)), ...vols.map(row)]));
  },
};

function row(v: VolumeSummary): string[] {
  return [v.name, v.format ?? '?', formatBytes(v.capacity), formatBytes(v.allocation), v.path];
}

export const volumeDelete: Command = {
  name: 'volume delete',
  summary: 'Delete a storage volume and its data',
  usage: 'brankas volume delete POOL NAME [--yes] [--json]',
  options: { yes: { type: 'boolean', short: 'y' } },
  positionals: { min: 2, max: 2, names: 'POOL and NAME' },
  async run(ctx, { values, positionals }) {
    const conn = await ctx.connect();
    const plan = await planVolumeDelete(conn, positionals[0]!, positionals[1]!);
    const warning = ctx.t('volume.deleteWarn', {
      name: plan.name,
      pool: plan.pool,
      path: plan.path,
      capacity: formatBytes(plan.capacity),
      allocation: formatBytes(plan.allocation),
    });
    if (!values['yes']) {
      if (!isInteractive(ctx)) {
        throw new DiskError(
          'VOLUME_CONFIRMATION_REQUIRED',
          `deleting volume '${plan.name}' of pool ${plan.pool} removes ${plan.path} and everything in it. Not a terminal: add --yes to delete without being asked.`,
          { details: { pool: plan.pool, volume: plan.name, path: plan.path } },
        );
      }
      ctx.note(warning);
      if (!(await confirm(ctx, ctx.t('volume.deleteAsk')))) {
        ctx.note(ctx.t('volume.deleteCancelled'));
        return 1;
      }
    }
    await executeVolumeDelete(conn, plan);
    if (ctx.json) return ctx.printJson({ deleted: plan });
    ctx.print(ctx.t('volume.deleted', { name: plan.name, pool: plan.pool }));
  },
};

export const volumeCommands = [volumeCreate, volumeList, volumeDelete];
