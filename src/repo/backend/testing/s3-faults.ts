/**
 * A loopback HTTP front for a test S3 server that answers chosen requests with an error of
 * its own (503 SlowDown, 500 InternalError...) instead of passing them on: what a busy or
 * failing S3 does, so tests can see the backend retry. Everything else is forwarded as is.
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Fault {
  status: number;
  code: string;
}

export interface S3FaultFront {
  endpoint: string;
  /** The next requests of this method get these answers, one each, in order. */
  fail(method: string, ...faults: Fault[]): void;
  /** Forgets the answers still queued for this method. */
  clear(method: string): void;
  /** Requests seen, by method (failed ones included). */
  readonly seen: Map<string, number>;
  /** Bytes of request bodies (sent to the server) and of answers (received), so far. */
  readonly bytes: { sent: number; received: number };
  close(): Promise<void>;
}

export async function startS3FaultFront(target: string): Promise<S3FaultFront> {
  const upstream = new URL(target);
  const queued = new Map<string, Fault[]>();
  const seen = new Map<string, number>();
  const bytes = { sent: 0, received: 0 };
  const server: Server = createServer((req: IncomingMessage, res) => {
    const method = req.method ?? 'GET';
    seen.set(method, (seen.get(method) ?? 0) + 1);
    req.on('data', (c: Buffer) => (bytes.sent += c.length));
    const fault = queued.get(method)?.shift();
    if (fault) {
      req.resume();
      req.on('end', () => {
        res.writeHead(fault.status, { 'content-type': 'application/xml' });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${fault.code}</Code>` +
            `<Message>injected by the test</Message></Error>`,
        );
      });
      return;
    }
    const out = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.on('data', (c: Buffer) => (bytes.received += c.length));
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    fail: (method, ...faults) => queued.set(method, [...(queued.get(method) ?? []), ...faults]),
    clear: (method) => queued.delete(method),
    seen,
    bytes,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
