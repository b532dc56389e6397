/**
 * Where the repository is: --repo, $BRANKAS_REPO, or the default. Apart from
 * repo-common.ts so that a command can find out whether there is a repository
 * without loading the repository's modules (zstd, workers...).
 */
import type { ParsedArgs } from '../command.js';
import type { CliContext } from '../context.js';

export const DEFAULT_REPO = '/var/lib/brankas/repo';

export const repoOption = { repo: { type: 'string' } } as const;

export function repoLocation(ctx: CliContext, args: ParsedArgs): string {
  return (args.values['repo'] as string | undefined) ?? ctx.io.env['BRANKAS_REPO'] ?? DEFAULT_REPO;
}
