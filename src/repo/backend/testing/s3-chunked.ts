// aws-chunked request bodies for s3rver. Some S3 clients (minio-go, so restic) send uploads over
// plain http as `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: the body cut in chunks, each framed
// `<hex size>;chunk-signature=<sig>\r\n<bytes>\r\n`. S3 stores the payload; s3rver 3.7 takes the
// header but stores the framing. This middleware, first in s3rver's own chain, decodes such a
// body before s3rver reads it (the chunk signatures are not checked, as s3rver would not check
// them), so every client reaches the server directly, with no proxy between.

import { Readable } from 'node:stream';
import { dechunk } from '../s3-http.js';

const STREAMING = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';

/**
 * The payload of an aws-chunked body; undefined when the framing is broken. Its framing is
 * HTTP's chunked coding, the signature a chunk extension.
 */
export function decodeAwsChunked(body: Buffer): Buffer | undefined {
  try {
    return dechunk(body);
  } catch {
    return undefined;
  }
}

/** What the middleware uses of Koa's context. */
interface Context {
  req: Readable & {
    headers: Record<string, string | string[] | undefined>;
    method?: string;
    url?: string;
    socket?: unknown;
  };
  request: { req: unknown };
  status: number;
  body: unknown;
}
type Middleware = (ctx: Context, next: () => Promise<void>) => Promise<void>;

/** Puts the decoder first in s3rver's (Koa's) middleware chain. */
export function acceptAwsChunked(server: { middleware: Middleware[] }): void {
  server.middleware.unshift(async (ctx, next) => {
    if (ctx.req.headers['x-amz-content-sha256'] !== STREAMING) return next();
    const parts: Buffer[] = [];
    for await (const part of ctx.req) parts.push(part as Buffer);
    const payload = decodeAwsChunked(Buffer.concat(parts));
    if (!payload) {
      ctx.status = 400;
      ctx.body = 'malformed aws-chunked body';
      return;
    }
    // The request as s3rver will read it: the same head, the payload as its body.
    const headers: Record<string, string | string[] | undefined> = {
      ...ctx.req.headers,
      'content-length': String(payload.length),
    };
    delete headers['transfer-encoding'];
    const { method, url, socket } = ctx.req;
    const req = Object.assign(Readable.from([payload]), {
      headers,
      method,
      url,
      socket,
      httpVersion: '1.1',
    });
    ctx.req = req;
    ctx.request.req = req;
    return next();
  });
}
