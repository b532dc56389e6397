/**
 * Where a connection's disks live, decided from the connection's URI and
 * nothing else (never guessed from whether a path happens to exist here): a
 * unix socket, or TCP to a loopback address, is this machine and its files
 * are read directly; `qemu+ssh://` is another host (also when it is this
 * one through 127.0.0.1) whose files are reached over the same ssh; TCP to
 * another host carries no data path at all.
 */
import type { Connection } from '../../libvirt/index.js';
import type { SshTarget } from '../../util/ssh.js';
import { EngineError } from '../errors.js';

export type DataHost = { kind: 'local' } | { kind: 'ssh'; ssh: SshTarget };

export const LOCAL: DataHost = { kind: 'local' };

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The data host of `conn`; throws REMOTE_NO_DATA_PATH for a remote host reached without ssh. */
export function dataHostOf(conn: Pick<Connection, 'uri'>): DataHost {
  const t = conn.uri.transport;
  switch (t.kind) {
    case 'unix':
      return LOCAL;
    case 'tcp':
      if (isLoopback(t.host)) return LOCAL;
      throw new EngineError(
        'REMOTE_NO_DATA_PATH',
        `the disks of VMs reached through ${conn.uri.uri} cannot be read from here: only qemu+ssh:// carries disk data from another host`,
        { details: { uri: conn.uri.uri } },
      );
    case 'ssh':
      return {
        kind: 'ssh',
        ssh: {
          host: t.host,
          port: t.port,
          user: t.user,
          keyfile: t.keyfile,
          knownHosts: t.knownHosts,
          noVerify: t.noVerify,
          command: t.command,
        },
      };
  }
}
