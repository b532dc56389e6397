/**
 * A worker thread of the chunk pool: hashes, compresses, encrypts and decodes
 * chunks so the main thread only reads, decides and writes. Keys arrive once,
 * in workerData; buffers travel transferred, not copied, where they can, and
 * arena slots (shared memory) are worked on in place.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { chunkId, decodeRecord, encodeRecordParts, isAllZero, type CodecKeys } from '../record.js';
import { Arena } from './arena.js';
import { prepareBlake3 } from '../../util/blake3.js';
import type { PoolRequest, PoolReply } from './protocol.js';

const keys = workerData as CodecKeys;

/**
 * Node's AES-GCM (createCipheriv/createDecipheriv) returns every record's payload in a new
 * buffer. V8 frees such buffers only when the isolate's external memory grows past its limit
 * (tens of MiB) and the freed memory stays in the thread's malloc arena, so an encrypted
 * restore's memory grew with the disk: 215 MiB at 1 GiB, 259 MiB at 16 GiB. A young-generation
 * collection every 8 MiB of encrypted payload frees them while they are still young (4 GiB
 * encrypted restore: 235 -> 185 MiB; verify 226 -> 181 MiB). The flag exposes `gc` only to
 * contexts made after it, such as the one it is fetched from here; nothing else looks for it.
 */
const ENCRYPTED_BYTES_PER_GC = 8 * 1024 * 1024;
const collectYoung: (() => void) | undefined = keys.encKey
  ? (() => {
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as (o: { type: 'minor' }) => void;
      return () => gc({ type: 'minor' });
    })()
  : undefined;
let encryptedSinceGc = 0;

function countEncrypted(bytes: number): void {
  if (!collectYoung) return;
  encryptedSinceGc += bytes;
  if (encryptedSinceGc < ENCRYPTED_BYTES_PER_GC) return;
  encryptedSinceGc = 0;
  collectYoung();
}

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
  if (req.op === 'encodeSlot' || req.op === 'decodeSlot') countEncrypted(req.length);
  else if (req.op === 'decode') countEncrypted(req.buf.byteLength);
});
