/**
 * Puts the API on a socket: a loopback TCP port, a unix socket, or (with a certificate and key)
 * HTTPS on another address. Where it may listen is decided here: a non-loopback address
 * without TLS is refused.
 */
import { createServer as createHttpsServer } from 'node:https';
import { isIP } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import type { ApiApp } from './app.js';
import { badRequest } from './errors.js';

export type Listen = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export function isLoopback(l: Listen): boolean {
  return l.kind === 'unix' || LOOPBACK.has(l.host) || /^127\.\d+\.\d+\.\d+$/.test(l.host);
}

/** `HOST:PORT`, `[V6]:PORT` or `unix:PATH` (absolute). */
export function parseListen(text: string): Listen {
  if (text.startsWith('unix:')) {
    const path = text.slice(5);
    if (!path.startsWith('/'))
      throw badRequest(`--listen unix:PATH needs an absolute path, not '${path}'`);
    return { kind: 'unix', path };
  }
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  const host = m ? (m[1] ?? m[2])! : '';
  if (!m || port > 65535 || (m[1] !== undefined && isIP(host) !== 6)) {
    throw badRequest(`--listen takes HOST:PORT, [IPV6]:PORT or unix:PATH, not '${text}'`);
  }
  return { kind: 'tcp', host, port };
}

export interface Tls {
  cert: Buffer;
  key: Buffer;
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

export async function startServer(app: ApiApp, listen: Listen, tls?: Tls): Promise<RunningServer> {
  if (!isLoopback(listen) && !tls) {
    throw badRequest('a --listen address that is not loopback needs --tls-cert and --tls-key');
  }
  const server = tls
    ? createAdaptorServer({
        fetch: app.fetch,
        createServer: createHttpsServer,
        serverOptions: { cert: tls.cert, key: tls.key },
      })
    : createAdaptorServer({ fetch: app.fetch });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (listen.kind === 'unix') server.listen(listen.path, resolve);
    else server.listen(listen.port, listen.host, resolve);
  });
  const address = server.address();
  const scheme = tls ? 'https' : 'http';
  const url =
    listen.kind === 'unix'
      ? `unix:${listen.path}`
      : `${scheme}://${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${
          typeof address === 'object' && address ? address.port : listen.port
        }`;
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        // Open event streams would keep it open: they end with their jobs, which are cancelled first.
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
