import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { NbdClient, type NbdClientOptions } from './client.js';
import { Cmd, CmdFlag, NbdErrno, ReplyFlag, ReplyType, TransmissionFlag } from './constants.js';
import { NbdError } from './errors.js';
import { NbdPeer, socketPair, structuredChunk, type PeerOptions } from './testing/index.js';

function hasCode(code: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof Error, String(err));
    assert.equal((err as { code?: unknown }).code, code, err.message);
    return true;
  };
}

/** Resolves with how a promise settled, never leaving a rejection unhandled. */
function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

const tick = (ms = 10): Promise<void> => new Promise((r) => setTimeout(r, ms));

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

async function setup(
  t: TestContext,
  peerOptions: PeerOptions = {},
  options: NbdClientOptions = {},
): Promise<{ client: NbdClient; peer: NbdPeer }> {
  const [a, b] = socketPair();
  const peer = new NbdPeer(b, {
    contexts: { 'base:allocation': 1, 'x-test:other': 2 },
    ...peerOptions,
  });
  t.after(() => {
    a.destroy();
    b.destroy();
  });
  const client = await NbdClient.over(a, {
    metaContexts: ['base:allocation', 'x-test:other'],
    requestTimeoutMs: 0,
    ...options,
  });
  t.after(() => client.destroy());
  return { client, peer };
}

describe('NbdClient over an in-memory server', () => {
  test('matches out-of-order replies to many requests in flight by cookie', async (t) => {
    const disk = pattern(1 << 20, 1);
    const { client, peer } = await setup(t, { size: disk.length }, { maxInFlight: 100 });
    const reads = Array.from({ length: 100 }, (_, i) => client.read(i * 4096, 4096));
    const reqs = await peer.nextN(100);
    assert.equal(new Set(reqs.map((r) => r.cookie)).size, 100, 'cookies are unique');
    for (const r of reqs.reverse()) {
      peer.data(r.cookie, r.offset, disk.subarray(r.offset, r.offset + r.length), true);
    }
    const results = await Promise.all(reads);
    results.forEach((buf, i) => assert.deepEqual(buf, disk.subarray(i * 4096, (i + 1) * 4096)));
  });

  test('reassembles a read from data and hole chunks in any order', async (t) => {
    const { client, peer } = await setup(t);
    const read = client.read(1000, 3000);
    const r = await peer.next();
    assert.deepEqual([r.type, r.offset, r.length], [Cmd.READ, 1000, 3000]);
    peer.data(r.cookie, 3000, pattern(1000, 3));
    peer.hole(r.cookie, 1500, 1500);
    peer.data(r.cookie, 1000, pattern(500, 2));
    peer.none(r.cookie);
    assert.deepEqual(
      await read,
      Buffer.concat([pattern(500, 2), Buffer.alloc(1500), pattern(1000, 3)]),
    );
  });

  test('a read with a gap is a protocol error that destroys the connection', async (t) => {
    const { client, peer } = await setup(t);
    const read = settle(client.read(0, 1000));
    const other = settle(client.read(0, 10));
    const [r] = await peer.nextN(2);
    peer.data(r!.cookie, 0, pattern(400, 1));
    peer.hole(r!.cookie, 500, 500, true);
    const [res, res2] = await Promise.all([read, other]);
    assert.ok(!res.ok && hasCode('NBD_PROTOCOL')(res.error));
    assert.ok(!res2.ok && hasCode('NBD_PROTOCOL')(res2.error));
    assert.equal(client.closed, true);
  });

  test('overlapping content chunks are a protocol error', async (t) => {
    const { client, peer } = await setup(t);
    const read = client.read(0, 1000);
    const r = await peer.next();
    peer.data(r.cookie, 0, pattern(600, 1));
    peer.data(r.cookie, 500, pattern(500, 1), true);
    await assert.rejects(read, hasCode('NBD_PROTOCOL'));
  });

  test('content outside the request is a protocol error', async (t) => {
    const { client, peer } = await setup(t);
    const read = client.read(4096, 512);
    const r = await peer.next();
    peer.data(r.cookie, 0, pattern(512, 1), true);
    await assert.rejects(read, hasCode('NBD_PROTOCOL'));
  });

  test('an error chunk rejects the request with the server message; the connection lives on', async (t) => {
    const { client, peer } = await setup(t);
    const read = client.read(0, 4096);
    const r = await peer.next();
    peer.error(r.cookie, NbdErrno.EIO, 'disk on fire', false, 512);
    peer.none(r.cookie);
    const err = await read.catch((e: unknown) => e);
    assert.ok(err instanceof NbdError);
    assert.equal(err.code, 'NBD_EIO');
    assert.match(err.message, /disk on fire/);
    assert.match(err.message, /failed at offset 512/);
    const next = client.flush();
    peer.simple((await peer.next()).cookie);
    await next;
  });

  test('a simple error reply rejects with the protocol error name', async (t) => {
    const { client, peer } = await setup(t);
    const w = client.write(0, Buffer.alloc(512));
    peer.simple((await peer.next()).cookie, NbdErrno.ENOSPC);
    await assert.rejects(w, hasCode('NBD_ENOSPC'));
  });

  test('an unknown error chunk type still fails just that request', async (t) => {
    const { client, peer } = await setup(t);
    const f = client.flush();
    const r = await peer.next();
    const p = Buffer.alloc(6);
    p.writeUInt32BE(NbdErrno.EPERM);
    peer.chunk(r.cookie, ReplyFlag.DONE, 0x8000 + 100, p);
    await assert.rejects(f, hasCode('NBD_EPERM'));
    assert.equal(client.closed, false);
  });

  test('a malformed reply (bad magic) destroys the connection and rejects every pending request', async (t) => {
    const { client, peer } = await setup(t);
    const pending = [
      settle(client.read(0, 100)),
      settle(client.flush()),
      settle(client.read(200, 5)),
    ];
    await peer.nextN(3);
    peer.raw(Buffer.from('0badbeef000000000000000000000000', 'hex'));
    for (const r of await Promise.all(pending)) {
      assert.ok(!r.ok && hasCode('NBD_PROTOCOL')(r.error));
    }
    assert.equal(client.closed, true);
    await assert.rejects(client.read(0, 1), hasCode('NBD_CONNECTION_CLOSED'));
  });

  test('an impossible chunk length destroys the connection', async (t) => {
    const { client, peer } = await setup(t);
    const read = settle(client.read(0, 100));
    const r = await peer.next();
    const h = structuredChunk(r.cookie, 0, ReplyType.OFFSET_DATA).subarray(0, 20);
    h.writeUInt32BE(0x7fffffff, 16);
    peer.raw(h);
    const res = await read;
    assert.ok(!res.ok && hasCode('NBD_PROTOCOL')(res.error));
    assert.equal(client.closed, true);
  });

  test('a reply to a cookie never sent destroys the connection', async (t) => {
    const { client, peer } = await setup(t);
    const read = settle(client.read(0, 100));
    await peer.next();
    peer.simple(12345n);
    const res = await read;
    assert.ok(!res.ok && hasCode('NBD_PROTOCOL')(res.error));
  });

  test('a simple reply to READ after structured replies were negotiated destroys the connection', async (t) => {
    const { client, peer } = await setup(t);
    const read = client.read(0, 10);
    peer.simple((await peer.next()).cookie, 0, Buffer.alloc(10));
    await assert.rejects(read, hasCode('NBD_PROTOCOL'));
  });

  test('when the server hangs up, every pending request rejects with NBD_CONNECTION_CLOSED', async (t) => {
    const { client, peer } = await setup(t);
    const pending = [settle(client.read(0, 100)), settle(client.trim(0, 512))];
    await peer.nextN(2);
    peer.end();
    for (const r of await Promise.all(pending)) {
      assert.ok(!r.ok && hasCode('NBD_CONNECTION_CLOSED')(r.error));
    }
  });

  test('destroy(err) rejects every pending request', async (t) => {
    const { client, peer } = await setup(t);
    const read = settle(client.read(0, 100));
    await peer.next();
    client.destroy(new Error('stop'));
    const res = await read;
    assert.ok(!res.ok && hasCode('NBD_CONNECTION_CLOSED')(res.error));
  });

  test('a request times out; its late reply is dropped and the connection goes on', async (t) => {
    const { client, peer } = await setup(t, {}, { requestTimeoutMs: 50 });
    const read = client.read(0, 100);
    // On a loaded machine the timeout may fire before the peer has read the request:
    // observe the rejection at once so it is never unhandled.
    read.catch(() => undefined);
    const r = await peer.next();
    await assert.rejects(read, hasCode('NBD_TIMEOUT'));
    peer.data(r.cookie, 0, pattern(100, 1), true);
    const flush = client.flush();
    peer.simple((await peer.next()).cookie);
    await flush;
    assert.equal(client.closed, false);
  });

  test('splits reads and writes into pieces of the maximum payload, filling one buffer', async (t) => {
    const disk = pattern(10000, 4);
    const { client, peer } = await setup(t, {
      disk,
      blockSize: { min: 1, preferred: 512, max: 1024 },
    });
    assert.deepEqual(await client.read(100, 5000), disk.subarray(100, 5100));
    const data = pattern(3000, 9);
    await client.write(2000, data);
    assert.deepEqual(disk.subarray(2000, 5000), data);
    void peer;
  });

  test('keeps at most maxInFlight requests on the wire and sends the rest in order', async (t) => {
    const { client, peer } = await setup(t, {}, { maxInFlight: 4 });
    const flushes = Array.from({ length: 10 }, () => client.flush());
    const first = await peer.nextN(4);
    await tick();
    assert.equal(peer.requests.length, 0, 'no fifth request before a reply');
    for (const r of first) peer.simple(r.cookie);
    const rest = await peer.nextN(4);
    for (const r of rest) peer.simple(r.cookie);
    const last = await peer.nextN(2);
    for (const r of last) peer.simple(r.cookie);
    await Promise.all(flushes);
  });

  test('unaligned reads are widened to whole blocks; writes must be aligned', async (t) => {
    const disk = pattern(8192, 5);
    const { client } = await setup(t, {
      disk,
      blockSize: { min: 512, preferred: 4096, max: 4096 },
    });
    assert.deepEqual(await client.read(700, 1000), disk.subarray(700, 1700));
    await assert.rejects(client.write(100, Buffer.alloc(512)), hasCode('NBD_INVALID_ARGUMENT'));
  });

  test('refuses requests outside the export and writes to a read-only export', async (t) => {
    const { client } = await setup(t, {
      size: 4096,
      transmissionFlags: TransmissionFlag.HAS_FLAGS | TransmissionFlag.READ_ONLY,
    });
    await assert.rejects(client.read(4000, 200), hasCode('NBD_INVALID_ARGUMENT'));
    await assert.rejects(client.write(0, Buffer.alloc(1)), hasCode('NBD_READ_ONLY'));
    await assert.rejects(client.flush(), hasCode('NBD_UNSUPPORTED'));
  });

  test('sends write payloads, flags and effect-only commands as asked', async (t) => {
    const { client, peer } = await setup(t);
    const data = pattern(777, 6);
    const w = client.write(4096, data, { fua: true });
    const wz = client.writeZeroes(8192, 4096, { noHole: true });
    const tr = client.trim(0, 512);
    const [rw, rz, rt] = await peer.nextN(3);
    assert.deepEqual(
      [rw!.type, rw!.flags, rw!.offset, rw!.length],
      [Cmd.WRITE, CmdFlag.FUA, 4096, 777],
    );
    assert.deepEqual(rw!.payload, data);
    assert.deepEqual([rz!.type, rz!.flags, rz!.length], [Cmd.WRITE_ZEROES, CmdFlag.NO_HOLE, 4096]);
    assert.deepEqual([rt!.type, rt!.offset, rt!.length], [Cmd.TRIM, 0, 512]);
    for (const r of [rw!, rz!, rt!]) peer.simple(r.cookie);
    await Promise.all([w, wz, tr]);
  });

  test('block status returns the asked context, clipped to the request', async (t) => {
    const { client, peer } = await setup(t, { size: 1 << 30 });
    const bs = client.blockStatus(65536, 1 << 20, 'base:allocation');
    const r = await peer.next();
    assert.deepEqual([r.type, r.offset, r.length], [Cmd.BLOCK_STATUS, 65536, 1 << 20]);
    peer.status(r.cookie, 2, [[1 << 20, 1]]);
    peer.status(r.cookie, 1, [
      [4096, 3],
      [8192, 0],
      [1 << 22, 2],
    ]);
    peer.none(r.cookie);
    assert.deepEqual(await bs, [
      { offset: 65536, length: 4096, flags: 3 },
      { offset: 69632, length: 8192, flags: 0 },
      { offset: 77824, length: (1 << 20) - 12288, flags: 2 },
    ]);
  });

  test('block status without a chunk for the context asked is a protocol error', async (t) => {
    const { client, peer } = await setup(t, { size: 1 << 30 });
    const bs = client.blockStatus(0, 4096, 'x-test:other');
    const r = await peer.next();
    peer.status(r.cookie, 1, [[4096, 0]], true);
    await assert.rejects(bs, hasCode('NBD_PROTOCOL'));
    assert.equal(client.closed, true);
  });

  test('block status for a context id never selected is a protocol error', async (t) => {
    const { client, peer } = await setup(t, { size: 1 << 30 });
    const bs = client.blockStatus(0, 4096);
    const r = await peer.next();
    peer.status(r.cookie, 77, [[4096, 0]], true);
    await assert.rejects(bs, hasCode('NBD_PROTOCOL'));
  });

  test('block status for a context not selected fails before sending', async (t) => {
    const { client } = await setup(t);
    await assert.rejects(
      client.blockStatus(0, 512, 'qemu:dirty-bitmap:x'),
      hasCode('NBD_META_CONTEXT_UNAVAILABLE'),
    );
  });

  test('close() waits for outstanding requests, then sends DISC and ends the connection', async (t) => {
    const { client, peer } = await setup(t);
    const read = client.read(0, 10);
    const closing = client.close();
    const r = await peer.next();
    await tick();
    peer.data(r.cookie, 0, pattern(10, 1), true);
    assert.deepEqual(await read, pattern(10, 1));
    await closing;
    assert.equal(client.closed, true);
    await client.close(); // idempotent
    await assert.rejects(client.read(0, 1), hasCode('NBD_CONNECTION_CLOSED'));
  });
});
