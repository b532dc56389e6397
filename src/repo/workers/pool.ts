/**
 * The chunk pool: hashing, compression, encryption and decoding spread over
 * worker threads (one per core by default), or done inline when size is 0
 * (small jobs, tests, and the measurement that shows the threads pay).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { RepoError, RepoIntegrityError, type IntegrityWhere } from '../errors.js';
import { chunkId, decodeRecord, encodeRecord, isAllZero, type CodecKeys } from '../record.js';
import type { PoolReply, PoolRequest } from './protocol.js';

export interface HashResult {
  /** undefined when the chunk is all zero. */
  id: Buffer | undefined;
  /** The chunk, handed back (it travelled to the worker and back). */
  buf: Buffer;
}

export interface ChunkCodec {
  hash(buf: Buffer): Promise<HashResult>;
  encode(buf: Buffer, id: Buffer): Promise<Buffer>;
  decode(record: Buffer, id: Buffer): Promise<Buffer>;
  close(): Promise<void>;
}

export function defaultWorkerCount(): number {
  return availableParallelism();
}

interface Pending {
  resolve(v: PoolReply & { ok: true }): void;
  reject(e: unknown): void;
}

function transferable(b: Buffer): ArrayBuffer[] {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength
    ? [b.buffer as ArrayBuffer]
    : [];
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

class WorkerPool implements ChunkCodec {
  private readonly workers: { w: Worker; busy: number }[] = [];
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private closed = false;

  constructor(size: number, keys: CodecKeys) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL('./chunk-worker.js', import.meta.url), { workerData: keys });
      const slot = { w, busy: 0 };
      w.on('message', (r: PoolReply) => {
        slot.busy--;
        const p = this.pending.get(r.seq);
        if (!p) return;
        this.pending.delete(r.seq);
        if (r.ok) p.resolve(r);
        else p.reject(rebuild(r.error));
      });
      w.on('error', (err) => this.failAll(err));
      this.workers.push(slot);
    }
  }

  private send(op: PoolRequest['op'], buf: Buffer, id?: Buffer): Promise<PoolReply & { ok: true }> {
    if (this.closed) return Promise.reject(new RepoError('REPO_CLOSED', 'chunk pool is closed'));
    let best = this.workers[0]!;
    for (const s of this.workers) if (s.busy < best.busy) best = s;
    const seq = this.seq++;
    best.busy++;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      const req: PoolRequest = { seq, op, buf, id };
      best.w.postMessage(req, transferable(buf));
    });
  }

  async hash(buf: Buffer): Promise<HashResult> {
    const r = await this.send('hash', buf);
    return { id: r.id ? Buffer.from(r.id) : undefined, buf: toBuffer(r.out) };
  }

  async encode(buf: Buffer, id: Buffer): Promise<Buffer> {
    return toBuffer((await this.send('encode', buf, id)).out);
  }

  async decode(record: Buffer, id: Buffer): Promise<Buffer> {
    return toBuffer((await this.send('decode', record, id)).out);
  }

  private failAll(err: unknown): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new RepoError('REPO_CLOSED', 'chunk pool is closed'));
    await Promise.all(this.workers.map((s) => s.w.terminate()));
  }
}

function rebuild(e: { message: string; code?: string; where?: unknown }): Error {
  if (e.code === 'REPO_CHUNK_CORRUPT') {
    const where = (e.where ?? {}) as IntegrityWhere;
    const bare = e.message.replace(/ \([^()]*\)$/, '');
    return new RepoIntegrityError('REPO_CHUNK_CORRUPT', bare, where);
  }
  return new RepoError('REPO_IO', `chunk worker failed: ${e.message}`);
}

class InlineCodec implements ChunkCodec {
  constructor(private readonly keys: CodecKeys) {}
  async hash(buf: Buffer): Promise<HashResult> {
    return { id: isAllZero(buf) ? undefined : chunkId(buf, this.keys), buf };
  }
  async encode(buf: Buffer, id: Buffer): Promise<Buffer> {
    return encodeRecord(buf, id, this.keys);
  }
  async decode(record: Buffer, id: Buffer): Promise<Buffer> {
    return decodeRecord(record, id, this.keys);
  }
  async close(): Promise<void> {}
}

/** A pool of `workers` threads, or inline work when 0. */
export function createCodec(workers: number, keys: CodecKeys): ChunkCodec {
  return workers > 0 ? new WorkerPool(workers, keys) : new InlineCodec(keys);
}
