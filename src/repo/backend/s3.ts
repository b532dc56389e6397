/**
 * The S3 backend: a repository in a bucket of any S3-protocol server (AWS, MinIO, Ceph RGW),
 * through the AWS SDK v3. The SDK is loaded on the first request, so a program that never
 * touches an s3: location never pays for loading it. The hot requests (GETs, whole or of ranges,
 * PutObject, UploadPart) skip the SDK's command stack (s3-lean.ts); uploads are buffered and
 * sent by s3-upload.ts, whole up to a limit, else as a multipart upload that nobody sees until
 * it is completed. The SDK's standard retry strategy retries throttling, 5xx answers, timeouts
 * and dropped connections with exponential backoff (for the lean requests too); what fails
 * after that becomes a typed RepoError (s3-errors.ts).
 */
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { RepoError } from '../errors.js';
import { isNoSuchKey, s3Error } from './s3-errors.js';
import { parseS3Location, type S3Location } from './s3-location.js';
import {
  checkObjectName,
  objectNotFound,
  type Backend,
  type ObjectInfo,
  type ObjectUpload,
} from './types.js';
import { ReadAhead, type Fetched } from './s3-window.js';
import { LeanS3 } from './s3-lean.js';
import { S3Upload, SegmentPool } from './s3-upload.js';

export interface S3BackendOptions {
  /** The region to sign for (default: the SDK's, from AWS_REGION or the profile, else us-east-1). */
  region?: string;
  /** Static credentials; by default the SDK's chain: AWS_* variables, profiles, instance roles. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** The profile of the shared AWS files the SDK's chain takes credentials from. */
  profile?: string;
  /** Bucket in the path (MinIO, Ceph RGW; the default except on amazonaws.com) or in the host name. */
  pathStyle?: boolean;
  /** Attempts per request, the first included (default 5). */
  maxAttempts?: number;
  /** Parts of one upload sent at once (default 4). */
  uploadConcurrency?: number;
  /** Size of an upload's parts in bytes (default 8 MiB; at least 5 MiB, S3's smallest part). */
  partSize?: number;
  /**
   * Objects up to this size are sent whole, with one PutObject, larger ones as multipart
   * uploads (default 32 MiB, so a pack is one request; at least the part size).
   */
  putLimit?: number;
  /**
   * Hash every request body into its signature (default: over http, where nothing else
   * protects the body in transit; over https S3 takes UNSIGNED-PAYLOAD).
   */
  signPayload?: boolean;
  /**
   * Over plain http, range GETs through brankas' own connections, read straight into the
   * read-ahead windows (s3-http.ts; default true); false sends them through the SDK's handler.
   */
  rawRangeReads?: boolean;
  /** A request with no answer for this long is abandoned and retried (default 120,000 ms). */
  requestTimeoutMs?: number;
}

type Sdk = typeof import('@aws-sdk/client-s3');
interface Loaded {
  sdk: Sdk;
  client: S3Client;
  lean: LeanS3;
}

/**
 * The SDK's CommonJS build, loaded with require(): import() resolves its ES build, hundreds of
 * small modules, which took twice the CPU to load (80–100 against 160–180 ms here).
 */
const requireCjs = createRequire(import.meta.url);

const MiB = 1024 * 1024;
const MIN_PART = 5 * MiB;

export class S3Backend implements Backend {
  readonly location: string;
  private readonly where: S3Location;
  private loaded: Promise<Loaded> | undefined;
  private closed = false;
  private readonly partSize: number;
  private readonly putLimit: number;
  /** Upload segments, and the bytes uploads may hold waiting or in flight (s3-upload.ts). */
  private readonly pool: SegmentPool;

  constructor(
    location: string,
    private readonly options: S3BackendOptions = {},
  ) {
    this.where = parseS3Location(location);
    this.location = location;
    this.partSize = Math.max(MIN_PART, options.partSize ?? 8 * MiB);
    this.putLimit = Math.max(this.partSize, options.putLimit ?? 32 * MiB);
    const concurrency = options.uploadConcurrency ?? 4;
    // As much as `concurrency` whole objects at the limit; 4 packs of 16 MiB by default.
    this.pool = new SegmentPool(this.partSize, concurrency * this.putLimit, 2 * concurrency + 4);
  }

  /** The SDK and a client, loaded and made on first use. */
  private load(): Promise<Loaded> {
    if (this.closed) return Promise.reject(new RepoError('REPO_CLOSED', 'backend closed'));
    this.loaded ??= (async () => {
      const sdk = requireCjs('@aws-sdk/client-s3') as Sdk;
      const o = this.options;
      const url = new URL(this.where.endpoint);
      const host = url.hostname;
      const pathStyle = o.pathStyle ?? !host.endsWith('.amazonaws.com');
      const client = new sdk.S3Client({
        endpoint: this.where.endpoint,
        region: o.region ?? defaultRegion(host),
        ...(o.credentials ? { credentials: o.credentials } : {}),
        ...(o.profile ? { profile: o.profile } : {}),
        forcePathStyle: pathStyle,
        maxAttempts: o.maxAttempts ?? 5,
        retryMode: 'standard',
        // Checksums only where S3 requires them: servers other than AWS (older MinIO, Ceph
        // RGW, s3rver) do not all know the newer trailing-checksum encoding.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        requestHandler: {
          requestTimeout: o.requestTimeoutMs ?? 120_000,
          connectionTimeout: 30_000, // the lean path's too (below)
        },
      });
      // Once, before anything else: a missing bucket or refused keys are then one clear
      // error, whatever the first request (a HEAD of a missing object would only say 404).
      try {
        await client.send(new sdk.HeadBucketCommand({ Bucket: this.where.bucket }));
      } catch (err) {
        client.destroy();
        const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata
          ?.httpStatusCode;
        throw this.fail(status === 404 ? { name: 'NoSuchBucket' } : err, 'open', 'the bucket');
      }
      const signPayload = o.signPayload ?? url.protocol === 'http:';
      const timeouts = { connect: 30_000, request: o.requestTimeoutMs ?? 120_000 };
      const raw = o.rawRangeReads ?? true;
      const lean = new LeanS3(client, this.where, pathStyle, signPayload, timeouts, raw);
      return { sdk, client, lean };
    })();
    // A failure is not kept: the server may be back at the next call.
    const loading = this.loaded;
    loading.catch(() => {
      if (this.loaded === loading) this.loaded = undefined;
    });
    return loading;
  }

  private key(name: string): string {
    checkObjectName(name);
    return this.where.prefix + name;
  }

  private fail(err: unknown, operation: string, name: string): RepoError {
    return s3Error(err, {
      endpoint: this.where.endpoint,
      bucket: this.where.bucket,
      operation,
      object: name,
    });
  }

  async put(name: string, data: Buffer): Promise<void> {
    const Key = this.key(name);
    const { lean } = await this.load();
    try {
      await lean.send({ method: 'PUT', key: Key, body: [data] }, drain);
    } catch (err) {
      throw this.fail(err, 'write', name);
    } finally {
      this.ahead.drop(name);
    }
  }

  async upload(name: string): Promise<ObjectUpload> {
    const Key = this.key(name);
    const { sdk, client, lean } = await this.load();
    const Bucket = this.where.bucket;
    return new S3Upload(
      {
        put: (body) =>
          lean.send({ method: 'PUT', key: Key, body }, drain).finally(() => this.ahead.drop(name)),
        create: async () => {
          const r = await client.send(new sdk.CreateMultipartUploadCommand({ Bucket, Key }));
          return r.UploadId!;
        },
        part: (UploadId, PartNumber, body) =>
          lean.send(
            {
              method: 'PUT',
              key: Key,
              query: { partNumber: String(PartNumber), uploadId: UploadId },
              body,
            },
            async (a) => {
              await drain(a);
              return a.headers['etag'] ?? '';
            },
          ),
        complete: async (UploadId, Parts) => {
          try {
            await client.send(
              new sdk.CompleteMultipartUploadCommand({
                Bucket,
                Key,
                UploadId,
                MultipartUpload: { Parts },
              }),
            );
          } finally {
            this.ahead.drop(name);
          }
        },
        abort: async (UploadId) => {
          await client.send(new sdk.AbortMultipartUploadCommand({ Bucket, Key, UploadId }));
        },
      },
      this.pool,
      this.putLimit,
      this.options.uploadConcurrency ?? 4,
      (err) => this.fail(err, 'write', name),
    );
  }

  async get(name: string): Promise<Buffer> {
    const Key = this.key(name);
    const { lean } = await this.load();
    try {
      // Into one buffer of the answer's length, as range reads are: through the SDK a pack
      // read whole (repo copy reads back what it wrote) was concatenated and copied again.
      return (await lean.getInto(Key, {}, (n) => Buffer.allocUnsafe(n))).body;
    } catch (err) {
      if (isNoSuchKey(err)) throw objectNotFound(name, this.location, err);
      throw this.fail(err, 'read', name);
    }
  }

  /** Range reads of packs, read ahead when sequential (s3-window.ts). */
  private readonly ahead = new ReadAhead((name, offset, length, into) =>
    this.fetchRange(name, offset, length, into),
  );

  getRange(name: string, offset: number, length: number): Promise<Buffer> {
    return this.ahead.read(name, offset, length);
  }

  getRangeInto(name: string, offset: number, target: Buffer): Promise<number> {
    return this.ahead.readInto(name, offset, target);
  }

  private async fetchRange(
    name: string,
    offset: number,
    length: number,
    into?: Buffer,
  ): Promise<Fetched> {
    const Key = this.key(name);
    const { lean } = await this.load();
    if (length <= 0) {
      // S3 has no empty range: the object must still exist.
      if ((await this.stat(name)) === undefined) throw objectNotFound(name, this.location);
      return { bytes: Buffer.alloc(0) };
    }
    try {
      const a = await lean.getInto(
        Key,
        { range: `bytes=${offset}-${offset + length - 1}` },
        // Read straight into `into` (or a buffer of its own); a longer answer is refused.
        (n) => (n <= length ? (into ?? Buffer.allocUnsafe(length)) : undefined),
      );
      if (a.body.length > length) {
        // Becomes REPO_S3_REQUEST naming the object (the catch below).
        throw new Error(`the answer is longer than the ${length} bytes asked for`);
      }
      const total = /\/(\d+)$/.exec(a.headers['content-range'] ?? '')?.[1];
      return { bytes: a.body, ...(total !== undefined ? { objectSize: Number(total) } : {}) };
    } catch (err) {
      if (isNoSuchKey(err)) throw objectNotFound(name, this.location, err);
      // A range that starts at or past the end: the object exists, the answer is empty.
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 416) {
        return { bytes: Buffer.alloc(0) };
      }
      throw this.fail(err, 'read', name);
    }
  }

  async stat(name: string): Promise<ObjectInfo | undefined> {
    const Key = this.key(name);
    const { sdk, client } = await this.load();
    try {
      const r = await client.send(new sdk.HeadObjectCommand({ Bucket: this.where.bucket, Key }));
      return { name, size: r.ContentLength ?? 0 };
    } catch (err) {
      // A HEAD answer has no body: a missing bucket is a 404 like a missing object.
      if (isNoSuchKey(err)) return undefined;
      throw this.fail(err, 'look up', name);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const { sdk, client } = await this.load();
    const root = this.where.prefix;
    let token: string | undefined;
    do {
      let r;
      try {
        r = await client.send(
          new sdk.ListObjectsV2Command({
            Bucket: this.where.bucket,
            Prefix: root + prefix,
            ContinuationToken: token,
          }),
        );
      } catch (err) {
        throw this.fail(err, 'list', prefix || '/');
      }
      for (const o of r.Contents ?? []) {
        if (o.Key === undefined || !o.Key.startsWith(root)) continue;
        yield { name: o.Key.slice(root.length), size: o.Size ?? 0 };
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async delete(name: string): Promise<void> {
    const Key = this.key(name);
    const { sdk, client } = await this.load();
    try {
      await client.send(new sdk.DeleteObjectCommand({ Bucket: this.where.bucket, Key }));
    } catch (err) {
      if (isNoSuchKey(err)) return;
      throw this.fail(err, 'delete', name);
    } finally {
      this.ahead.drop(name);
    }
  }

  /** Closes the client's connections. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const loaded = await this.loaded?.catch(() => undefined);
    loaded?.client.destroy();
    loaded?.lean.close();
  }
}

/**
 * The region when none is given: AWS's regional endpoints name theirs
 * (s3.eu-central-1.amazonaws.com); other servers (MinIO, Ceph RGW) take any, us-east-1 is theirs.
 */
function defaultRegion(host: string): string {
  return /^s3[.-]([a-z0-9-]+)\.amazonaws\.com$/.exec(host)?.[1] ?? 'us-east-1';
}

/** Reads an answer's body to its end (a PUT's is empty or a few bytes), freeing the socket. */
async function drain(a: { body: Readable }): Promise<void> {
  a.body.resume();
  await finished(a.body);
}
