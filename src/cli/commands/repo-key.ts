/**
 * `brankas repo key list|add|remove|passwd`: the passwords of an encrypted
 * repository. Each is a key file wrapping the same master key, so changing one
 * re-encrypts nothing.
 */
import { UsageError, type Command } from '../command.js';
import { table } from '../format.js';
import { readNewPassword, repoOption, withRepo } from './repo-common.js';

export const repoKeyCommand: Command = {
  name: 'repo key',
  summary: 'Passwords of the repository: list, add, remove ID, passwd',
  usage: 'brankas repo key list|add|remove ID|passwd [--label TEXT] [--repo PATH] [--json]',
  help:
    'The current password comes from $BRANKAS_PASSWORD_FILE, $BRANKAS_PASSWORD_COMMAND or a\n' +
    'prompt; a new one from $BRANKAS_NEW_PASSWORD_FILE, $BRANKAS_NEW_PASSWORD_COMMAND or a prompt.',
  options: { ...repoOption, label: { type: 'string' } },
  positionals: { min: 1, max: 2, names: 'list, add, remove ID or passwd' },
  async run(ctx, args) {
    const [sub, arg] = args.positionals;
    const label = args.values['label'] as string | undefined;
    if (sub !== 'remove' && arg !== undefined)
      throw UsageError.say('usage.unexpectedArgument', { value: arg });
    await withRepo(ctx, args, async (repo) => {
      switch (sub) {
        case 'list': {
          const keys = await repo.listKeys();
          if (ctx.json) return ctx.printJson(keys);
          ctx.print(
            table([
              ['ID', 'LABEL', 'CREATED', 'HOST', ''],
              ...keys.map((k) => [
                k.id.slice(0, 12),
                k.label || '-',
                k.created,
                k.host,
                k.id === repo.keyId ? '*' : '',
              ]),
            ]),
          );
          return;
        }
        case 'add': {
          const id = await repo.addPassword(await readNewPassword(ctx, false), {
            label: label ?? '',
          });
          if (ctx.json) return ctx.printJson({ added: id });
          ctx.print(ctx.t('repo.keyAdded', { id: id.slice(0, 12) }));
          return;
        }
        case 'remove': {
          if (!arg) throw UsageError.say('usage.missingArguments', { names: 'ID' });
          const id = await repo.removePassword(arg);
          if (ctx.json) return ctx.printJson({ removed: id });
          ctx.print(ctx.t('repo.keyRemoved', { id: id.slice(0, 12) }));
          return;
        }
        case 'passwd': {
          const id = await repo.changePassword(await readNewPassword(ctx, false), {
            label: label ?? 'changed',
          });
          if (ctx.json) return ctx.printJson({ added: id, removed: repo.keyId });
          ctx.print(ctx.t('repo.keyChanged', { id: id.slice(0, 12) }));
          return;
        }
        default:
          throw UsageError.say('usage.keyCommand', { value: String(sub) });
      }
    });
  },
};
