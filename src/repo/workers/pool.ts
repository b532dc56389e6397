/**
 * The chunk pool: hashing, compression, encryption and decoding spread over
 * worker threads (one per core by default), or done inline when size is 0
 * (tests, and the measurement that shows the threads pay). A pool with threads
 * does its first work inline too, until that work has cost `inlineMs` of the
 * caller's time: a small job (an incremental of a few changed chunks) never
 * pays for starting threads and a message per chunk, and a big one has its
 * threads started early and works inline until one of them is up.
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { RepoError, RepoIntegrityError, type IntegrityWhere } from '../errors.js';
import {
  chunkId,
  decodeRecord,
  encodeRecordParts,
  isAllZero,
  type CodecKeys,
  type EncodedRecord,
} from '../record.js';
import { Arena, type Slot } from './arena.js';
import type { PoolReply, PoolRequest } from './protocol.js';

export interface ChunkCodec {
  /** A record's plaintext, checked (callers without an arena: verify, single chunks). */
  decode(record: Buffer, id: Buffer): Promise<Buffer>;
  /**
   * Shared slots for the slot operations below, for one user (a disk being written or read):
   * close it when done. Nothing but slot numbers travels between threads.
   */
  openArena(slotSize: number, count: number): CodecArena;
  close(): Promise<void>;
}

export interface CodecArena extends Arena {
  /** The arena's number among the codec's. */
  readonly no: number;
  /** The chunk's id, or undefined when it is all zero. */
  hash(slot: Slot, length: number): Promise<Buffer | undefined>;
  /**
   * Encodes the chunk in `slot` into a record in `to`. With `payloadInPlain`, `to` holds only
   * the record's header and the payload is the chunk in `slot` as it is.
   */
  encode(slot: Slot, length: number, id: Buffer, to: Slot): Promise<EncodedRecord>;
  /**
   * Checks and decodes the record in `slot` into `to`, a slot of this arena or of `into` (of
   * the same codec); returns the plaintext's length.
   */
  decode(slot: Slot, length: number, id: Buffer, to: Slot, into?: CodecArena): Promise<number>;
  close(): void;
}

export function defaultWorkerCount(): number {
  return availableParallelism();
}

/**
 * Chunk work a pool with threads does inline before it starts them (milliseconds of the
 * caller's thread). An incremental's 200 changed chunks of random data cost about 30 ms inline
 * and 100+ ms through the threads (their start, then two messages a chunk); a full backup
 * passes this in its first 20 MiB or so (docs/benchmarks.md, "Live backups: fixed costs").
 */
export const DEFAULT_INLINE_MS = 50;

export interface CodecOptions {
  /** See DEFAULT_INLINE_MS; 0 starts the threads at the first chunk. */
  inlineMs?: number;
}

interface Pending {
  resolve(v: PoolReply & { ok: true }): void;
  reject(e: unknown): void;
}

/** `b` itself when it is its whole buffer, else a copy in a buffer of its own (to transfer). */
export function ownBuffer(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : new Uint8Array(b);
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/**
 * Threads start on the first request, not when the pool is made: a command that reads and
 * writes no chunk (a backup of unchanged disks, `status` with a repository) starts none.
 */
class WorkerPool implements ChunkCodec {
  private readonly workers: { w: Worker; busy: number }[] = [];
  private readonly pending = new Map<number, Pending>();
  /** Arenas open now, announced to threads that start later. */
  private readonly live = new Map<number, { sab: SharedArrayBuffer; slotSize: number }>();
  private seq = 0;
  private closed = false;
  /** Time spent on chunk work inline so far, and whether a thread is up to take it. */
  private inlineSpent = 0;
  private online = false;
  private readonly local: InlineOps;

  constructor(
    private readonly size: number,
    private readonly keys: CodecKeys,
    private readonly inlineMs: number,
  ) {
    this.local = inlineOps(keys);
  }

  /**
   * Runs `work` inline while the budget lasts or, once spent, until a thread is up (the threads
   * are started then); undefined when the threads take it.
   */
  private inline<T>(work: () => T): { value: T } | undefined {
    if (this.online || this.closed) return undefined;
    if (this.inlineSpent >= this.inlineMs) {
      this.start();
      if (this.online) return undefined;
    }
    const t0 = performance.now();
    try {
      return { value: work() };
    } finally {
      this.inlineSpent += performance.now() - t0;
    }
  }

  /** Whether the threads have started (for tests and diagnostics). */
  get started(): boolean {
    return this.workers.length > 0;
  }

  private start(): void {
    if (this.workers.length > 0) return;
    for (let i = 0; i < this.size; i++) {
      const w = new Worker(new URL('./chunk-worker.js', import.meta.url), {
        workerData: this.keys,
      });
      const slot = { w, busy: 0 };
      w.once('online', () => (this.online = true));
      w.on('message', (r: PoolReply) => {
        slot.busy--;
        const p = this.pending.get(r.seq);
        if (!p) return;
        this.pending.delete(r.seq);
        if (r.ok) p.resolve(r);
        else p.reject(rebuild(r.error));
      });
      w.on('error', (err) => this.failAll(err));
      for (const [no, a] of this.live) {
        w.postMessage({ seq: -1, op: 'arena', arena: no, ...a } as PoolRequest);
      }
      this.workers.push(slot);
    }
  }

  /** Sends to the least busy worker; `seq` is filled in. */
  request(req: PoolRequest, transfer: ArrayBuffer[] = []): Promise<PoolReply & { ok: true }> {
    if (this.closed) return Promise.reject(new RepoError('REPO_CLOSED', 'chunk pool is closed'));
    this.start();
    let best = this.workers[0]!;
    for (const s of this.workers) if (s.busy < best.busy) best = s;
    const seq = this.seq++;
    best.busy++;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      best.w.postMessage({ ...req, seq }, transfer);
    });
  }

  private arenas = 0;

  openArena(slotSize: number, count: number): CodecArena {
    const arena = new Arena(slotSize, count);
    const no = this.arenas++;
    // Announced to every worker before any slot operation names it (each port keeps order).
    const announce = (sab: SharedArrayBuffer | null): void => {
      if (this.closed) return;
      if (sab) this.live.set(no, { sab, slotSize });
      else this.live.delete(no);
      for (const s of this.workers) {
        s.w.postMessage({ seq: -1, op: 'arena', arena: no, sab, slotSize } as PoolRequest);
      }
    };
    announce(arena.sab);
    const ids = (r: PoolReply & { ok: true }): Buffer | undefined =>
      r.id ? Buffer.from(r.id) : undefined;
    const local = this.local;
    return Object.assign(arena, {
      no,
      hash: async (slot: Slot, length: number) => {
        const done = this.inline(() => local.hash(slot, length));
        if (done) return done.value;
        return ids(
          await this.request({ seq: 0, op: 'hashSlot', arena: no, slot: slot.index, length }),
        );
      },
      encode: async (slot: Slot, length: number, id: Buffer, to: Slot) => {
        const done = this.inline(() => local.encode(slot, length, id, to));
        if (done) return done.value;
        const r = await this.request({
          seq: 0,
          op: 'encodeSlot',
          arena: no,
          slot: slot.index,
          length,
          id: new Uint8Array(id),
          to: to.index,
        });
        return { length: r.length!, payloadInPlain: r.raw === true };
      },
      decode: async (slot: Slot, length: number, id: Buffer, to: Slot, into?: CodecArena) =>
        this.inline(() => local.decode(slot, length, id, to))?.value ??
        (
          await this.request({
            seq: 0,
            op: 'decodeSlot',
            arena: no,
            slot: slot.index,
            length,
            id: new Uint8Array(id),
            to: to.index,
            toArena: into?.no,
          })
        ).length!,
      close: () => announce(null),
    });
  }

  async decode(record: Buffer, id: Buffer): Promise<Buffer> {
    const done = this.inline(() => decodeRecord(record, id, this.keys));
    if (done) return done.value;
    // A record and an id travel in buffers of their own: postMessage clones a view's whole
    // buffer, and a record read out of a pack held whole (16 MiB) cost 2.4 ms per chunk that
    // way, 23 s for a repo copy of 512 MiB (docs/benchmarks.md, "Copying backups to S3").
    const own = ownBuffer(record);
    const req: PoolRequest = { seq: 0, op: 'decode', buf: own, id: new Uint8Array(id) };
    return toBuffer((await this.request(req, [own.buffer as ArrayBuffer])).out!);
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

/** The slot operations done on the caller's thread (an InlineCodec's, a pool's first ones). */
interface InlineOps {
  hash(slot: Slot, length: number): Buffer | undefined;
  encode(slot: Slot, length: number, id: Buffer, to: Slot): EncodedRecord;
  decode(slot: Slot, length: number, id: Buffer, to: Slot): number;
}

function inlineOps(keys: CodecKeys): InlineOps {
  const view = (s: Slot, length: number): Buffer => s.buf.subarray(0, length);
  return {
    hash: (slot, length) => {
      const b = view(slot, length);
      return isAllZero(b) ? undefined : chunkId(b, keys);
    },
    encode: (slot, length, id, to) => encodeRecordParts(view(slot, length), id, keys, to.buf),
    decode: (slot, length, id, to) => decodeRecord(view(slot, length), id, keys, to.buf).length,
  };
}

class InlineCodec implements ChunkCodec {
  private readonly ops: InlineOps;
  constructor(private readonly keys: CodecKeys) {
    this.ops = inlineOps(keys);
  }
  async decode(record: Buffer, id: Buffer): Promise<Buffer> {
    return decodeRecord(record, id, this.keys);
  }
  openArena(slotSize: number, count: number): CodecArena {
    const ops = this.ops;
    return Object.assign(new Arena(slotSize, count), {
      no: 0,
      hash: async (slot: Slot, length: number) => ops.hash(slot, length),
      encode: async (slot: Slot, length: number, id: Buffer, to: Slot) =>
        ops.encode(slot, length, id, to),
      decode: async (slot: Slot, length: number, id: Buffer, to: Slot) =>
        ops.decode(slot, length, id, to),
      close: () => undefined,
    });
  }
  async close(): Promise<void> {}
}

/** A pool of `workers` threads, or inline work when 0. */
export function createCodec(workers: number, keys: CodecKeys, o: CodecOptions = {}): ChunkCodec {
  return workers > 0
    ? new WorkerPool(workers, keys, o.inlineMs ?? DEFAULT_INLINE_MS)
    : new InlineCodec(keys);
}
