/**
 * `brankas mount BACKUP [--disk NAME] [--socket PATH | --port N]`: one disk
 * of a backup served read-only over NBD, straight from the repository, until
 * SIGINT or SIGTERM. Prints the NBD URI (with --json, one JSON line) for
 * qemu-img, nbdinfo, nbdfuse or a VM.
 */
import { mountBackup, type MountOptions } from '../../engine/index.js';
import { UsageError, type Command } from '../command.js';
import { formatBytes } from '../format.js';
import { repoOption, withRepo } from './repo-common.js';

function listenOf(values: Record<string, unknown>): MountOptions['listen'] {
  const socket = values['socket'] as string | undefined;
  const port = values['port'] as string | undefined;
  const host = values['host'] as string | undefined;
  if (socket !== undefined && (port !== undefined || host !== undefined)) {
    throw UsageError.say('usage.exclusive', { a: '--socket', b: '--port/--host' });
  }
  if (socket !== undefined) return { socketPath: socket };
  if (port === undefined) {
    if (host !== undefined)
      throw UsageError.say('usage.needs', { option: '--host', other: '--port' });
    return undefined;
  }
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) {
    throw UsageError.say('usage.notPort', { value: port });
  }
  return { host: host ?? '127.0.0.1', port: Number(port) };
}

export const mountCommand: Command = {
  name: 'mount',
  summary: "Serve a backup's disk read-only over NBD, straight from the repository",
  usage:
    'brankas mount BACKUP [--disk NAME] [--socket PATH | --port N [--host 127.0.0.1|::1]] [--skip-damaged] [--repo PATH] [--json]',
  help:
    'BACKUP is a backup id, or a VM name for its latest backup. The disk (default the first one)\n' +
    'is served read-only over NBD, each chunk read, decrypted and verified when a client asks for\n' +
    'it, until Ctrl-C or SIGTERM. By default on a unix socket in a new private directory; with\n' +
    '--port on 127.0.0.1 (or --host ::1), never on another address. Prints the NBD URI:\n' +
    '  qemu-img compare ORIGINAL URI, qemu-img convert -O qcow2 URI copy.qcow2, nbdinfo --map URI\n' +
    'While it serves, garbage collection of the repository waits.',
  options: {
    ...repoOption,
    disk: { type: 'string' },
    socket: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    'skip-damaged': { type: 'boolean' },
  },
  positionals: { min: 1, max: 1, names: 'BACKUP' },
  async run(ctx, args) {
    const listen = listenOf(args.values);
    const signal = ctx.signal();
    const disk = args.values['disk'] as string | undefined;
    await withRepo(ctx, args, async (repo) => {
      const mount = await mountBackup(repo, args.positionals[0]!, {
        ...(disk !== undefined ? { disk } : {}),
        ...(listen ? { listen } : {}),
        skipDamaged: args.values['skip-damaged'] === true,
        onClientError: (err) => ctx.note(`nbd: ${err.message}`),
      });
      try {
        const a = mount.address;
        if (ctx.json) {
          // One line, so a script can read the URI from the first line while it serves.
          ctx.print(
            JSON.stringify({
              uri: mount.uri,
              ...('socketPath' in a ? { socket: a.socketPath } : { host: a.host, port: a.port }),
              backup: mount.backup,
              vm: mount.vm,
              disk: mount.disk,
              virtualSize: mount.virtualSize,
            }),
          );
        } else {
          ctx.print(
            ctx.t('mount.serving', {
              disk: mount.disk,
              size: formatBytes(mount.virtualSize),
              backup: mount.backup,
              vm: mount.vm,
              uri: mount.uri,
            }),
          );
        }
        if (!signal.aborted) {
          await new Promise<void>((r) =>
            signal.addEventListener('abort', () => r(), { once: true }),
          );
        }
      } finally {
        await mount.close();
      }
      if (!ctx.json) ctx.note(ctx.t('mount.stopped', { disk: mount.disk, backup: mount.backup }));
    });
    return 0;
  },
};
