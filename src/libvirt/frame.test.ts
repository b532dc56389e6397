import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeHeader,
  encodeFrame,
  FrameDecoder,
  FrameError,
  HEADER_SIZE,
  LEN_SIZE,
  MESSAGE_MAX,
  MessageStatus,
  MessageType,
  SEND_MESSAGE_MAX,
  type Frame,
  type Header,
} from './frame.js';
import { prng } from '../util/testing/index.js';

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

function isMalformedFrame(err: unknown): boolean {
  return err instanceof FrameError && err.code === 'RPC_MALFORMED_FRAME';
}

const CONNECT_OPEN_PAYLOAD = Buffer.concat([
  hex('00000001 0000000e'),
  Buffer.from('qemu:///system', 'latin1'),
  hex('0000 00000000'),
]);

function header(overrides: Partial<Header> = {}): Header {
  return {
    program: 0x20008086,
    version: 1,
    procedure: 1,
    type: MessageType.CALL,
    serial: 7,
    status: MessageStatus.OK,
    ...overrides,
  };
}

/** Several frames of assorted sizes and kinds, as a daemon might send them back to back. */
function sampleFrames(): Frame[] {
  const payload = (n: number, seed: number): Buffer => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
    return b;
  };
  return [
    { header: header(), payload: CONNECT_OPEN_PAYLOAD },
    { header: header({ type: MessageType.REPLY, serial: 1 }), payload: Buffer.alloc(0) },
    {
      header: header({ program: 0x6b656570, procedure: 1, type: MessageType.MESSAGE, serial: 0 }),
      payload: Buffer.alloc(0),
    },
    {
      header: header({ type: MessageType.STREAM, status: MessageStatus.CONTINUE, serial: 9 }),
      payload: payload(1000, 3),
    },
    { header: header({ procedure: 318, type: MessageType.MESSAGE }), payload: payload(5, 7) },
    {
      header: header({ type: MessageType.REPLY, status: MessageStatus.ERROR, serial: 0xffffffff }),
      payload: payload(3, 1),
    },
  ];
}

function wire(frames: Frame[]): Buffer {
  return Buffer.concat(frames.map((f) => encodeFrame(f.header, f.payload)));
}

function feed(decoder: FrameDecoder, chunks: Buffer[]): Frame[] {
  const out: Frame[] = [];
  for (const c of chunks) out.push(...decoder.push(c));
  return out;
}

function assertSameFrames(actual: Frame[], expected: Frame[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: frame count`);
  for (let i = 0; i < expected.length; i++) {
    assert.deepEqual(actual[i]!.header, expected[i]!.header, `${what}: header ${i}`);
    assert.deepEqual(
      Buffer.from(actual[i]!.payload),
      Buffer.from(expected[i]!.payload),
      `${what}: payload ${i}`,
    );
  }
}

describe('encodeFrame', () => {
  test('a CONNECT_OPEN call encodes as length, six header words, then the payload', () => {
    const frame = encodeFrame(header(), CONNECT_OPEN_PAYLOAD);
    const expected = Buffer.concat([
      hex('00000038'), // 4 + 24 + 28 = 56
      hex('20008086'), // program REMOTE
      hex('00000001'), // version
      hex('00000001'), // procedure CONNECT_OPEN
      hex('00000000'), // type CALL
      hex('00000007'), // serial
      hex('00000000'), // status OK
      CONNECT_OPEN_PAYLOAD,
    ]);
    assert.deepEqual(frame, expected);
  });

  test('a frame without payload is exactly the 28-byte length and header', () => {
    const frame = encodeFrame({
      program: 0x6b656570,
      version: 1,
      procedure: 2,
      type: MessageType.MESSAGE,
      serial: 0,
      status: MessageStatus.OK,
    });
    assert.deepEqual(frame, hex('0000001c 6b656570 00000001 00000002 00000002 00000000 00000000'));
    assert.equal(frame.length, LEN_SIZE + HEADER_SIZE);
  });

  test('the largest serial and an error status encode unsigned and signed as on the wire', () => {
    const frame = encodeFrame(
      header({ type: MessageType.REPLY, serial: 0xffffffff, status: MessageStatus.ERROR }),
    );
    assert.deepEqual(frame.subarray(16, 28), hex('00000001 ffffffff 00000001'));
  });

  test('decodeHeader reads back what encodeFrame wrote', () => {
    const h = header({ procedure: 326, type: MessageType.STREAM_HOLE, serial: 123456, status: 2 });
    assert.deepEqual(decodeHeader(encodeFrame(h).subarray(LEN_SIZE)), h);
  });

  test('a message over the sending limit refuses to encode', () => {
    const limit = SEND_MESSAGE_MAX - HEADER_SIZE;
    assert.equal(encodeFrame(header(), Buffer.alloc(limit)).length, SEND_MESSAGE_MAX + LEN_SIZE);
    assert.throws(() => encodeFrame(header(), Buffer.alloc(limit + 1)), isMalformedFrame);
  });
});

describe('FrameDecoder', () => {
  test('a stream of several frames pushed whole decodes to the same frames', () => {
    const frames = sampleFrames();
    const d = new FrameDecoder();
    assertSameFrames(d.push(wire(frames)), frames, 'whole');
    assert.equal(d.pending, 0);
  });

  test('a stream of several frames split at every byte boundary decodes to the same frames', () => {
    const frames = sampleFrames();
    const bytes = wire(frames);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const d = new FrameDecoder();
      const out = feed(d, [bytes.subarray(0, cut), bytes.subarray(cut)]);
      assertSameFrames(out, frames, `split at ${cut}`);
      assert.equal(d.pending, 0);
    }
  });

  test('a stream fed one byte at a time decodes to the same frames', () => {
    const frames = sampleFrames();
    const bytes = wire(frames);
    const d = new FrameDecoder();
    const out: Frame[] = [];
    for (let i = 0; i < bytes.length; i++) out.push(...d.push(bytes.subarray(i, i + 1)));
    assertSameFrames(out, frames, 'byte by byte');
    assert.equal(d.pending, 0);
  });

  test('a stream cut into random chunks, empty ones included, decodes to the same frames', () => {
    const frames = sampleFrames();
    const bytes = wire(frames);
    const rand = prng(42);
    for (let round = 0; round < 300; round++) {
      const chunks: Buffer[] = [];
      let off = 0;
      const maxChunk = 1 + Math.floor(rand() * 64);
      while (off < bytes.length) {
        const n = Math.floor(rand() * (maxChunk + 1)); // 0 included
        chunks.push(bytes.subarray(off, Math.min(off + n, bytes.length)));
        off += n;
      }
      const d = new FrameDecoder();
      assertSameFrames(feed(d, chunks), frames, `round ${round}`);
      assert.equal(d.pending, 0);
    }
  });

  test('pending counts the bytes of a frame not yet complete', () => {
    const frames = sampleFrames();
    const first = encodeFrame(frames[0]!.header, frames[0]!.payload);
    const second = encodeFrame(frames[3]!.header, frames[3]!.payload);
    const d = new FrameDecoder();
    assert.equal(d.pending, 0);
    assert.deepEqual(d.push(first.subarray(0, 3)), []);
    assert.equal(d.pending, 3);
    assert.deepEqual(d.push(first.subarray(3, 30)), []);
    assert.equal(d.pending, 30);
    const out = d.push(Buffer.concat([first.subarray(30), second.subarray(0, 10)]));
    assert.equal(out.length, 1);
    assert.equal(d.pending, 10);
    assert.equal(d.push(second.subarray(10)).length, 1);
    assert.equal(d.pending, 0);
  });

  test('a length shorter than the header is a malformed frame', () => {
    for (const length of [0, 1, 4, 27]) {
      const d = new FrameDecoder();
      const bytes = Buffer.alloc(28);
      bytes.writeUInt32BE(length, 0);
      assert.throws(() => d.push(bytes), isMalformedFrame, `length ${length}`);
    }
  });

  test('the smallest valid length (28, no payload) decodes', () => {
    const d = new FrameDecoder();
    const out = d.push(encodeFrame(header()));
    assert.equal(out.length, 1);
    assert.equal(out[0]!.payload.length, 0);
  });

  test('a length over MESSAGE_MAX + 4 is malformed as soon as the length word arrives', () => {
    for (const length of [MESSAGE_MAX + LEN_SIZE + 1, 0x7fffffff, 0xffffffff]) {
      const d = new FrameDecoder();
      const word = Buffer.alloc(4);
      word.writeUInt32BE(length, 0);
      assert.throws(() => d.push(word), isMalformedFrame, `length ${length}`);
    }
  });

  test('a bad length split across chunks is detected once its fourth byte arrives', () => {
    const d = new FrameDecoder();
    assert.deepEqual(d.push(hex('00')), []);
    assert.deepEqual(d.push(hex('0000')), []);
    assert.throws(() => d.push(hex('05')), isMalformedFrame);
  });

  test('a length of exactly MESSAGE_MAX + 4 is accepted and waits for its bytes', () => {
    const d = new FrameDecoder();
    const word = Buffer.alloc(LEN_SIZE + HEADER_SIZE);
    word.writeUInt32BE(MESSAGE_MAX + LEN_SIZE, 0);
    assert.deepEqual(d.push(word), []);
    assert.equal(d.pending, LEN_SIZE + HEADER_SIZE);
  });

  test('a bad length after good frames still yields an error, not a skipped frame', () => {
    const d = new FrameDecoder();
    const good = encodeFrame(header());
    assert.equal(d.push(good).length, 1);
    assert.throws(() => d.push(Buffer.concat([good, hex('00000010 00000000')])), isMalformedFrame);
  });
});
