/**
 * The NBD server: serves one read-only export on a unix socket or a TCP port,
 * to any number of clients at once. `NbdServer.listen()` resolves once it
 * accepts connections; `close()` stops accepting, ends every connection and,
 * for a unix socket, removes it. A client that misbehaves loses its own
 * connection (reported to `onClientError`), never the server.
 */
import * as net from 'node:net';
import { rm } from 'node:fs/promises';
import { NbdServerError } from '../errors.js';
import type { NbdTarget } from '../transport.js';
import { describeTarget } from '../transport.js';
import { ServerConnection } from './connection.js';
import type { NbdExport } from './types.js';

export interface NbdServerOptions {
  /** The export's name in NBD_OPT_LIST; '' (the default export) opens it too. */
  name: string;
  export: NbdExport;
  /** Where to listen; port 0 picks a free one (see `address`). */
  listen: NbdTarget;
  /** A client broke the protocol or a read failed (its connection or request was refused). */
  onClientError?: (err: Error) => void;
}

export class NbdServer {
  private readonly connections = new Set<ServerConnection>();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: net.Server,
    /** Where clients connect: the socket path, or host and (the chosen) port. */
    readonly address: NbdTarget,
  ) {}

  static async listen(o: NbdServerOptions): Promise<NbdServer> {
    const server = net.createServer();
    const onError = o.onClientError ?? (() => undefined);
    const where = o.listen;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new NbdServerError('NBD_SERVER_LISTEN_FAILED', err.message, {
            details: { address: describeTarget(where), message: err.message },
            cause: err,
          }),
        ),
      );
      if ('socketPath' in where) server.listen(where.socketPath, resolve);
      else server.listen(where.port, where.host, resolve);
    });
    const bound = server.address();
    const address: NbdTarget =
      'socketPath' in where || bound === null || typeof bound === 'string'
        ? where
        : { host: where.host, port: bound.port };
    const s = new NbdServer(server, address);
    const exports = { name: o.name, export: o.export };
    server.on('connection', (socket) => {
      socket.setNoDelay?.(true);
      const c = new ServerConnection(socket, exports, onError);
      s.connections.add(c);
      socket.on('close', () => s.connections.delete(c));
    });
    return s;
  }

  /** Clients connected now. */
  get clients(): number {
    return this.connections.size;
  }

  /** Idempotent: stops accepting, ends every connection, removes a unix socket. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const closed = new Promise<void>((r) => this.server.close(() => r()));
      for (const c of this.connections) c.destroy();
      await closed;
      if ('socketPath' in this.address) await rm(this.address.socketPath, { force: true });
    })();
    return this.closing;
  }
}
