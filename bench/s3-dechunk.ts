// A loopback front for s3rver that decodes aws-chunked request bodies. minio-go (restic's S3
// client) sends uploads over plain HTTP as `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: the body cut
// in chunks, each framed `<hex size>;chunk-signature=<sig>\r\n<bytes>\r\n`. s3rver 3.7 accepts
// that header but stores the framing as the object, so restic cannot read back its own key
// file. This front strips the framing (the chunk signatures are not checked, as s3rver would
// not) and passes everything else on as it is; the request's own signature is unchanged.

import { Agent, createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Dechunker {
  endpoint: string;
  close(): Promise<void>;
}

/** The payload of an aws-chunked body. */
function decode(body: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    const eol = body.indexOf('\r\n', at);
    if (eol < 0) break;
    const size = parseInt(body.toString('latin1', at, eol).split(';')[0]!, 16);
    if (!(size > 0)) break;
    out.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

export async function startDechunker(target: string): Promise<Dechunker> {
  const upstream = new URL(target);
  // Connections to s3rver kept open, as many as the tools have to the front.
  const agent = new Agent({ keepAlive: true });
  const server: Server = createServer((req: IncomingMessage, res) => {
    const pass = (headers: IncomingMessage['headers'], body?: Buffer): void => {
      const out = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers,
          agent,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      out.on('error', () => res.destroy());
      if (body) out.end(body);
      else req.pipe(out);
    };
    // Only chunk-signed uploads are decoded (whole); everything else streams through as it
    // is, so a tool's plain requests do not wait for the front to buffer their bodies.
    if (req.headers['x-amz-content-sha256'] !== 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD') {
      pass(req.headers);
      return;
    }
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = decode(Buffer.concat(parts));
      const headers = { ...req.headers, 'content-length': String(body.length) };
      delete headers['transfer-encoding'];
      pass(headers, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      agent.destroy();
      await closed;
    },
  };
}
