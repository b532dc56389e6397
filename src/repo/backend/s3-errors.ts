/**
 * Every failure of the AWS SDK becomes a typed RepoError here, so no SDK error (nor its stack)
 * reaches a user: refused credentials, a missing bucket, an unreachable server, and, for the
 * rest, the request that failed with the server's own reason. The SDK has already retried what
 * can be retried (throttling, 5xx, timeouts) when an error gets here.
 */
import { RepoError } from '../errors.js';

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

const AUTH = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'CredentialsProviderError',
]);

/** Operations that write (the backend's names for them). */
const WRITES = new Set(['write', 'delete']);

const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'TimeoutError',
  'RequestTimeout',
]);

/** The errno-like name of a network failure anywhere in the cause chain, if it is one. */
function networkCode(err: unknown): string | undefined {
  for (let e = err as SdkErrorShape | undefined, depth = 0; e && depth < 8; depth++) {
    if (e.code && NETWORK.has(e.code)) return e.code;
    if (e.name && NETWORK.has(e.name)) return e.name;
    // Node's fetch-free http stack reports AggregateError for happy-eyeballs failures.
    const inner = (e as { errors?: unknown[] }).errors?.[0];
    const c = inner as SdkErrorShape | undefined;
    if (c?.code && NETWORK.has(c.code)) return c.code;
    e = e.cause as SdkErrorShape | undefined;
  }
  return undefined;
}

export interface S3ErrorContext {
  endpoint: string;
  bucket: string;
  operation: string;
  object: string;
}

/** One line, without the SDK's multi-line texts. */
function oneLine(s: string | undefined): string {
  return (s ?? 'unknown error').split('\n')[0]!.trim() || 'unknown error';
}

export function s3Error(err: unknown, ctx: S3ErrorContext): RepoError {
  if (err instanceof RepoError) return err;
  const e = (err ?? {}) as SdkErrorShape;
  const name = e.name ?? '';
  const status = e.$metadata?.httpStatusCode;
  const { endpoint, bucket } = ctx;
  // The bucket was opened with these credentials (HeadBucket), so a write refused with
  // AccessDenied is a permission the credentials lack, not wrong credentials: read-only keys,
  // or a bucket policy or object lock that refuses writes.
  if (
    WRITES.has(ctx.operation) &&
    (name === 'AccessDenied' || (status === 403 && !AUTH.has(name)))
  ) {
    const reason = name && name !== 'Error' ? name : `HTTP ${status ?? '?'}`;
    return new RepoError(
      'REPO_S3_WRITE_DENIED',
      `the S3 server at ${endpoint} refuses writes to bucket ${bucket} (${reason})`,
      { cause: err, details: { endpoint, bucket, reason } },
    );
  }
  if (AUTH.has(name) || status === 403) {
    const reason = name && name !== 'Error' ? name : `HTTP ${status ?? '?'}`;
    return new RepoError(
      'REPO_S3_AUTH',
      `the S3 server at ${endpoint} refused the credentials (${reason})`,
      {
        cause: err,
        details: { endpoint, reason },
      },
    );
  }
  if (name === 'NoSuchBucket') {
    return new RepoError('REPO_S3_NO_BUCKET', `there is no bucket ${bucket} at ${endpoint}`, {
      cause: err,
      details: { endpoint, bucket },
    });
  }
  const net = networkCode(err);
  if (net !== undefined) {
    return new RepoError(
      'REPO_S3_UNREACHABLE',
      `cannot reach the S3 server at ${endpoint}: ${net}`,
      {
        cause: err,
        details: { endpoint, reason: net },
      },
    );
  }
  const reason = [
    name && name !== 'Error' ? name : undefined,
    status ? `HTTP ${status}` : undefined,
    oneLine(e.message),
  ]
    .filter((x) => x !== undefined)
    .join(': ');
  return new RepoError(
    'REPO_S3_REQUEST',
    `the S3 server at ${endpoint} failed to ${ctx.operation} ${ctx.object}: ${reason}`,
    { cause: err, details: { endpoint, operation: ctx.operation, object: ctx.object, reason } },
  );
}

/** Whether the SDK says the object (not the bucket) does not exist. */
export function isNoSuchKey(err: unknown): boolean {
  const e = err as SdkErrorShape | undefined;
  return e?.name === 'NoSuchKey' || (e?.name === 'NotFound' && e.$metadata?.httpStatusCode === 404);
}
