/**
 * The S3 backend's hot requests (GETs, whole or of ranges, PutObject, UploadPart) without the AWS
 * SDK's command stack. A 343 MiB backup or restore through the SDK cost the client about 2 CPU
 * s more than the same work on a local repository (docs/benchmarks.md, "Cold backup into
 * S3"): per request its middleware, per byte a SHA-256 of every request body for the
 * signature, lib-storage's copies of upload parts and the garbage they left. Here a request is
 * built by hand, signed by the client's own signer (its credentials, region and S3 signing
 * rules), sent by the client's own request handler (its keep-alive agent and timeouts) and
 * retried by the client's own retry strategy, with the SDK's own classification of failures,
 * so retries and backoff are the SDK's; a failed answer becomes an error shaped like the
 * SDK's (name from the XML `<Code>`, `$metadata.httpStatusCode`), which s3-errors.ts reads
 * alike. Everything else (listing, HEAD, DELETE, multipart bookkeeping) stays with the SDK.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import type { S3Location } from './s3-location.js';
import { RawHttp, type BodyTarget, type RawAnswer } from './s3-http.js';

type Retry = typeof import('@smithy/core/retry');

/** What the payload hash is when the body is not hashed (S3's literal). */
const UNSIGNED = 'UNSIGNED-PAYLOAD';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export interface LeanRequest {
  method: 'GET' | 'PUT';
  /** The object's key in the bucket. */
  key: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** A PUT's body, sent as these pieces one after the other (not joined). */
  body?: readonly Buffer[];
}

/** A 2xx answer: status, headers (lower-case names) and the body, not yet read. */
export interface LeanAnswer {
  statusCode: number;
  headers: Record<string, string>;
  body: IncomingMessage;
}

interface Signer {
  sign(request: unknown, options?: Record<string, unknown>): Promise<unknown>;
}
interface Handler {
  handle(request: unknown): Promise<{ response: LeanAnswer }>;
}
interface RetryToken {
  getRetryDelay(): number;
}
interface RetryStrategy {
  acquireInitialRetryToken(scope: string): Promise<RetryToken>;
  refreshRetryTokenForRetry(token: RetryToken, info: unknown): Promise<RetryToken>;
  recordSuccess(token: RetryToken): void;
}

export class LeanS3 {
  private readonly url: URL;
  /** Range GETs over plain http go through s3-http.ts. */
  private readonly raw: RawHttp | undefined;
  private readonly pathStyle: boolean;
  private parts: Promise<{ signer: Signer; retry: RetryStrategy; classify: Retry }> | undefined;

  constructor(
    private readonly client: S3Client,
    private readonly where: S3Location,
    pathStyle: boolean,
    /** Hash request bodies into the signature (else UNSIGNED-PAYLOAD). */
    private readonly signPayload: boolean,
    timeouts: { connect: number; request: number },
    rawGets = true,
  ) {
    this.url = new URL(where.endpoint);
    this.pathStyle = pathStyle;
    if (this.url.protocol === 'http:' && rawGets) {
      const host = pathStyle ? this.url.hostname : `${where.bucket}.${this.url.hostname}`;
      this.raw = new RawHttp(
        host.replace(/^\[|\]$/g, ''),
        Number(this.url.port || 80),
        timeouts.connect,
        timeouts.request,
      );
    }
  }

  private load(): Promise<{ signer: Signer; retry: RetryStrategy; classify: Retry }> {
    this.parts ??= (async () => {
      const config = this.client.config as unknown as {
        signer: (scheme?: unknown) => Promise<Signer>;
        retryStrategy: () => Promise<RetryStrategy>;
      };
      const [signer, retry, classify] = await Promise.all([
        config.signer(),
        config.retryStrategy(),
        createRequire(import.meta.url)('@smithy/core/retry') as Retry, // as s3.ts loads the SDK
      ]);
      return { signer, retry, classify };
    })();
    // A failure is not kept (as the backend's own load() does not keep one).
    const parts = this.parts;
    parts.catch(() => {
      if (this.parts === parts) this.parts = undefined;
    });
    return parts;
  }

  /**
   * Sends the request, retried as the SDK retries; `read` consumes a 2xx answer's body (a
   * failure while reading it, a dropped connection, is retried like the request's own).
   */
  async send<T>(req: LeanRequest, read: (answer: LeanAnswer) => Promise<T>): Promise<T> {
    const { signer } = await this.load();
    const handler = this.client.config.requestHandler as unknown as Handler;
    // The body's hash once, not once per attempt.
    const payloadHash = !req.body?.length
      ? EMPTY_SHA256
      : this.signPayload
        ? sha256(req.body)
        : UNSIGNED;
    return this.retrying(async () => {
      const signed = await signer.sign(this.request(req, payloadHash));
      const { response } = await handler.handle(signed);
      if (response.statusCode < 200 || response.statusCode > 299) throw await failure(response);
      return read(response);
    });
  }

  /**
   * A GET (of a range) whose body goes where `target` says; over plain http through
   * s3-http.ts, straight from the socket into that buffer. Retried as send() is.
   */
  async getInto(
    key: string,
    headers: Record<string, string>,
    target: BodyTarget,
  ): Promise<RawAnswer> {
    if (!this.raw) {
      return this.send({ method: 'GET', key, headers }, async (a) => {
        // Copied once, from Node's pieces into the target, when the length is known and fits.
        const length = Number(a.headers['content-length'] ?? NaN);
        const into = Number.isInteger(length) ? target(length) : undefined;
        if (!into || into.length < length) {
          const chunks: Buffer[] = [];
          for await (const c of a.body) chunks.push(c as Buffer);
          return { statusCode: a.statusCode, headers: a.headers, body: Buffer.concat(chunks) };
        }
        let at = 0;
        for await (const c of a.body) {
          const piece = c as Buffer;
          if (at + piece.length > length)
            throw new Error('an answer longer than its Content-Length');
          piece.copy(into, at);
          at += piece.length;
        }
        return { statusCode: a.statusCode, headers: a.headers, body: into.subarray(0, at) };
      });
    }
    const raw = this.raw;
    const { signer } = await this.load();
    return this.retrying(async () => {
      const signed = (await signer.sign(
        this.request({ method: 'GET', key, headers }, EMPTY_SHA256),
      )) as {
        path: string;
        headers: Record<string, string>;
      };
      const a = await raw.get(signed.path, signed.headers, target);
      if (a.statusCode < 200 || a.statusCode > 299) throw errorOf(a.statusCode, a.headers, a.body);
      return a;
    });
  }

  /** Runs an attempt until it works or the client's retry strategy gives up (its backoff). */
  private async retrying<T>(attempt: () => Promise<T>): Promise<T> {
    const { retry, classify } = await this.load();
    let token = await retry.acquireInitialRetryToken('');
    for (;;) {
      try {
        const out = await attempt();
        retry.recordSuccess(token);
        return out;
      } catch (err) {
        try {
          const hint = classify.getRetryAfterHint((err as { $response?: unknown }).$response);
          token = await retry.refreshRetryTokenForRetry(token, {
            error: err,
            errorType: errorType(classify, err),
            ...(hint ? { retryAfterHint: hint } : {}),
          });
        } catch {
          throw err;
        }
        const delay = token.getRetryDelay();
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /** Closes the raw connections (the SDK's are the client's). */
  close(): void {
    this.raw?.close();
  }

  /** The request as the SDK's handler and signer take it (a fresh body stream per attempt). */
  private request(req: LeanRequest, payloadHash: string): Record<string, unknown> {
    const key = req.key.split('/').map(encodeURIComponent).join('/');
    const hostname = this.pathStyle
      ? this.url.hostname
      : `${this.where.bucket}.${this.url.hostname}`;
    const port = this.url.port ? Number(this.url.port) : undefined;
    const length = req.body?.reduce((n, b) => n + b.length, 0) ?? 0;
    const headers: Record<string, string> = {
      host: port !== undefined ? `${hostname}:${port}` : hostname,
      'x-amz-content-sha256': payloadHash,
      ...req.headers,
    };
    if (req.method === 'PUT') headers['content-length'] = String(length);
    const body = req.body;
    return {
      protocol: this.url.protocol,
      hostname,
      port,
      method: req.method,
      path: this.pathStyle ? `/${this.where.bucket}/${key}` : `/${key}`,
      query: req.query ?? {},
      headers,
      body:
        body === undefined || body.length === 0
          ? undefined
          : body.length === 1
            ? body[0]
            : Readable.from(body, { objectMode: false }),
    };
  }
}

function sha256(body: readonly Buffer[]): string {
  const h = createHash('sha256');
  for (const b of body) h.update(b);
  return h.digest('hex');
}

/** The SDK's retry classes of a failure (its retry middleware's own order). */
function errorType(c: Retry, err: unknown): string {
  const e = err as Parameters<Retry['isThrottlingError']>[0];
  if (c.isThrottlingError(e)) return 'THROTTLING';
  if (c.isTransientError(e)) return 'TRANSIENT';
  if (c.isServerError(e)) return 'SERVER_ERROR';
  return 'CLIENT_ERROR';
}

/** A non-2xx answer as the SDK shapes it: `name` from the XML error's Code, the HTTP status. */
async function failure(r: LeanAnswer): Promise<Error> {
  const chunks: Buffer[] = [];
  try {
    for await (const c of r.body) chunks.push(c as Buffer);
  } catch {
    // The status says enough.
  }
  return errorOf(r.statusCode, r.headers, Buffer.concat(chunks), r);
}

function errorOf(
  statusCode: number,
  headers: Record<string, string>,
  body: Buffer,
  response?: unknown,
): Error {
  const r = { statusCode };
  const text = body.toString('utf8');
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
  // As the SDK names body-less answers (a HEAD, a 404 without XML).
  const name =
    code ?? (r.statusCode === 404 ? 'NotFound' : r.statusCode === 403 ? 'Forbidden' : 'Unknown');
  return Object.assign(new Error(message ?? `HTTP ${r.statusCode}`), {
    name,
    $fault: r.statusCode >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: r.statusCode },
    // The answer, where the retry strategy looks for a Retry-After.
    $response: response ?? new HttpResponseLike(statusCode, headers),
  });
}

/** What the SDK's retry strategy takes for an answer (it reads Retry-After from one). */
class HttpResponseLike {
  constructor(
    readonly statusCode: number,
    readonly headers: Record<string, string>,
  ) {}
}
