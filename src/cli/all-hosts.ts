/**
 * `--all-hosts` for the commands that look at a host (inventory, status):
 * this connection (-c, or the default) first, then every registered host
 * (`brankas host add`) not already that one, each through its own
 * connection, side by side. A host that cannot be reached is an entry with
 * its error, not a failure of the whole command: the others are still shown.
 * Without the flag a command looks at one connection only, so a host that
 * is down never slows or breaks a plain `brankas status`.
 */
import type { Connection } from '../libvirt/index.js';
import { readHosts } from '../service/hosts.js';
import { errorCode, errorMessage } from '../util/errors.js';
import type { CliContext } from './context.js';
import { errorText } from './error-text.js';
import { stateDir } from './vm-job.js';

export const allHostsOption = { 'all-hosts': { type: 'boolean' } } as const;

export interface HostEntry<T> {
  /** The registered name; null for this connection when it is not a registered host. */
  name: string | null;
  uri: string;
  result?: T;
  error?: { code: string; message: string };
}

export async function acrossHosts<T>(
  ctx: CliContext,
  look: (conn: Connection) => Promise<T>,
): Promise<HostEntry<T>[]> {
  const hosts = await readHosts(stateDir(ctx));
  const conn = await ctx.connect();
  const here = conn.uri.uri;
  const first: HostEntry<T> = {
    name: hosts.find((h) => h.uri === here || h.name === ctx.uri)?.name ?? null,
    uri: here,
    result: await look(conn),
  };
  const { Connection } = await import('../libvirt/index.js');
  const others = await Promise.all(
    hosts
      .filter((h) => h.uri !== here && h.name !== ctx.uri)
      .map(async (h): Promise<HostEntry<T>> => {
        try {
          const c = await Connection.open(h.uri);
          try {
            return { name: h.name, uri: h.uri, result: await look(c) };
          } finally {
            await c.close();
          }
        } catch (err) {
          return {
            name: h.name,
            uri: h.uri,
            error: {
              code: errorCode(err) ?? 'INTERNAL',
              // In the user's language where the registry has the code.
              message: errorText(ctx.lang, err) || errorMessage(err),
            },
          };
        }
      }),
  );
  return [first, ...others];
}

/** The heading of one host's part of the text output, and its error when it had one. */
export function printHostHeading(ctx: CliContext, e: HostEntry<unknown>): void {
  ctx.print(ctx.t('host.heading', { name: e.name ?? ctx.t('host.local'), uri: e.uri }));
  if (e.error) ctx.print(ctx.t('host.unreachable', { reason: e.error.message }));
}

/** Exit code: 1 when a host could not be reached (everything else was still shown). */
export function exitCodeOf(entries: HostEntry<unknown>[]): number {
  return entries.some((e) => e.error) ? 1 : 0;
}
