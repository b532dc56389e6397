import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NbdClient } from '../client.js';
import {
  CONTEXT_BASE_ALLOCATION,
  Cmd,
  NBD_INIT_MAGIC,
  NBD_STATE_HOLE,
  NBD_STATE_ZERO,
  NBD_SIMPLE_REPLY_MAGIC,
  NbdErrno,
  Opt,
  RepErr,
  TransmissionFlag,
} from '../constants.js';
import { encodeGoData, encodeOption, encodeRequest } from '../wire.js';
import { NbdError, NbdOptionError } from '../errors.js';
import { NbdServer } from './server.js';
import { MemoryExport } from './testing/memory-export.js';

const MiB = 1024 * 1024;

/** 4 MiB: data at [0,1M), a hole at [1M,3M), allocated zeroes at [3M,3.5M), data to the end. */
function sample(): MemoryExport {
  const bytes = Buffer.alloc(4 * MiB);
  for (let i = 0; i < MiB; i++) bytes[i] = (i * 7 + 3) & 0xff;
  for (let i = 3.5 * MiB; i < 4 * MiB; i++) bytes[i] = (i * 13 + 1) & 0xff;
  return new MemoryExport(bytes, [
    { offset: 0, length: MiB, kind: 'data' },
    { offset: MiB, length: 2 * MiB, kind: 'hole' },
    { offset: 3 * MiB, length: MiB / 2, kind: 'zero' },
    { offset: 3.5 * MiB, length: MiB / 2, kind: 'data' },
  ]);
}

/** Reads bytes from a raw socket until `n` have come (or the socket ends). */
function collect(sock: net.Socket): { until(n: number): Promise<Buffer>; ended: Promise<void> } {
  let got = Buffer.alloc(0);
  let want: { n: number; resolve: (b: Buffer) => void } | undefined;
  const check = (): void => {
    if (want && got.length >= want.n) {
      const w = want;
      want = undefined;
      w.resolve(got.subarray(0, w.n));
    }
  };
  sock.on('data', (b: Buffer) => {
    got = Buffer.concat([got, b]);
    check();
  });
  const ended = new Promise<void>((r) => sock.on('close', () => r()));
  return {
    until: (n) =>
      new Promise((resolve) => {
        want = { n, resolve };
        check();
      }),
    ended,
  };
}

describe('NbdServer', () => {
  let dir: string;
  let server: NbdServer;
  let ex: MemoryExport;
  let socketPath: string;
  const clientErrors: Error[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'brankas-nbd-server-'));
    socketPath = join(dir, 'nbd.sock');
    ex = sample();
    server = await NbdServer.listen({
      name: 'vda',
      export: ex,
      listen: { socketPath },
      onClientError: (e) => clientErrors.push(e),
    });
  });

  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves reads of any range, structured, with holes read as zeroes', async () => {
    const c = await NbdClient.connect({ socketPath });
    try {
      assert.equal(c.info.size, ex.size);
      assert.ok(c.info.structuredReplies);
      assert.ok(c.info.flags & TransmissionFlag.READ_ONLY);
      assert.equal(c.info.maxPayload, 32 * MiB);
      assert.deepEqual(await c.read(0, ex.size), ex.bytes);
      assert.deepEqual(
        await c.read(MiB - 5, 2 * MiB + 17),
        ex.bytes.subarray(MiB - 5, 3 * MiB + 12),
      );
      assert.deepEqual(await c.read(12345, 1), ex.bytes.subarray(12345, 12346));
    } finally {
      await c.close();
    }
  });

  it('opens the export by its listed name as well as the default one', async () => {
    const c = await NbdClient.connect({ socketPath, exportName: 'vda' });
    assert.equal(c.info.size, ex.size);
    await c.close();
    await assert.rejects(
      NbdClient.connect({ socketPath, exportName: 'vdb' }),
      (e) => e instanceof NbdOptionError && e.replyType === RepErr.UNKNOWN,
    );
  });

  it('answers base:allocation block status from the export map, holes as holes', async () => {
    assert.deepEqual(await NbdClient.listMetaContexts({ socketPath }), [CONTEXT_BASE_ALLOCATION]);
    const c = await NbdClient.connect({ socketPath, metaContexts: [CONTEXT_BASE_ALLOCATION] });
    try {
      const got = await c.blockStatus(MiB / 2, 3 * MiB);
      assert.deepEqual(got, [
        { offset: MiB / 2, length: MiB / 2, flags: 0 },
        { offset: MiB, length: 2 * MiB, flags: NBD_STATE_HOLE | NBD_STATE_ZERO },
        { offset: 3 * MiB, length: MiB / 2, flags: NBD_STATE_ZERO },
      ]);
    } finally {
      await c.close();
    }
  });

  it('refuses writes, write-zeroes and trims with EPERM and goes on serving', async () => {
    // The project's client refuses to write to a read-only export, so this speaks the wire itself.
    const sock = net.connect(socketPath);
    const rx = collect(sock);
    await rx.until(18);
    sock.write(Buffer.from([0, 0, 0, 3])); // fixed newstyle, no zeroes
    sock.write(encodeOption(Opt.GO, encodeGoData('')));
    // INFO export (20 + 12), INFO block size (20 + 14), ACK (20).
    let at = 18 + 32 + 34 + 20;
    await rx.until(at);
    sock.write(Buffer.concat([encodeRequest(0, Cmd.WRITE, 7, 0, 4), Buffer.from('abcd')]));
    sock.write(encodeRequest(0, Cmd.READ, 8, 0, 4));
    const replies = await rx.until(at + 16 + 16 + 4);
    assert.equal(replies.readUInt32BE(at), NBD_SIMPLE_REPLY_MAGIC);
    assert.equal(replies.readUInt32BE(at + 4), NbdErrno.EPERM);
    assert.equal(replies.readUInt32BE(at + 12), 7);
    at += 16;
    assert.equal(replies.readUInt32BE(at + 4), 0);
    assert.equal(replies.readUInt32BE(at + 12), 8);
    assert.deepEqual(replies.subarray(at + 16, at + 20), ex.bytes.subarray(0, 4));
    sock.write(encodeRequest(0, Cmd.DISC, 9, 0, 0));
    await rx.ended;
    assert.equal(ex.bytes.subarray(0, 4).toString() === 'abcd', false);
  });

  it('answers a read past the end with EINVAL, not a closed connection', async () => {
    const c = await NbdClient.connect({ socketPath });
    try {
      // The client checks bounds itself; a length of the export's size from 1 MiB goes past it.
      await assert.rejects(
        (c as unknown as { dispatcher: { submit(r: object): Promise<unknown> } }).dispatcher.submit(
          {
            type: Cmd.READ,
            offset: MiB,
            length: ex.size,
          },
        ),
        (e) => e instanceof NbdError && e.errno === NbdErrno.EINVAL,
      );
      assert.deepEqual(await c.read(0, 16), ex.bytes.subarray(0, 16));
    } finally {
      await c.close();
    }
  });

  it('serves requests concurrently and answers them out of order by cookie', async () => {
    const c = await NbdClient.connect({ socketPath, metaContexts: [CONTEXT_BASE_ALLOCATION] });
    let open!: () => void;
    ex.gate = new Promise((r) => (open = r));
    try {
      const before = ex.reads;
      const reads = [0, 100, 200, 300].map((o) => c.read(o, 50));
      // A block status needs no read of data: it is answered while the reads wait.
      const status = await c.blockStatus(MiB, MiB);
      assert.equal(status[0]!.flags, NBD_STATE_HOLE | NBD_STATE_ZERO);
      while (ex.reads < before + 4) await new Promise((r) => setImmediate(r));
      open();
      const got = await Promise.all(reads);
      got.forEach((b, i) => assert.deepEqual(b, ex.bytes.subarray(i * 100, i * 100 + 50)));
    } finally {
      ex.gate = undefined;
      open();
      await c.close();
    }
  });

  it('closes a client that sends garbage and keeps serving the others', async () => {
    const other = await NbdClient.connect({ socketPath });
    const sock = net.connect(socketPath);
    const rx = collect(sock);
    const hello = await rx.until(18);
    assert.equal(hello.readBigUInt64BE(0), NBD_INIT_MAGIC);
    const errors = clientErrors.length;
    sock.write(Buffer.from([0, 0, 0, 1]));
    sock.write(Buffer.from('GET / HTTP/1.1\r\nHost: nbd\r\n\r\n'));
    await rx.ended;
    assert.equal(clientErrors.length, errors + 1);
    assert.equal((clientErrors.at(-1) as { code?: string }).code, 'NBD_CLIENT_MISBEHAVED');
    assert.deepEqual(await other.read(0, 16), ex.bytes.subarray(0, 16));
    await other.close();
    const again = await NbdClient.connect({ socketPath });
    assert.deepEqual(await again.read(3.5 * MiB, 8), ex.bytes.subarray(3.5 * MiB, 3.5 * MiB + 8));
    await again.close();
  });

  it('closes a client whose request has a bad magic, after a good handshake', async () => {
    const sock = net.connect(socketPath);
    const rx = collect(sock);
    await rx.until(18);
    sock.write(Buffer.from([0, 0, 0, 3]));
    sock.write(encodeOption(Opt.GO, encodeGoData('')));
    await rx.until(18 + 32 + 34 + 20);
    sock.write(Buffer.alloc(28, 0xee));
    await rx.ended;
    const c = await NbdClient.connect({ socketPath });
    assert.equal(c.info.size, ex.size);
    await c.close();
  });

  it('listens on a loopback TCP port and removes its unix socket when closed', async () => {
    const tcp = await NbdServer.listen({
      name: 'x',
      export: ex,
      listen: { host: '127.0.0.1', port: 0 },
    });
    assert.ok('port' in tcp.address && tcp.address.port > 0);
    const c = await NbdClient.connect(tcp.address);
    const pending = c.read(0, 8);
    assert.deepEqual(await pending, ex.bytes.subarray(0, 8));
    await tcp.close();
    await tcp.close();

    const path = join(dir, 'second.sock');
    const s = await NbdServer.listen({ name: 'x', export: ex, listen: { socketPath: path } });
    await stat(path);
    const held = await NbdClient.connect({ socketPath: path });
    await s.close();
    await assert.rejects(stat(path), { code: 'ENOENT' });
    held.destroy();
  });

  it('fails to listen on a socket path that is taken, with a typed error', async () => {
    await assert.rejects(NbdServer.listen({ name: 'x', export: ex, listen: { socketPath } }), {
      code: 'NBD_SERVER_LISTEN_FAILED',
    });
  });
});
