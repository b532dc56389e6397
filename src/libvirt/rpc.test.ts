import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Duplex, PassThrough } from 'node:stream';
import { RpcClient, type RpcOptions } from './rpc.js';
import {
  encodeFrame,
  FrameDecoder,
  MessageStatus,
  MessageType,
  STREAM_CHUNK_MAX,
  type Frame,
  type Header,
} from './frame.js';
import { KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, QEMU_PROGRAM } from './procedures.js';
import { encode, hyper, uint } from './xdr.js';
import { remoteError } from './types.js';
import { LibvirtClientError, LibvirtError } from './errors.js';
import type { StreamItem, RpcStream } from './stream.js';
import { HANG_MS, prng, socketPair } from '../util/testing/index.js';

const PROGRAM = 0x20008086;
const VERSION = 1;
const LOOKUP = 23; // DOMAIN_LOOKUP_BY_NAME
const UPLOAD = 208; // STORAGE_VOL_UPLOAD
const DOWNLOAD = 209; // STORAGE_VOL_DOWNLOAD
const LIFECYCLE = 318; // DOMAIN_EVENT_CALLBACK_LIFECYCLE
const EMPTY = Buffer.alloc(0);

/** Rejects if `p` has not settled within `ms`; the timer keeps the event loop alive meanwhile. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves with how a promise settled, without ever leaving a rejection unhandled. */
function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** `p`, checked to have settled before the next turn of the event loop: "at once", whatever the speed. */
async function atOnce<T>(p: Promise<T>): Promise<T> {
  const t = track(p);
  await new Promise((r) => setImmediate(r));
  assert.equal(t.settled, true, 'settled at once');
  return t.result;
}

/** Tracks whether a promise settled yet, handling its rejection. */
function track<T>(p: Promise<T>): { settled: boolean; result: Promise<T> } {
  const state = { settled: false, result: p };
  p.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
}

function hasCode(code: string, causeCode?: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof Error, `expected an Error, got ${String(err)}`);
    assert.equal((err as { code?: unknown }).code, code, (err as Error).message);
    if (causeCode !== undefined) {
      assert.equal((err.cause as { code?: unknown } | undefined)?.code, causeCode);
    }
    return true;
  };
}

/** The daemon's side of the connection, driven by the test. */
class Peer {
  private readonly decoder = new FrameDecoder();
  private readonly received: Frame[] = [];
  private wake: (() => void) | undefined;
  /** Every PING received (the peer answers them only when `answerPings` is set). */
  pings = 0;
  answerPings = false;

  constructor(readonly socket: Duplex) {
    socket.on('data', (chunk: Buffer) => {
      for (const f of this.decoder.push(chunk)) {
        if (f.header.program === KEEPALIVE_PROGRAM && f.header.procedure === 1) {
          this.pings++;
          if (this.answerPings) this.send({ ...f.header, procedure: 2 });
          continue;
        }
        this.received.push(f);
      }
      const w = this.wake;
      this.wake = undefined;
      w?.();
    });
    socket.on('error', () => undefined);
  }

  /** The next frame the client sent. */
  async next(ms = HANG_MS): Promise<Frame> {
    const deadline = Date.now() + ms;
    while (this.received.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('the client sent nothing');
      await within(new Promise<void>((r) => (this.wake = r)), left, 'waiting for a frame');
    }
    return this.received.shift()!;
  }

  async nextN(n: number): Promise<Frame[]> {
    const out: Frame[] = [];
    for (let i = 0; i < n; i++) out.push(await this.next());
    return out;
  }

  get queued(): number {
    return this.received.length;
  }

  send(header: Header, payload: Uint8Array = EMPTY): void {
    this.socket.write(encodeFrame(header, payload));
  }

  reply(call: Frame, payload: Uint8Array = EMPTY, status: number = MessageStatus.OK): void {
    this.send({ ...call.header, type: MessageType.REPLY, status }, payload);
  }

  stream(call: Frame, status: number, payload: Uint8Array = EMPTY): void {
    this.send({ ...call.header, type: MessageType.STREAM, status }, payload);
  }

  raw(bytes: Buffer): void {
    this.socket.write(bytes);
  }
}

function setup(t: TestContext, options: RpcOptions = {}): { client: RpcClient; peer: Peer } {
  const [a, b] = socketPair();
  const client = new RpcClient(a, { callTimeoutMs: 0, ...options });
  const peer = new Peer(b);
  t.after(() => {
    client.destroy();
    b.destroy();
  });
  return { client, peer };
}

function errorPayload(code: number, message: string | null, domain = 10): Buffer {
  return encode(remoteError, {
    code,
    domain,
    message,
    level: 2,
    dom: null,
    str1: null,
    str2: null,
    str3: null,
    int1: -1,
    int2: -1,
    net: null,
  });
}

function u32(n: number): Buffer {
  return encode(uint, n);
}

async function collect(stream: RpcStream, ms = HANG_MS): Promise<StreamItem[]> {
  const items: StreamItem[] = [];
  await within(
    (async () => {
      for await (const item of stream) items.push(item);
    })(),
    ms,
    'reading the stream',
  );
  return items;
}

describe('RpcClient calls', () => {
  test('a call goes out as a CALL frame with program, version, procedure, serial and payload', async (t) => {
    const { client, peer } = setup(t);
    const reply = client.call(PROGRAM, VERSION, LOOKUP, u32(5));
    const f = await peer.next();
    assert.deepEqual(f.header, {
      program: PROGRAM,
      version: VERSION,
      procedure: LOOKUP,
      type: MessageType.CALL,
      serial: f.header.serial,
      status: MessageStatus.OK,
    });
    assert.deepEqual(Buffer.from(f.payload), u32(5));
    peer.reply(f, u32(6));
    assert.deepEqual(await within(reply, HANG_MS, 'reply'), u32(6));
  });

  test('each call gets a fresh serial', async (t) => {
    const { client, peer } = setup(t);
    const replies = [1, 2, 3].map(() => client.call(PROGRAM, VERSION, LOOKUP, EMPTY));
    const frames = await peer.nextN(3);
    const serials = frames.map((f) => f.header.serial);
    assert.equal(new Set(serials).size, 3);
    for (const f of frames) peer.reply(f);
    await within(Promise.all(replies), HANG_MS, 'replies');
  });

  test('replies are matched to calls by serial even when they arrive out of order', async (t) => {
    const { client, peer } = setup(t);
    const replies = [0, 1, 2].map((i) => client.call(PROGRAM, VERSION, LOOKUP, u32(i)));
    const frames = await peer.nextN(3);
    // Answer in the order 2, 0, 1, each reply echoing its call's argument.
    for (const i of [2, 0, 1]) peer.reply(frames[i]!, Buffer.from(frames[i]!.payload));
    const values = await within(Promise.all(replies), HANG_MS, 'replies');
    assert.deepEqual(values, [u32(0), u32(1), u32(2)]);
  });

  test('many concurrent calls resolve with their own replies, whatever the order and chunking', async (t) => {
    const { client, peer } = setup(t);
    const n = 300;
    const replies = Array.from({ length: n }, (_, i) =>
      client.call(PROGRAM, VERSION, LOOKUP, u32(i)),
    );
    const frames = await peer.nextN(n);
    const rand = prng(9);
    // Shuffle, then send all replies as one byte stream cut at random places.
    for (let i = frames.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [frames[i], frames[j]] = [frames[j]!, frames[i]!];
    }
    const bytes = Buffer.concat(
      frames.map((f) =>
        encodeFrame(
          { ...f.header, type: MessageType.REPLY, status: MessageStatus.OK },
          Buffer.concat([f.payload, u32(f.header.serial)]),
        ),
      ),
    );
    for (let off = 0; off < bytes.length;) {
      const size = 1 + Math.floor(rand() * 100);
      peer.raw(bytes.subarray(off, off + size));
      off += size;
    }
    const values = await within(Promise.all(replies), HANG_MS, 'replies');
    for (let i = 0; i < n; i++) assert.equal(values[i]!.readUInt32BE(0), i);
  });

  test('an error reply rejects with a LibvirtError carrying the libvirt code and message', async (t) => {
    const { client, peer } = setup(t);
    const reply = settle(
      client.call(PROGRAM, VERSION, LOOKUP, EMPTY, { name: 'DOMAIN_LOOKUP_BY_NAME' }),
    );
    const f = await peer.next();
    const message = "Domain not found: no domain with matching name 'vm1'";
    peer.reply(f, errorPayload(42, message), MessageStatus.ERROR);
    const r = await within(reply, HANG_MS, 'reply');
    assert.equal(r.ok, false);
    const err = (r as { error: unknown }).error;
    assert.ok(err instanceof LibvirtError);
    assert.equal(err.code, 'LIBVIRT_NO_DOMAIN');
    assert.equal(err.message, message);
    assert.equal(err.libvirtCode, 42);
    assert.equal(err.libvirtDomain, 10);
    assert.equal(err.procedure, 'DOMAIN_LOOKUP_BY_NAME');
    // The connection stays usable.
    assert.equal(client.closed, false);
    const next = client.call(PROGRAM, VERSION, LOOKUP, EMPTY);
    peer.reply(await peer.next());
    await within(next, HANG_MS, 'next call');
  });

  test('an error reply whose remote_error payload is malformed still settles the call', async (t) => {
    const { client, peer } = setup(t);
    const reply = client.call(PROGRAM, VERSION, LOOKUP, EMPTY, { timeoutMs: 5000 });
    const f = await peer.next();
    peer.reply(f, Buffer.from('00000001', 'hex'), MessageStatus.ERROR);
    await assert.rejects(within(reply, 300, 'the call'), (err: unknown) => {
      assert.notEqual((err as Error).message, 'the call: still pending after 300 ms');
      return true;
    });
  });

  test('a reply with an unknown status rejects the call with LIBVIRT_PROTOCOL', async (t) => {
    const { client, peer } = setup(t);
    const reply = client.call(PROGRAM, VERSION, LOOKUP, EMPTY);
    peer.reply(await peer.next(), EMPTY, 7);
    await assert.rejects(within(reply, HANG_MS, 'reply'), hasCode('LIBVIRT_PROTOCOL'));
  });

  test('a call with timeoutMs rejects with LIBVIRT_TIMEOUT and a late reply afterwards is ignored', async (t) => {
    const { client, peer } = setup(t);
    const started = Date.now();
    const late = client.call(PROGRAM, VERSION, LOOKUP, EMPTY, { timeoutMs: 30, name: 'SLOW' });
    // On a loaded machine the timeout may fire before the peer has even read the call:
    // observe the rejection at once so it is never unhandled.
    late.catch(() => undefined);
    const f = await peer.next();
    await assert.rejects(within(late, HANG_MS, 'timeout'), (err: unknown) => {
      assert.ok(err instanceof LibvirtClientError);
      assert.equal(err.code, 'LIBVIRT_TIMEOUT');
      assert.match(err.message, /SLOW/);
      return true;
    });
    assert.ok(Date.now() - started >= 25, 'the timeout fired early');
    // The late reply is dropped; the connection is still good for the next call.
    const next = client.call(PROGRAM, VERSION, LOOKUP, EMPTY);
    const g = await peer.next();
    peer.reply(f, u32(1));
    peer.reply(g, u32(2));
    assert.deepEqual(await within(next, HANG_MS, 'next call'), u32(2));
    assert.equal(client.closed, false);
  });

  test('the client-wide callTimeoutMs applies to calls without their own timeout', async (t) => {
    const { client, peer } = setup(t, { callTimeoutMs: 20 });
    const reply = client.call(PROGRAM, VERSION, LOOKUP, EMPTY);
    reply.catch(() => undefined); // may time out before the peer reads the call
    await peer.next();
    await assert.rejects(within(reply, HANG_MS, 'timeout'), hasCode('LIBVIRT_TIMEOUT'));
  });

  test('a call whose reply arrives in time leaves no timer behind', async (t) => {
    const { client, peer } = setup(t);
    const reply = client.call(PROGRAM, VERSION, LOOKUP, EMPTY, { timeoutMs: 60_000 });
    peer.reply(await peer.next());
    await within(reply, HANG_MS, 'reply');
    // If the 60 s timer were still armed, the test process would not exit promptly.
  });
});

describe('RpcClient connection end', () => {
  test('when the peer closes, every pending call rejects with LIBVIRT_CONNECTION_CLOSED and later calls reject at once', async (t) => {
    const { client, peer } = setup(t);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    t.after(() => process.off('unhandledRejection', onUnhandled));

    const closed = once(client, 'close');
    const calls = [1, 2, 3].map(() => client.call(PROGRAM, VERSION, LOOKUP, EMPTY));
    await peer.nextN(3);
    peer.socket.end();
    for (const c of calls) {
      await assert.rejects(
        within(c, HANG_MS, 'pending call'),
        hasCode('LIBVIRT_CONNECTION_CLOSED'),
      );
    }
    const [reason] = (await within(closed, HANG_MS, 'close event')) as [Error];
    assert.equal((reason as LibvirtClientError).code, 'LIBVIRT_CONNECTION_CLOSED');
    assert.equal(client.closed, true);

    await assert.rejects(
      atOnce(client.call(PROGRAM, VERSION, LOOKUP, EMPTY)),
      hasCode('LIBVIRT_CONNECTION_CLOSED'),
    );
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(unhandled, []);
  });

  test('when the peer closes a real unix socket, pending calls reject and nothing stays open', async (t) => {
    const sockPath = path.join(os.tmpdir(), `brankas-rpc-${process.pid}-${Date.now()}.sock`);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(sockPath, resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const socket = net.createConnection(sockPath);
    await once(socket, 'connect');
    const [serverSide] = await accepted;
    const client = new RpcClient(socket, { callTimeoutMs: 0 });
    t.after(() => client.destroy());
    const peer = new Peer(serverSide);

    const calls = [1, 2].map(() => client.call(PROGRAM, VERSION, LOOKUP, EMPTY));
    const frames = await peer.nextN(2);
    peer.reply(frames[0]!, u32(1));
    assert.deepEqual(await within(calls[0]!, HANG_MS, 'first call'), u32(1));
    serverSide.destroy();
    await assert.rejects(
      within(calls[1]!, HANG_MS, 'second call'),
      hasCode('LIBVIRT_CONNECTION_CLOSED'),
    );
    await assert.rejects(
      atOnce(client.call(PROGRAM, VERSION, LOOKUP, EMPTY)),
      hasCode('LIBVIRT_CONNECTION_CLOSED'),
    );
    assert.equal(socket.destroyed, true);
  });

  test('when the peer ends a half-open duplex (Duplex.from of two streams), pending calls reject', async (t) => {
    const incoming = new PassThrough();
    const outgoing = new PassThrough();
    outgoing.resume();
    const client = new RpcClient(Duplex.from({ readable: incoming, writable: outgoing }), {
      callTimeoutMs: 0,
    });
    t.after(() => client.destroy());
    const reply = client.call(PROGRAM, VERSION, LOOKUP, EMPTY);
    incoming.end();
    await assert.rejects(within(reply, 300, 'pending call'), hasCode('LIBVIRT_CONNECTION_CLOSED'));
  });

  test('close() ends the connection and rejects pending calls', async (t) => {
    const { client, peer } = setup(t);
    const reply = client.call(PROGRAM, VERSION, LOOKUP, EMPTY);
    await peer.next();
    const peerClosed = once(peer.socket, 'close');
    client.close();
    await assert.rejects(
      within(reply, HANG_MS, 'pending call'),
      hasCode('LIBVIRT_CONNECTION_CLOSED'),
    );
    await within(peerClosed, HANG_MS, 'peer sees the close');
    client.close(); // idempotent
  });

  test('a frame with a bad length destroys the connection and rejects pending calls', async (t) => {
    for (const bad of ['00000005', '7fffffff']) {
      const { client, peer } = setup(t);
      const reply = client.call(PROGRAM, VERSION, LOOKUP, EMPTY);
      await peer.next();
      const peerClosed = once(peer.socket, 'close');
      peer.raw(Buffer.from(`${bad}00000000000000000000000000000000`, 'hex'));
      await assert.rejects(
        within(reply, HANG_MS, 'pending call'),
        hasCode('LIBVIRT_CONNECTION_CLOSED', 'RPC_MALFORMED_FRAME'),
      );
      assert.equal(client.closed, true);
      await within(peerClosed, HANG_MS, 'the socket is closed');
    }
  });

  test('a frame of an unexpected type from the daemon destroys the connection', async (t) => {
    const { client, peer } = setup(t);
    const reply = client.call(PROGRAM, VERSION, LOOKUP, EMPTY);
    const f = await peer.next();
    peer.send({ ...f.header, type: MessageType.CALL });
    await assert.rejects(
      within(reply, HANG_MS, 'pending call'),
      hasCode('LIBVIRT_CONNECTION_CLOSED', 'LIBVIRT_PROTOCOL'),
    );
    assert.equal(client.closed, true);
  });
});

describe('RpcClient messages and keepalive', () => {
  test('a MESSAGE frame is routed to the handler of its program and procedure, not by serial', async (t) => {
    const { client, peer } = setup(t);
    const got: Buffer[] = [];
    const other: Buffer[] = [];
    const unsubscribe = client.onMessage(PROGRAM, LIFECYCLE, (p) => got.push(Buffer.from(p)));
    client.onMessage(PROGRAM, LIFECYCLE + 1, (p) => other.push(p));
    client.onMessage(QEMU_PROGRAM, LIFECYCLE, (p) => other.push(p));

    const pending = track(client.call(PROGRAM, VERSION, LOOKUP, EMPTY));
    const f = await peer.next();
    // An event that happens to carry the pending call's serial.
    peer.send(
      { ...f.header, procedure: LIFECYCLE, type: MessageType.MESSAGE, status: MessageStatus.OK },
      u32(77),
    );
    const deadline = Date.now() + HANG_MS;
    while (got.length === 0 && Date.now() < deadline) await sleep(2);
    assert.deepEqual(got, [u32(77)]);
    assert.deepEqual(other, []);
    assert.equal(pending.settled, false, 'the event must not answer the call');

    peer.reply(f, u32(1));
    assert.deepEqual(await within(pending.result, HANG_MS, 'call'), u32(1));

    unsubscribe();
    peer.send({ ...f.header, procedure: LIFECYCLE, type: MessageType.MESSAGE, serial: 0 }, u32(78));
    // A round trip proves the message above was processed.
    const probe = client.call(PROGRAM, VERSION, LOOKUP, EMPTY);
    peer.reply(await peer.next());
    await within(probe, HANG_MS, 'probe');
    assert.deepEqual(got, [u32(77)]);
  });

  test('several handlers of one event all receive it', async (t) => {
    const { client, peer } = setup(t);
    let a = 0;
    let b = 0;
    client.onMessage(PROGRAM, LIFECYCLE, () => a++);
    client.onMessage(PROGRAM, LIFECYCLE, () => b++);
    peer.send({
      program: PROGRAM,
      version: VERSION,
      procedure: LIFECYCLE,
      type: MessageType.MESSAGE,
      serial: 0,
      status: MessageStatus.OK,
    });
    const deadline = Date.now() + HANG_MS;
    while ((a === 0 || b === 0) && Date.now() < deadline) await sleep(2);
    assert.deepEqual([a, b], [1, 1]);
  });

  test('a keepalive PING from the peer is answered with a PONG', async (t) => {
    const { client, peer } = setup(t);
    const pending = track(client.call(PROGRAM, VERSION, LOOKUP, EMPTY));
    const call = await peer.next();
    peer.send({
      program: KEEPALIVE_PROGRAM,
      version: KEEPALIVE_VERSION,
      procedure: 1,
      type: MessageType.MESSAGE,
      serial: 0,
      status: MessageStatus.OK,
    });
    const pong = await peer.next();
    assert.deepEqual(pong.header, {
      program: 0x6b656570,
      version: 1,
      procedure: 2,
      type: MessageType.MESSAGE,
      serial: 0,
      status: MessageStatus.OK,
    });
    assert.equal(pong.payload.length, 0);
    assert.equal(pending.settled, false);
    peer.reply(call);
    await within(pending.result, HANG_MS, 'call');
  });

  test('startKeepalive with a silent peer destroys the connection with LIBVIRT_KEEPALIVE_TIMEOUT after count pings', async (t) => {
    const { client, peer } = setup(t);
    const closed = once(client, 'close');
    const reply = client.call(PROGRAM, VERSION, LOOKUP, EMPTY);
    await peer.next();
    const started = Date.now();
    client.startKeepalive(20, 3);
    const [reason] = (await within(closed, HANG_MS, 'keepalive close')) as [Error];
    assert.equal((reason as LibvirtClientError).code, 'LIBVIRT_KEEPALIVE_TIMEOUT');
    assert.ok(Date.now() - started >= 60, 'declared dead before 3 intervals');
    assert.equal(client.closed, true);
    await assert.rejects(
      within(reply, HANG_MS, 'pending call'),
      hasCode('LIBVIRT_CONNECTION_CLOSED', 'LIBVIRT_KEEPALIVE_TIMEOUT'),
    );
    await sleep(5);
    assert.equal(peer.pings, 3);
  });

  test('keepalive pings that get answers keep the connection open', async (t) => {
    // Declared dead only after 5 unanswered pings: the peer answers each within a turn of the
    // event loop, and a turn passes between two pings however late the timers fire.
    const { client, peer } = setup(t, { keepaliveIntervalMs: 10, keepaliveCount: 5 });
    peer.answerPings = true;
    const deadline = Date.now() + HANG_MS;
    while (peer.pings < 10 && !client.closed && Date.now() < deadline) await sleep(10);
    assert.equal(client.closed, false);
    assert.ok(peer.pings >= 10, `only ${peer.pings} pings`);
    const reply = client.call(PROGRAM, VERSION, LOOKUP, EMPTY);
    peer.reply(await peer.next());
    await within(reply, HANG_MS, 'call');
  });
});

describe('RpcClient streams', () => {
  test('a download stream delivers STREAM CONTINUE data and holes, and ends on an empty CONTINUE, through for await', async (t) => {
    const { client, peer } = setup(t);
    const { reply, stream } = client.callStream(PROGRAM, VERSION, DOWNLOAD, u32(0), {
      name: 'STORAGE_VOL_DOWNLOAD',
    });
    const call = await peer.next();
    assert.equal(call.header.procedure, DOWNLOAD);
    peer.reply(call);
    await within(reply, HANG_MS, 'reply');
    peer.stream(call, MessageStatus.CONTINUE, Buffer.from('abc'));
    peer.stream(call, MessageStatus.CONTINUE, Buffer.from('defg'));
    peer.send(
      { ...call.header, type: MessageType.STREAM_HOLE, status: MessageStatus.CONTINUE },
      Buffer.concat([encode(hyper, 4096n), u32(0)]),
    );
    peer.stream(call, MessageStatus.CONTINUE, Buffer.from('h'));
    // libvirtd ends a download with an empty CONTINUE (not with OK).
    peer.stream(call, MessageStatus.CONTINUE, EMPTY);
    const items = await collect(stream);
    assert.deepEqual(items, [
      { kind: 'data', data: Buffer.from('abc') },
      { kind: 'data', data: Buffer.from('defg') },
      { kind: 'hole', length: 4096n },
      { kind: 'data', data: Buffer.from('h') },
    ]);

    // finish() completes the handshake: our STREAM OK, the daemon's STREAM OK.
    const finished = stream.finish();
    const fin = await peer.next();
    assert.equal(fin.header.type, MessageType.STREAM);
    assert.equal(fin.header.status, MessageStatus.OK);
    assert.equal(fin.header.serial, call.header.serial);
    assert.equal(fin.payload.length, 0);
    peer.stream(call, MessageStatus.OK);
    await within(finished, HANG_MS, 'finish');
  });

  test('an upload stream splits writes into packets of at most 256 KiB and finish() resolves on the peer’s OK', async (t) => {
    const { client, peer } = setup(t);
    const { reply, stream } = client.callStream(PROGRAM, VERSION, UPLOAD, u32(0));
    const call = await peer.next();
    peer.reply(call);
    await within(reply, HANG_MS, 'reply');

    const data = Buffer.alloc(2 * STREAM_CHUNK_MAX + 1000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    stream.write(data);
    stream.write(Buffer.from('tail'));
    const packets = await peer.nextN(4);
    assert.deepEqual(
      packets.map((p) => p.payload.length),
      [STREAM_CHUNK_MAX, STREAM_CHUNK_MAX, 1000, 4],
    );
    for (const p of packets) {
      assert.equal(p.header.type, MessageType.STREAM);
      assert.equal(p.header.status, MessageStatus.CONTINUE);
      assert.equal(p.header.serial, call.header.serial);
      assert.equal(p.header.procedure, UPLOAD);
    }
    assert.deepEqual(
      Buffer.concat(packets.map((p) => p.payload)),
      Buffer.concat([data, Buffer.from('tail')]),
    );

    const finished = track(stream.finish());
    const fin = await peer.next();
    assert.equal(fin.header.type, MessageType.STREAM);
    assert.equal(fin.header.status, MessageStatus.OK);
    assert.equal(fin.payload.length, 0);
    await sleep(5);
    assert.equal(finished.settled, false, 'finish() must wait for the daemon');
    peer.stream(call, MessageStatus.OK);
    await within(finished.result, HANG_MS, 'finish');
  });

  test('a stream gets the error of an ERROR stream frame', async (t) => {
    const { client, peer } = setup(t);
    const { reply, stream } = client.callStream(PROGRAM, VERSION, DOWNLOAD, EMPTY, {
      name: 'STORAGE_VOL_DOWNLOAD',
    });
    const call = await peer.next();
    peer.reply(call);
    await within(reply, HANG_MS, 'reply');
    peer.stream(call, MessageStatus.CONTINUE, Buffer.from('x'));
    peer.stream(
      call,
      MessageStatus.ERROR,
      errorPayload(38, 'cannot read /var/lib/x.qcow2: Input/output error', 18),
    );
    const items: StreamItem[] = [];
    const isIoError = (err: unknown): boolean => {
      assert.ok(err instanceof LibvirtError);
      assert.equal(err.code, 'LIBVIRT_SYSTEM_ERROR');
      assert.match(err.message, /Input\/output error/);
      assert.equal(err.procedure, 'STORAGE_VOL_DOWNLOAD');
      return true;
    };
    await assert.rejects(
      within(
        (async () => {
          for await (const item of stream) items.push(item);
        })(),
        HANG_MS,
        'reading the stream',
      ),
      isIoError,
    );
    assert.deepEqual(items, [{ kind: 'data', data: Buffer.from('x') }]);
    await assert.rejects(stream.finish(), isIoError);
    assert.throws(() => stream.write(Buffer.from('y')), isIoError);
  });

  test('an error reply to the stream-opening call fails the stream too', async (t) => {
    const { client, peer } = setup(t);
    const { reply, stream } = client.callStream(PROGRAM, VERSION, DOWNLOAD, EMPTY);
    const call = await peer.next();
    peer.reply(call, errorPayload(50, 'Storage volume not found'), MessageStatus.ERROR);
    await assert.rejects(within(reply, HANG_MS, 'reply'), hasCode('LIBVIRT_NO_STORAGE_VOL'));
    await assert.rejects(collect(stream), hasCode('LIBVIRT_NO_STORAGE_VOL'));
  });

  test('a stream whose connection closes mid-transfer ends with LIBVIRT_CONNECTION_CLOSED', async (t) => {
    const { client, peer } = setup(t);
    const { reply, stream } = client.callStream(PROGRAM, VERSION, DOWNLOAD, EMPTY);
    const call = await peer.next();
    peer.reply(call);
    await within(reply, HANG_MS, 'reply');
    peer.stream(call, MessageStatus.CONTINUE, Buffer.from('partial'));
    const reading = settle(collect(stream));
    await sleep(5);
    peer.socket.destroy();
    const r = await reading;
    assert.equal(r.ok, false);
    hasCode('LIBVIRT_CONNECTION_CLOSED')((r as { error: unknown }).error);
    await assert.rejects(stream.finish(), hasCode('LIBVIRT_CONNECTION_CLOSED'));
  });

  test('abort() sends a STREAM ERROR to the daemon and fails the stream locally', async (t) => {
    const { client, peer } = setup(t);
    const { reply, stream } = client.callStream(PROGRAM, VERSION, UPLOAD, EMPTY);
    const call = await peer.next();
    peer.reply(call);
    await within(reply, HANG_MS, 'reply');
    stream.abort();
    const f = await peer.next();
    assert.equal(f.header.type, MessageType.STREAM);
    assert.equal(f.header.status, MessageStatus.ERROR);
    assert.equal(f.header.serial, call.header.serial);
    await assert.rejects(stream.finish(), hasCode('LIBVIRT_PROTOCOL'));
    // Frames for the abandoned stream are dropped without harm.
    peer.stream(call, MessageStatus.CONTINUE, Buffer.from('late'));
    const probe = client.call(PROGRAM, VERSION, LOOKUP, EMPTY);
    peer.reply(await peer.next());
    await within(probe, HANG_MS, 'probe');
    assert.equal(client.closed, false);
  });
});
