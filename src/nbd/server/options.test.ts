import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ByteReader } from '../byte-reader.js';
import { NbdClient } from '../client.js';
import {
  Cmd,
  CmdFlag,
  CONTEXT_BASE_ALLOCATION,
  Info,
  NBD_REP_MAGIC,
  NBD_SIMPLE_REPLY_MAGIC,
  NBD_STRUCTURED_REPLY_MAGIC,
  Opt,
  Rep,
  RepErr,
  ReplyType,
  TransmissionFlag,
} from '../constants.js';
import { encodeGoData, encodeMetaContextData, encodeOption, encodeRequest } from '../wire.js';
import { NbdServer } from './server.js';
import { MemoryExport } from './testing/memory-export.js';

const KiB = 1024;

/** A raw conversation with the server: bytes out, exact-length reads in. */
class Raw {
  private readonly input = new ByteReader();
  readonly closed: Promise<void>;
  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (b: Buffer) => this.input.push(b));
    this.closed = new Promise((r) => sock.on('close', () => r()));
    sock.on('close', () => this.input.fail(new Error('closed')));
  }

  /** Connected, greeted, with fixed newstyle and no zeroes. */
  static async open(socketPath: string): Promise<Raw> {
    const r = new Raw(net.connect(socketPath));
    await r.read(18);
    r.send(Buffer.from([0, 0, 0, 3]));
    return r;
  }

  send(b: Buffer): void {
    this.sock.write(b);
  }

  read(n: number): Promise<Buffer> {
    return this.input.read(n);
  }

  /** One option reply: its type and data. */
  async reply(option: number): Promise<{ type: number; data: Buffer }> {
    const h = await this.read(20);
    assert.equal(h.readBigUInt64BE(0), NBD_REP_MAGIC);
    assert.equal(h.readUInt32BE(8), option);
    const n = h.readUInt32BE(16);
    return {
      type: h.readUInt32BE(12),
      data: n ? Buffer.from(await this.read(n)) : Buffer.alloc(0),
    };
  }

  /** Replies to `option` up to and including the ACK or an error. */
  async replies(option: number): Promise<{ type: number; data: Buffer }[]> {
    const out = [];
    for (;;) {
      const r = await this.reply(option);
      out.push(r);
      if (r.type === Rep.ACK || r.type >= 0x80000000) return out;
    }
  }

  end(): void {
    this.sock.destroy();
  }
}

describe('NbdServer options and commands', () => {
  let dir: string;
  let socketPath: string;
  let server: NbdServer;
  const bytes = Buffer.alloc(64 * KiB, 0);
  for (let i = 0; i < 16 * KiB; i++) bytes[i] = (i * 31) & 0xff;
  const ex = new MemoryExport(bytes, [
    { offset: 0, length: 16 * KiB, kind: 'data' },
    { offset: 16 * KiB, length: 48 * KiB, kind: 'hole' },
  ]);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'brankas-nbd-options-'));
    socketPath = join(dir, 's');
    server = await NbdServer.listen({ name: 'vdb', export: ex, listen: { socketPath } });
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists its one export, answers unknown options UNSUP and stays in the handshake', async () => {
    const r = await Raw.open(socketPath);
    r.send(encodeOption(Opt.LIST));
    const list = await r.replies(Opt.LIST);
    assert.deepEqual(
      list.map((x) => x.type),
      [Rep.SERVER, Rep.ACK],
    );
    assert.equal(list[0]!.data.readUInt32BE(0), 3);
    assert.equal(list[0]!.data.toString('utf8', 4), 'vdb');
    r.send(encodeOption(Opt.STARTTLS));
    assert.equal((await r.reply(Opt.STARTTLS)).type, RepErr.UNSUP);
    r.send(encodeOption(99, Buffer.from('whatever')));
    assert.equal((await r.reply(99)).type, RepErr.UNSUP);
    r.send(encodeOption(Opt.LIST, Buffer.from('x')));
    assert.equal((await r.reply(Opt.LIST)).type, RepErr.INVALID);
    r.send(encodeOption(Opt.ABORT));
    assert.equal((await r.reply(Opt.ABORT)).type, Rep.ACK);
    await r.closed;
  });

  it('answers NBD_OPT_INFO with size, flags, name and block sizes, and stays in the handshake', async () => {
    const r = await Raw.open(socketPath);
    r.send(encodeOption(Opt.INFO, encodeGoData('vdb', [Info.NAME, Info.DESCRIPTION])));
    const infos = await r.replies(Opt.INFO);
    assert.equal(infos.at(-1)!.type, Rep.ACK);
    const byType = new Map(infos.slice(0, -1).map((i) => [i.data.readUInt16BE(0), i.data]));
    const exp = byType.get(Info.EXPORT)!;
    assert.equal(Number(exp.readBigUInt64BE(2)), 64 * KiB);
    const flags = exp.readUInt16BE(10);
    assert.ok(flags & TransmissionFlag.READ_ONLY);
    assert.ok(flags & TransmissionFlag.CAN_MULTI_CONN);
    assert.equal(byType.get(Info.NAME)!.toString('utf8', 2), 'vdb');
    assert.equal(byType.get(Info.DESCRIPTION)!.toString('utf8', 2), 'memory');
    const bs = byType.get(Info.BLOCK_SIZE)!;
    assert.deepEqual(
      [bs.readUInt32BE(2), bs.readUInt32BE(6), bs.readUInt32BE(10)],
      [1, 4096, 32 * 1024 * 1024],
    );
    r.send(encodeOption(Opt.GO, Buffer.from([0, 0, 0, 9, 1])));
    assert.equal((await r.reply(Opt.GO)).type, RepErr.INVALID);
    r.send(encodeOption(Opt.GO, encodeGoData('nope')));
    assert.equal((await r.reply(Opt.GO)).type, RepErr.UNKNOWN);
    r.end();
  });

  it('refuses to select a meta context before structured replies, and ignores unknown contexts', async () => {
    const r = await Raw.open(socketPath);
    const meta = encodeMetaContextData('', [CONTEXT_BASE_ALLOCATION]);
    r.send(encodeOption(Opt.SET_META_CONTEXT, meta));
    assert.equal((await r.reply(Opt.SET_META_CONTEXT)).type, RepErr.INVALID);
    r.send(encodeOption(Opt.STRUCTURED_REPLY));
    assert.equal((await r.reply(Opt.STRUCTURED_REPLY)).type, Rep.ACK);
    r.send(encodeOption(Opt.SET_META_CONTEXT, encodeMetaContextData('', ['qemu:dirty-bitmap:x'])));
    assert.deepEqual(
      (await r.replies(Opt.SET_META_CONTEXT)).map((x) => x.type),
      [Rep.ACK],
    );
    r.send(encodeOption(Opt.SET_META_CONTEXT, meta));
    const set = await r.replies(Opt.SET_META_CONTEXT);
    assert.equal(set[0]!.type, Rep.META_CONTEXT);
    assert.equal(set[0]!.data.toString('utf8', 4), CONTEXT_BASE_ALLOCATION);
    r.end();
  });

  it('serves simple replies to a client that never asked for structured ones', async () => {
    const r = await Raw.open(socketPath);
    r.send(encodeOption(Opt.EXPORT_NAME, Buffer.from('vdb')));
    const head = await r.read(10);
    assert.equal(Number(head.readBigUInt64BE(0)), 64 * KiB);
    r.send(encodeRequest(0, Cmd.READ, 1, 100, 8));
    const reply = await r.read(16 + 8);
    assert.equal(reply.readUInt32BE(0), NBD_SIMPLE_REPLY_MAGIC);
    assert.equal(reply.readUInt32BE(4), 0);
    assert.deepEqual(reply.subarray(16), bytes.subarray(100, 108));
    r.send(encodeRequest(0, Cmd.FLUSH, 2, 0, 0));
    const flush = await r.read(16);
    assert.equal(flush.readUInt32BE(4), 0);
    r.send(encodeRequest(0, Cmd.BLOCK_STATUS, 3, 0, 4096));
    assert.equal((await r.read(16)).readUInt32BE(4), 22); // EINVAL: no context
    r.send(encodeRequest(0, Cmd.DISC, 4, 0, 0));
    await r.closed;
  });

  it('sends reads as data and hole chunks, and one descriptor with REQ_ONE', async () => {
    const r = await Raw.open(socketPath);
    r.send(encodeOption(Opt.STRUCTURED_REPLY));
    await r.replies(Opt.STRUCTURED_REPLY);
    r.send(
      encodeOption(Opt.SET_META_CONTEXT, encodeMetaContextData('', [CONTEXT_BASE_ALLOCATION])),
    );
    await r.replies(Opt.SET_META_CONTEXT);
    r.send(encodeOption(Opt.GO, encodeGoData('')));
    await r.replies(Opt.GO);
    r.send(encodeRequest(0, Cmd.READ, 5, 16 * KiB - 4, 12));
    const chunks: { type: number; flags: number; body: Buffer }[] = [];
    for (;;) {
      const h = await r.read(20);
      assert.equal(h.readUInt32BE(0), NBD_STRUCTURED_REPLY_MAGIC);
      const n = h.readUInt32BE(16);
      chunks.push({
        flags: h.readUInt16BE(4),
        type: h.readUInt16BE(6),
        body: Buffer.from(await r.read(n)),
      });
      if (h.readUInt16BE(4) & 1) break;
    }
    assert.deepEqual(
      chunks.map((c) => c.type),
      [ReplyType.OFFSET_DATA, ReplyType.OFFSET_HOLE, ReplyType.NONE],
    );
    assert.equal(Number(chunks[0]!.body.readBigUInt64BE(0)), 16 * KiB - 4);
    assert.deepEqual(chunks[0]!.body.subarray(8), bytes.subarray(16 * KiB - 4, 16 * KiB));
    assert.equal(Number(chunks[1]!.body.readBigUInt64BE(0)), 16 * KiB);
    assert.equal(chunks[1]!.body.readUInt32BE(8), 8);
    r.send(encodeRequest(CmdFlag.REQ_ONE, Cmd.BLOCK_STATUS, 6, 0, 64 * KiB));
    const h = await r.read(20);
    assert.equal(h.readUInt16BE(6), ReplyType.BLOCK_STATUS);
    const body = await r.read(h.readUInt32BE(16));
    assert.equal(body.length, 4 + 8);
    assert.deepEqual([body.readUInt32BE(4), body.readUInt32BE(8)], [16 * KiB, 0]);
    r.end();
  });

  it('lets the project client read everything over several connections with small payloads', async () => {
    const clients = await Promise.all([1, 2, 3].map(() => NbdClient.connect({ socketPath })));
    const got = await Promise.all(clients.map((c, i) => c.read(i * 1000, 20 * KiB)));
    got.forEach((b, i) => assert.deepEqual(b, bytes.subarray(i * 1000, i * 1000 + 20 * KiB)));
    await Promise.all(clients.map((c) => c.close()));
  });
});
