/**
 * A worker thread of the chunk pool: hashes, compresses, encrypts and decodes
 * chunks so the main thread only reads, decides and writes. Keys arrive once,
 * in workerData; buffers travel transferred, not copied, where they can, and
 * arena slots (shared memory) are worked on in place.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { chunkId, decodeRecord, encodeRecordParts, isAllZero, type CodecKeys } from '../record.js';
import { Arena } from './arena.js';
import { prepareBlake3 } from '../../util/blake3.js';
import type { PoolRequest, PoolReply } from './protocol.js';

const keys = workerData as CodecKeys;
const port = parentPort!;
const arenas = new Map<number, { sab: SharedArrayBuffer; slotSize: number }>();
// Messages wait in the port's queue until the listener below is attached.
if (keys.idHash === 'blake3') await prepareBlake3(keys.idKey);

function owned(b: Uint8Array | undefined): ArrayBuffer[] {
  return b && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength
    ? [b.buffer as ArrayBuffer]
    : [];
}

function slotView(arena: number, slot: number, length: number): Buffer {
  const a = arenas.get(arena);
  if (!a) throw new Error(`unknown arena ${arena}`);
  if (length > a.slotSize) throw new Error(`${length} bytes do not fit a slot`);
  return Arena.view(a.sab, a.slotSize, slot, length);
}

function handle(req: PoolRequest): PoolReply | undefined {
  switch (req.op) {
    case 'arena':
      if (req.sab) arenas.set(req.arena, { sab: req.sab, slotSize: req.slotSize });
      else arenas.delete(req.arena);
      return undefined;
    case 'hashSlot': {
      const buf = slotView(req.arena, req.slot, req.length);
      return { seq: req.seq, ok: true, id: isAllZero(buf) ? undefined : chunkId(buf, keys) };
    }
    case 'encodeSlot': {
      const plain = slotView(req.arena, req.slot, req.length);
      const a = arenas.get(req.arena)!;
      const dst = slotView(req.arena, req.to, a.slotSize);
      const r = encodeRecordParts(plain, Buffer.from(req.id), keys, dst);
      return { seq: req.seq, ok: true, length: r.length, raw: r.payloadInPlain };
    }
    case 'decodeSlot': {
      const rec = slotView(req.arena, req.slot, req.length);
      const into = req.toArena ?? req.arena;
      const dst = slotView(into, req.to, arenas.get(into)!.slotSize);
      return {
        seq: req.seq,
        ok: true,
        length: decodeRecord(rec, Buffer.from(req.id), keys, dst).length,
      };
    }
    case 'decode': {
      const rec = Buffer.from(req.buf.buffer, req.buf.byteOffset, req.buf.byteLength);
      return { seq: req.seq, ok: true, out: decodeRecord(rec, Buffer.from(req.id), keys) };
    }
  }
}

port.on('message', (req: PoolRequest) => {
  let reply: PoolReply | undefined;
  try {
    reply = handle(req);
  } catch (err) {
    const e = err as Error & { code?: string; where?: unknown };
    reply = {
      seq: req.seq,
      ok: false,
      error: { message: e.message, code: e.code, where: e.where },
    };
  }
  if (reply) port.postMessage(reply, reply.ok ? owned(reply.out) : []);
});
