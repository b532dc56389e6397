/**
 * The chunk pool: hashing, compression, encryption and decoding spread over
 * worker threads (one per core by default), or done inline when size is 0
 * (small jobs, tests, and the measurement that shows the threads pay).
 */
import { availableParallelism } from 'node:os';
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

  constructor(
    private readonly size: number,
    private readonly keys: CodecKeys,
  ) {}

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
    return Object.assign(arena, {
      no,
      hash: async (slot: Slot, length: number) =>
        ids(await this.request({ seq: 0, op: 'hashSlot', arena: no, slot: slot.index, length })),
      encode: async (slot: Slot, length: number, id: Buffer, to: Slot) => {
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
    // An id travels in its own 32 bytes: a view of Buffer's shared pool would clone the pool.
    const req: PoolRequest = { seq: 0, op: 'decode', buf: record, id: new Uint8Array(id) };
    return toBuffer((await this.request(req, transferable(record))).out!);
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
  async decode(record: Buffer, id: Buffer): Promise<Buffer> {
    return decodeRecord(record, id, this.keys);
  }
  openArena(slotSize: number, count: number): CodecArena {
    const keys = this.keys;
    const view = (s: Slot, length: number): Buffer => s.buf.subarray(0, length);
    return Object.assign(new Arena(slotSize, count), {
      no: 0,
      hash: async (slot: Slot, length: number) => {
        const b = view(slot, length);
        return isAllZero(b) ? undefined : chunkId(b, keys);
      },
      encode: async (slot: Slot, length: number, id: Buffer, to: Slot) =>
        encodeRecordParts(view(slot, length), id, keys, to.buf),
      decode: async (slot: Slot, length: number, id: Buffer, to: Slot) =>
        decodeRecord(view(slot, length), id, keys, to.buf).length,
      close: () => undefined,
    });
  }
  async close(): Promise<void> {}
}

/** A pool of `workers` threads, or inline work when 0. */
export function createCodec(workers: number, keys: CodecKeys): ChunkCodec {
  return workers > 0 ? new WorkerPool(workers, keys) : new InlineCodec(keys);
}
