/**
 * The S3 backend: a repository in a bucket of any S3-protocol server (AWS, MinIO, Ceph RGW),
 * through the AWS SDK v3. The SDK is loaded on the first request, so a program that never
 * touches an s3: location never pays for loading it. Objects are written whole (PutObject) or,
 * for uploads, through @aws-sdk/lib-storage, which sends parts in parallel as a multipart
 * upload that nobody sees until it is completed. The SDK's standard retry strategy retries
 * throttling, 5xx answers, timeouts and dropped connections with exponential backoff; what
 * fails after that becomes a typed RepoError (s3-errors.ts).
 */
import { PassThrough } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Upload } from '@aws-sdk/lib-storage';
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
  /** Size of an upload's parts in bytes (default and minimum 5 MiB, S3's smallest part). */
  partSize?: number;
  /** A request with no answer for this long is abandoned and retried (default 120,000 ms). */
  requestTimeoutMs?: number;
}

type Sdk = typeof import('@aws-sdk/client-s3');
type Storage = typeof import('@aws-sdk/lib-storage');

const MIN_PART = 5 * 1024 * 1024;

export class S3Backend implements Backend {
  readonly location: string;
  private readonly where: S3Location;
  private loaded: Promise<{ sdk: Sdk; storage: Storage; client: S3Client }> | undefined;
  private closed = false;

  constructor(
    location: string,
    private readonly options: S3BackendOptions = {},
  ) {
    this.where = parseS3Location(location);
    this.location = location;
  }

  /** The SDK and a client, loaded and made on first use. */
  private load(): Promise<{ sdk: Sdk; storage: Storage; client: S3Client }> {
    if (this.closed) return Promise.reject(new RepoError('REPO_CLOSED', 'backend closed'));
    this.loaded ??= (async () => {
      const [sdk, storage] = await Promise.all([
        import('@aws-sdk/client-s3'),
        import('@aws-sdk/lib-storage'),
      ]);
      const o = this.options;
      const host = new URL(this.where.endpoint).hostname;
      const client = new sdk.S3Client({
        endpoint: this.where.endpoint,
        region: o.region ?? defaultRegion(host),
        ...(o.credentials ? { credentials: o.credentials } : {}),
        ...(o.profile ? { profile: o.profile } : {}),
        forcePathStyle: o.pathStyle ?? !host.endsWith('.amazonaws.com'),
        maxAttempts: o.maxAttempts ?? 5,
        retryMode: 'standard',
        // Checksums only where S3 requires them: servers other than AWS (older MinIO, Ceph
        // RGW, s3rver) do not all know the newer trailing-checksum encoding.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        requestHandler: {
          requestTimeout: o.requestTimeoutMs ?? 120_000,
          connectionTimeout: 30_000,
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
      return { sdk, storage, client };
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
    const { sdk, client } = await this.load();
    try {
      await client.send(new sdk.PutObjectCommand({ Bucket: this.where.bucket, Key, Body: data }));
    } catch (err) {
      throw this.fail(err, 'write', name);
    }
  }

  async upload(name: string): Promise<ObjectUpload> {
    const Key = this.key(name);
    const { storage, client } = await this.load();
    const body = new PassThrough({ highWaterMark: MIN_PART });
    // A failed upload is reported by its done() (S3Upload); the stream's own error is the same.
    body.on('error', () => undefined);
    const upload = new storage.Upload({
      client,
      params: { Bucket: this.where.bucket, Key, Body: body },
      queueSize: this.options.uploadConcurrency ?? 4,
      partSize: Math.max(MIN_PART, this.options.partSize ?? MIN_PART),
      leavePartsOnError: false,
    });
    return new S3Upload(upload, body, (err) => this.fail(err, 'write', name));
  }

  async get(name: string): Promise<Buffer> {
    const Key = this.key(name);
    const { sdk, client } = await this.load();
    try {
      const r = await client.send(new sdk.GetObjectCommand({ Bucket: this.where.bucket, Key }));
      return Buffer.from(await r.Body!.transformToByteArray());
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
    const { sdk, client } = await this.load();
    if (length <= 0) {
      // S3 has no empty range: the object must still exist.
      if ((await this.stat(name)) === undefined) throw objectNotFound(name, this.location);
      return { bytes: Buffer.alloc(0) };
    }
    try {
      const r = await client.send(
        new sdk.GetObjectCommand({
          Bucket: this.where.bucket,
          Key,
          Range: `bytes=${offset}-${offset + length - 1}`,
        }),
      );
      const total = /\/(\d+)$/.exec(r.ContentRange ?? '')?.[1];
      const bytes = await readBody(r.Body as AsyncIterable<Uint8Array>, length, into);
      return { bytes, ...(total !== undefined ? { objectSize: Number(total) } : {}) };
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
    }
  }

  /** Closes the client's connections. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const loaded = await this.loaded?.catch(() => undefined);
    loaded?.client.destroy();
  }
}

/**
 * A response body of at most `length` bytes, copied once from the socket's chunks into `into`
 * (or a buffer of its own): the SDK's transformToByteArray() concatenates the chunks, and a
 * Buffer made of that was a second copy, which with a restore's windows of 4 MiB kept the
 * garbage collector busy.
 */
async function readBody(
  body: AsyncIterable<Uint8Array>,
  length: number,
  into?: Buffer,
): Promise<Buffer> {
  const out = into ?? Buffer.allocUnsafe(length);
  let at = 0;
  for await (const c of body) {
    if (at + c.length > length) {
      // Becomes REPO_S3_REQUEST naming the object (fetchRange's catch).
      throw new Error(`the answer is longer than the ${length} bytes asked for`);
    }
    out.set(c, at);
    at += c.length;
  }
  return at === out.length ? out : out.subarray(0, at);
}

/**
 * The region when none is given: AWS's regional endpoints name theirs
 * (s3.eu-central-1.amazonaws.com); other servers (MinIO, Ceph RGW) take any, us-east-1 is theirs.
 */
function defaultRegion(host: string): string {
  return /^s3[.-]([a-z0-9-]+)\.amazonaws\.com$/.exec(host)?.[1] ?? 'us-east-1';
}

class S3Upload implements ObjectUpload {
  private done: Promise<unknown> | undefined;
  private failure: unknown;
  private finished = false;

  constructor(
    private readonly upload: Upload,
    private readonly body: PassThrough,
    private readonly fail: (err: unknown) => RepoError,
  ) {}

  /** Starts the upload at the first write: lib-storage reads the body as it comes. */
  private start(): void {
    this.done ??= this.upload.done().catch((err: unknown) => {
      this.failure = err;
      this.body.destroy();
    });
  }

  async write(...parts: Buffer[]): Promise<void> {
    if (this.finished) throw new RepoError('REPO_CLOSED', 'upload already finished');
    this.start();
    if (this.failure !== undefined) throw this.fail(this.failure);
    // A copy: the caller may reuse its buffers once this resolves, and the stream keeps what
    // it is given until lib-storage has sent it.
    const data = Buffer.concat(parts);
    if (data.length === 0) return;
    if (!this.body.write(data)) {
      await new Promise<void>((resolve) => {
        const go = (): void => {
          this.body.off('drain', go);
          this.body.off('close', go);
          resolve();
        };
        this.body.on('drain', go);
        this.body.on('close', go);
      });
    }
    if (this.failure !== undefined) throw this.fail(this.failure);
  }

  async commit(): Promise<void> {
    if (this.finished) throw new RepoError('REPO_CLOSED', 'upload already finished');
    this.start();
    this.finished = true;
    this.body.end();
    await this.done;
    if (this.failure !== undefined) throw this.fail(this.failure);
  }

  async abort(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    if (this.done === undefined) return; // nothing was sent
    await this.upload.abort().catch(() => undefined);
    this.body.destroy();
    await this.done;
  }
}
