/**
 * Uploads to S3, written by the backend itself instead of lib-storage: the caller's bytes are
 * copied once, into segments of `partSize` bytes taken from a pool of the backend's (fresh
 * multi-MiB buffers for every part kept the garbage collector busy), and sent from there. An
 * object of at most `putLimit` bytes (a pack: 16 MiB) goes as one PutObject at commit, one
 * request instead of a multipart upload's create, parts and complete (and for servers that
 * join the parts, one write of the object instead of two). A larger one becomes a multipart
 * upload once it passes the limit, its full segments sent as parts, at most `concurrency` at
 * a time. The backend's sends share one budget of bytes waiting or in flight: a write waits
 * while it is spent, so a producer faster than the server cannot pile up packs in memory.
 * Nobody sees the object before commit() returns.
 */
import { copyBytes } from '../../util/copy.js';
import { RepoError } from '../errors.js';
import type { ObjectUpload } from './types.js';

/** The requests an upload makes (s3.ts: the lean path for bodies, the SDK for the rest). */
export interface UploadRequests {
  put(body: Buffer[]): Promise<void>;
  create(): Promise<string>;
  /** Sends one part; its ETag. */
  part(uploadId: string, partNumber: number, body: Buffer[]): Promise<string>;
  complete(uploadId: string, parts: { ETag: string; PartNumber: number }[]): Promise<void>;
  abort(uploadId: string): Promise<void>;
}

/** Segments of one size, reused; and the budget of bytes the backend's sends may hold. */
export class SegmentPool {
  private readonly free: Buffer[] = [];
  private held = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(
    readonly size: number,
    /** Bytes sends may hold (waiting or in flight) before writes wait. */
    private readonly budget: number,
    /** Free segments kept for reuse. */
    private readonly keep: number,
  ) {}

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafe(this.size);
  }

  give(b: Buffer): void {
    if (b.length === this.size && this.free.length < this.keep) this.free.push(b);
  }

  /** Counts bytes a send holds until release(). */
  hold(n: number): void {
    this.held += n;
  }

  release(n: number): void {
    this.held -= n;
    while (this.held < this.budget && this.waiters.length > 0) this.waiters.shift()!();
  }

  /** Resolves once the sends hold less than the budget. */
  async room(): Promise<void> {
    while (this.held >= this.budget) await new Promise<void>((r) => this.waiters.push(r));
  }
}

export class S3Upload implements ObjectUpload {
  /** Filled segments not yet sent, then the one being filled (`used` bytes of it). */
  private segments: Buffer[] = [];
  private used = 0;
  private size = 0;
  private uploadId: Promise<string> | undefined;
  private partNumber = 0;
  private readonly parts: Promise<{ ETag: string; PartNumber: number }>[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();
  private failure: unknown;
  private finished = false;
  private committed = false;

  constructor(
    private readonly requests: UploadRequests,
    private readonly pool: SegmentPool,
    private readonly putLimit: number,
    private readonly concurrency: number,
    private readonly fail: (err: unknown) => RepoError,
  ) {}

  async write(...parts: Buffer[]): Promise<void> {
    if (this.finished) throw new RepoError('REPO_CLOSED', 'upload already finished');
    this.check();
    await this.pool.room();
    for (const p of parts) {
      let at = 0;
      while (at < p.length) {
        if (this.segments.length === 0 || this.used === this.pool.size) {
          if (this.uploadId !== undefined) await this.sendFull();
          this.segments.push(this.pool.take());
          this.used = 0;
        }
        // copyBytes: records often come from a worker arena in shared memory (src/util/copy.ts).
        const n = Math.min(p.length - at, this.pool.size - this.used);
        copyBytes(this.segments[this.segments.length - 1]!, this.used, p.subarray(at, at + n));
        this.used += n;
        this.size += n;
        at += n;
      }
    }
    // Past the limit: a multipart upload, the full segments on their way as parts.
    if (this.uploadId === undefined && this.size > this.putLimit) {
      const id = this.requests.create();
      this.uploadId = id;
      this.track(id);
      await this.sendFull();
    }
    this.check();
  }

  /** Sends every full segment as a part, waiting while `concurrency` parts are in flight. */
  private async sendFull(): Promise<void> {
    while (
      this.segments.length > 1 ||
      (this.segments.length === 1 && this.used === this.pool.size)
    ) {
      while (this.inFlight.size >= this.concurrency) await Promise.race(this.inFlight);
      this.check();
      const seg = this.segments.shift()!;
      if (this.segments.length === 0) this.used = this.pool.size; // next write takes a new one
      this.sendPart([seg], seg.length);
    }
  }

  private sendPart(segs: Buffer[], length: number): void {
    const n = ++this.partNumber;
    const body = segs.map((s, i) => (i === segs.length - 1 ? s.subarray(0, length) : s));
    const bytes = body.reduce((t, b) => t + b.length, 0);
    this.pool.hold(bytes);
    const sent = this.uploadId!.then((id) => this.requests.part(id, n, body)).finally(() => {
      this.pool.release(bytes);
      for (const s of segs) this.pool.give(s);
    });
    this.parts.push(sent.then((ETag) => ({ ETag, PartNumber: n })));
    this.track(sent);
  }

  /** Keeps a request in the in-flight set until it settles; its failure fails the upload. */
  private track(p: Promise<unknown>): void {
    const t: Promise<unknown> = p.then(
      () => this.inFlight.delete(t),
      (err: unknown) => {
        this.inFlight.delete(t);
        this.failure ??= err;
      },
    );
    // The id request is not a part: it does not count against the parts in flight.
    if (p !== this.uploadId) this.inFlight.add(t);
  }

  private check(): void {
    if (this.failure !== undefined) throw this.fail(this.failure);
  }

  async commit(): Promise<void> {
    if (this.finished) throw new RepoError('REPO_CLOSED', 'upload already finished');
    this.finished = true;
    this.check();
    const segs = this.segments;
    const last = this.used;
    this.segments = [];
    try {
      if (this.uploadId === undefined) {
        const body = segs.map((s, i) => (i === segs.length - 1 ? s.subarray(0, last) : s));
        const bytes = this.size;
        await this.pool.room();
        this.pool.hold(bytes);
        try {
          await this.requests.put(body);
        } finally {
          this.pool.release(bytes);
          for (const s of segs) this.pool.give(s);
        }
        this.committed = true;
        return;
      }
      // Every part but the last is full; the last may be short (S3 allows it), or empty when
      // the object ended at a part's end (a part of zero bytes is not sent then).
      if (segs.length > 0 && last > 0) this.sendPart(segs, last);
      else for (const s of segs) this.pool.give(s);
      const id = await this.uploadId;
      const parts = await Promise.all(this.parts);
      await this.requests.complete(id, parts);
      this.committed = true;
    } catch (err) {
      this.failure ??= err;
      await this.abortParts();
      throw this.fail(this.failure);
    }
  }

  async abort(): Promise<void> {
    if (this.committed) return;
    this.finished = true;
    for (const s of this.segments) this.pool.give(s);
    this.segments = [];
    await this.abortParts();
  }

  private aborted: Promise<void> | undefined;

  /** Waits for the parts in flight, then aborts the multipart upload (if one was begun). */
  private abortParts(): Promise<void> {
    this.aborted ??= (async () => {
      await Promise.allSettled([...this.inFlight]);
      if (this.uploadId === undefined) return;
      const id = await this.uploadId.catch(() => undefined);
      if (id !== undefined) await this.requests.abort(id).catch(() => undefined);
    })();
    return this.aborted;
  }
}
