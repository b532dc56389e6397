/**
 * A worker thread of the chunk pool: hashes, compresses, encrypts and decodes
 * chunks so the main thread only reads, decides and writes. Keys arrive once,
 * in workerData; buffers travel transferred, not copied, where they can.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { chunkId, decodeRecord, encodeRecord, isAllZero, type CodecKeys } from '../record.js';
import { prepareBlake3 } from '../../util/blake3.js';
import type { PoolRequest, PoolReply } from './protocol.js';

const keys = workerData as CodecKeys;
const port = parentPort!;
// Messages wait in the port's queue until the listener below is attached.
if (keys.idHash === 'blake3') await prepareBlake3(keys.idKey);

function owned(b: Uint8Array): ArrayBuffer[] {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength
    ? [b.buffer as ArrayBuffer]
    : [];
}

port.on('message', (req: PoolRequest) => {
  let reply: PoolReply;
  try {
    const buf = Buffer.from(req.buf.buffer, req.buf.byteOffset, req.buf.byteLength);
    if (req.op === 'hash') {
      const zero = isAllZero(buf);
      reply = {
        seq: req.seq,
        ok: true,
        id: zero ? undefined : chunkId(buf, keys),
        out: req.buf,
      };
    } else if (req.op === 'encode') {
      const rec = encodeRecord(buf, Buffer.from(req.id!), keys);
      reply = { seq: req.seq, ok: true, out: rec };
    } else {
      const plain = decodeRecord(buf, Buffer.from(req.id!), keys);
      reply = { seq: req.seq, ok: true, out: plain };
    }
  } catch (err) {
    const e = err as Error & { code?: string; where?: unknown };
    reply = {
      seq: req.seq,
      ok: false,
      error: { message: e.message, code: e.code, where: e.where },
    };
  }
  port.postMessage(reply, reply.ok ? owned(reply.out) : []);
});
