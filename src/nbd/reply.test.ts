import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NBD_SIMPLE_REPLY_MAGIC, ReplyFlag, ReplyType } from './constants.js';
import { NbdClientError } from './errors.js';
import {
  parseBlockStatusChunk,
  parseErrorChunk,
  parseHoleChunk,
  ReplyDecoder,
  type ReplySink,
} from './reply.js';
import { structuredChunk } from './testing/index.js';
import { prng } from '../util/testing/index.js';

function simple(cookie: bigint, error: number, data?: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32BE(NBD_SIMPLE_REPLY_MAGIC, 0);
  h.writeUInt32BE(error, 4);
  h.writeBigUInt64BE(cookie, 8);
  return data ? Buffer.concat([h, data]) : h;
}

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

function dataChunk(cookie: bigint, offset: number, bytes: Buffer, flags = 0): Buffer {
  const p = Buffer.alloc(8 + bytes.length);
  p.writeBigUInt64BE(BigInt(offset));
  bytes.copy(p, 8);
  return structuredChunk(cookie, flags, ReplyType.OFFSET_DATA, p);
}

/** A sink that records what the decoder delivered; cookie 7 is a simple READ of 300 bytes. */
class Recorder implements ReplySink {
  events: unknown[] = [];
  private dests = new Map<number, Buffer>();

  simple(cookie: number, error: number): Buffer | undefined {
    this.events.push(['simple', cookie, error]);
    if (cookie === 7 && error === 0) {
      const b = Buffer.alloc(300);
      this.dests.set(cookie, b);
      return b;
    }
    return undefined;
  }
  simpleEnd(cookie: number): void {
    this.events.push(['simpleEnd', cookie, this.dests.get(cookie)!.toString('hex')]);
  }
  dataStart(cookie: number, flags: number, offset: number, length: number): Buffer | undefined {
    this.events.push(['dataStart', cookie, flags, offset, length]);
    if (cookie === 99) return undefined; // discarded
    const b = Buffer.alloc(length);
    this.dests.set(cookie, b);
    return b;
  }
  dataEnd(cookie: number, flags: number): void {
    const d = this.dests.get(cookie);
    this.events.push(['dataEnd', cookie, flags, d ? d.toString('hex') : null]);
  }
  chunk(cookie: number, flags: number, type: number, payload: Buffer): void {
    this.events.push(['chunk', cookie, flags, type, payload.toString('hex')]);
  }
}

const errorPayload = (errno: number, msg: string, offset?: number): Buffer => {
  const m = Buffer.from(msg);
  const p = Buffer.alloc(6 + m.length + (offset === undefined ? 0 : 8));
  p.writeUInt32BE(errno);
  p.writeUInt16BE(m.length, 4);
  m.copy(p, 6);
  if (offset !== undefined) p.writeBigUInt64BE(BigInt(offset), 6 + m.length);
  return p;
};

/** Replies of every kind back to back, as a server might interleave them. */
function sampleStream(): Buffer {
  const hole = Buffer.alloc(12);
  hole.writeBigUInt64BE(4096n);
  hole.writeUInt32BE(512, 8);
  const status = Buffer.alloc(4 + 16);
  status.writeUInt32BE(3);
  status.writeUInt32BE(65536, 4);
  status.writeUInt32BE(3, 8);
  status.writeUInt32BE(1 << 20, 12);
  status.writeUInt32BE(0, 16);
  return Buffer.concat([
    simple(1n, 0),
    simple(7n, 0, pattern(300, 1)),
    dataChunk(2n, 1000, pattern(700, 2)),
    structuredChunk(2n, 0, ReplyType.OFFSET_HOLE, hole),
    simple(5n, 22),
    structuredChunk(3n, ReplyFlag.DONE, ReplyType.BLOCK_STATUS, status),
    dataChunk(99n, 0, pattern(50, 3), ReplyFlag.DONE),
    structuredChunk(4n, ReplyFlag.DONE, ReplyType.ERROR, errorPayload(5, 'boom')),
    structuredChunk(6n, 0, ReplyType.ERROR_OFFSET, errorPayload(28, 'full', 8192)),
    dataChunk(2n, 1700, pattern(1, 4), ReplyFlag.DONE),
    structuredChunk(6n, ReplyFlag.DONE, ReplyType.NONE),
    structuredChunk(8n, ReplyFlag.DONE, 0x8000 + 77, errorPayload(95, 'future error')),
  ]);
}

function decodeAll(chunks: Buffer[]): unknown[] {
  const r = new Recorder();
  const d = new ReplyDecoder(r);
  for (const c of chunks) d.push(c);
  assert.ok(d.idle, 'decoder ends between messages');
  return r.events;
}

function isProtocolError(err: unknown): boolean {
  return err instanceof NbdClientError && err.code === 'NBD_PROTOCOL';
}

describe('ReplyDecoder', () => {
  const stream = sampleStream();
  const expected = decodeAll([stream]);

  test('decodes simple replies, read payloads and every structured chunk type', () => {
    assert.equal(expected.length, 16);
    assert.deepEqual(expected[0], ['simple', 1, 0]);
    assert.deepEqual(expected[2], ['simpleEnd', 7, pattern(300, 1).toString('hex')]);
    assert.deepEqual(expected[4], ['dataEnd', 2, 0, pattern(700, 2).toString('hex')]);
    assert.deepEqual(expected[6], ['simple', 5, 22]);
    assert.deepEqual(expected[9], ['dataEnd', 99, ReplyFlag.DONE, null]);
    assert.deepEqual(expected.at(-1), [
      'chunk',
      8,
      ReplyFlag.DONE,
      0x8000 + 77,
      errorPayload(95, 'future error').toString('hex'),
    ]);
  });

  test('gives the same result for a stream split at every byte boundary', () => {
    for (let cut = 1; cut < stream.length; cut++) {
      const got = decodeAll([stream.subarray(0, cut), stream.subarray(cut)]);
      assert.deepEqual(got, expected, `split at ${cut}`);
    }
  });

  test('gives the same result for a stream fed one byte at a time', () => {
    const bytes = [...stream].map((b) => Buffer.from([b]));
    assert.deepEqual(decodeAll(bytes), expected);
  });

  test('gives the same result for random chunkings', () => {
    const rand = prng(42);
    for (let round = 0; round < 300; round++) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < stream.length;) {
        const n = 1 + Math.floor(rand() * 64);
        chunks.push(stream.subarray(at, at + n));
        at += n;
      }
      assert.deepEqual(decodeAll(chunks), expected, `round ${round}`);
    }
  });

  test('does not keep the chunks it was fed (the transport reuses its buffer)', () => {
    const r = new Recorder();
    const d = new ReplyDecoder(r);
    const scratch = Buffer.alloc(stream.length);
    for (let at = 0; at < stream.length; at += 13) {
      const n = Math.min(13, stream.length - at);
      stream.copy(scratch, 0, at, at + n);
      d.push(scratch.subarray(0, n));
      scratch.fill(0xee);
    }
    assert.deepEqual(r.events, expected);
  });

  const malformed: [string, Buffer][] = [
    ['an unknown magic', Buffer.from('deadbeef00000000000000000000000000000000', 'hex')],
    ['NONE with a payload', structuredChunk(1n, ReplyFlag.DONE, ReplyType.NONE, Buffer.alloc(4))],
    ['NONE without DONE', structuredChunk(1n, 0, ReplyType.NONE)],
    ['a data chunk without data', structuredChunk(1n, 0, ReplyType.OFFSET_DATA, Buffer.alloc(8))],
    ['a hole chunk of 13 bytes', structuredChunk(1n, 0, ReplyType.OFFSET_HOLE, Buffer.alloc(13))],
    ['block status of 13 bytes', structuredChunk(1n, 0, ReplyType.BLOCK_STATUS, Buffer.alloc(13))],
    [
      'block status without descriptors',
      structuredChunk(1n, 0, ReplyType.BLOCK_STATUS, Buffer.alloc(4)),
    ],
    ['an unknown non-error type', structuredChunk(1n, ReplyFlag.DONE, 3, Buffer.alloc(8))],
    [
      'an error chunk of 5 bytes',
      structuredChunk(1n, ReplyFlag.DONE, ReplyType.ERROR, Buffer.alloc(5)),
    ],
  ];
  for (const [what, bytes] of malformed) {
    test(`rejects ${what} as a protocol error`, () => {
      const d = new ReplyDecoder(new Recorder());
      assert.throws(() => d.push(bytes), isProtocolError);
    });
  }

  test('rejects an impossible data length from the header alone', () => {
    const h = structuredChunk(1n, 0, ReplyType.OFFSET_DATA).subarray(0, 20);
    h.writeUInt32BE(0xfffffff0, 16);
    const d = new ReplyDecoder(new Recorder());
    assert.throws(() => d.push(h), isProtocolError);
  });
});

describe('chunk payload parsers', () => {
  test('parse error chunks with and without offsets', () => {
    assert.deepEqual(parseErrorChunk(ReplyType.ERROR, errorPayload(5, 'bad')), {
      error: 5,
      message: 'bad',
    });
    assert.deepEqual(parseErrorChunk(ReplyType.ERROR_OFFSET, errorPayload(28, 'x', 2 ** 40)), {
      error: 28,
      message: 'x',
      offset: 2 ** 40,
    });
  });

  test('reject a message longer than its chunk', () => {
    const p = errorPayload(5, 'abc');
    p.writeUInt16BE(10, 4);
    assert.throws(() => parseErrorChunk(ReplyType.ERROR, p), isProtocolError);
  });

  test('reject zero-length holes and descriptors', () => {
    assert.throws(() => parseHoleChunk(Buffer.alloc(12)), isProtocolError);
    assert.throws(() => parseBlockStatusChunk(Buffer.alloc(12)), isProtocolError);
  });
});
