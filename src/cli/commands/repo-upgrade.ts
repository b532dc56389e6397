/**
 * `brankas repo upgrade`: an unencrypted repository of an older format gets an
 * auth key, so that edited or forged manifests are refused
 * (docs/repository-format.md, "Upgrading an older unencrypted repository").
 */
import { upgradeRepository } from '../../repo/upgrade.js';
import type { Command } from '../command.js';
import { repoLocation, repoOption, withBackend } from './repo-common.js';

export const repoUpgrade: Command = {
  name: 'repo upgrade',
  summary: 'Authenticate an older unencrypted repository (format version 3)',
  usage: 'brankas repo upgrade [--auth-key-file PATH] [--repo PATH] [--json]',
  help:
    'Makes an auth key and signs the config and every manifest with it, so that a manifest\n' +
    'edited or forged by someone without the key is refused. The key is kept in the repository\n' +
    '(keys/auth: protects against accidents and writers who cannot read it), or with\n' +
    '--auth-key-file in that new file outside it: then only holders of the file can write what\n' +
    'brankas reads, and every command needs BRANKAS_AUTH_KEY_FILE=PATH. Run it when no backup is\n' +
    'running (it refuses otherwise), after repo verify if the repository may have been changed:\n' +
    'it signs what it finds. Interrupted, run it again. Encrypted repositories need no upgrade.',
  options: { ...repoOption, 'auth-key-file': { type: 'string' } },
  async run(ctx, args) {
    const location = repoLocation(ctx, args);
    const file = args.values['auth-key-file'] as string | undefined;
    const r = await withBackend(location, (b) =>
      upgradeRepository(b, file !== undefined ? { authKeyFile: file } : {}),
    );
    if (ctx.json) return ctx.printJson({ location, ...r });
    if (!r.upgraded) {
      ctx.print(ctx.t('repo.upgradeNothing', { location, version: r.version }));
      return;
    }
    ctx.print(
      r.authentication === 'external'
        ? ctx.t('repo.upgradedExternal', { location, file: file!, signed: r.signed.length })
        : ctx.t('repo.upgraded', { location, signed: r.signed.length }),
    );
    if (r.damaged.length) ctx.note(ctx.t('repo.upgradeDamaged', { ids: r.damaged.join(', ') }));
  },
};
