/**
 * For tests: an in-memory NBD server (the far end of a socket pair) that does
 * the fixed-newstyle handshake as configured and then hands each request to
 * the test, which answers with well-formed or deliberately broken replies. It
 * can also serve an in-memory disk on its own. Not used by brankas itself.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import {
  Cmd,
  Info,
  NBD_INIT_MAGIC,
  NBD_OPTS_MAGIC,
  NBD_REP_MAGIC,
  NBD_REQUEST_MAGIC,
  NBD_SIMPLE_REPLY_MAGIC,
  NBD_STRUCTURED_REPLY_MAGIC,
  Opt,
  Rep,
  ReplyFlag,
  ReplyType,
  TransmissionFlag,
  HandshakeFlag,
} from '../constants.js';

import { HANG_MS } from '../../util/testing/index.js';
export { socketPair } from '../../util/testing/index.js';

export interface PeerRequest {
  flags: number;
  type: number;
  cookie: bigint;
  offset: number;
  length: number;
  payload?: Buffer;
}

export interface PeerOptions {
  size?: number;
  transmissionFlags?: number;
  structuredReplies?: boolean;
  /** Metadata contexts offered, with the ids to give them. */
  contexts?: Record<string, number>;
  /** NBD_INFO_BLOCK_SIZE to send in reply to NBD_OPT_GO. */
  blockSize?: { min: number; preferred: number; max: number };
  /** Reply NBD_REP_ERR_UNSUP to NBD_OPT_GO (an old server). */
  noGo?: boolean;
  /** Answer this option with an error reply of this type and message instead. */
  refuse?: { option: number; type: number; message: string };
  /** Serve READ, WRITE, FLUSH... from this buffer without asking the test. */
  disk?: Buffer;
  /** Greeting magic to send after NBDMAGIC (tests of oldstyle servers). */
  magic?: bigint;
}

const ALL_FLAGS =
  TransmissionFlag.HAS_FLAGS |
  TransmissionFlag.SEND_FLUSH |
  TransmissionFlag.SEND_FUA |
  TransmissionFlag.SEND_TRIM |
  TransmissionFlag.SEND_WRITE_ZEROES;

/** The server's side, driven by the test. */
export class NbdPeer {
  /** Every byte the client sent during the handshake, in order. */
  readonly handshakeBytes: Buffer[] = [];
  /** Options the client sent, in order. */
  readonly options: { option: number; data: Buffer }[] = [];
  readonly requests: PeerRequest[] = [];
  private buffered = Buffer.alloc(0);
  private phase: 'flags' | 'options' | 'transmission' | 'done' = 'flags';
  private wake: (() => void) | undefined;
  private readonly disk: Buffer | undefined;

  constructor(
    readonly socket: Duplex,
    private readonly config: PeerOptions = {},
  ) {
    this.disk = config.disk;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    const greeting = Buffer.alloc(18);
    greeting.writeBigUInt64BE(NBD_INIT_MAGIC, 0);
    greeting.writeBigUInt64BE(config.magic ?? NBD_OPTS_MAGIC, 8);
    greeting.writeUInt16BE(HandshakeFlag.FIXED_NEWSTYLE | HandshakeFlag.NO_ZEROES, 16);
    socket.write(greeting);
  }

  get size(): number {
    return this.config.size ?? this.disk?.length ?? 1 << 20;
  }

  /** The next request the client sent (not served automatically). */
  async next(ms = HANG_MS): Promise<PeerRequest> {
    const deadline = Date.now() + ms;
    while (this.requests.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('the client sent no request');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return this.requests.shift()!;
  }

  async nextN(n: number): Promise<PeerRequest[]> {
    const out: PeerRequest[] = [];
    for (let i = 0; i < n; i++) out.push(await this.next());
    return out;
  }

  raw(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  simple(cookie: bigint, error = 0, data?: Uint8Array): void {
    const h = Buffer.alloc(16);
    h.writeUInt32BE(NBD_SIMPLE_REPLY_MAGIC, 0);
    h.writeUInt32BE(error, 4);
    h.writeBigUInt64BE(cookie, 8);
    this.raw(data ? Buffer.concat([h, data]) : h);
  }

  chunk(cookie: bigint, flags: number, type: number, payload: Uint8Array = Buffer.alloc(0)): void {
    this.raw(structuredChunk(cookie, flags, type, payload));
  }

  data(cookie: bigint, offset: number, bytes: Uint8Array, done = false): void {
    const p = Buffer.alloc(8 + bytes.length);
    p.writeBigUInt64BE(BigInt(offset), 0);
    p.set(bytes, 8);
    this.chunk(cookie, done ? ReplyFlag.DONE : 0, ReplyType.OFFSET_DATA, p);
  }

  hole(cookie: bigint, offset: number, length: number, done = false): void {
    const p = Buffer.alloc(12);
    p.writeBigUInt64BE(BigInt(offset), 0);
    p.writeUInt32BE(length, 8);
    this.chunk(cookie, done ? ReplyFlag.DONE : 0, ReplyType.OFFSET_HOLE, p);
  }

  status(cookie: bigint, contextId: number, extents: [number, number][], done = false): void {
    const p = Buffer.alloc(4 + 8 * extents.length);
    p.writeUInt32BE(contextId, 0);
    extents.forEach(([len, flags], i) => {
      p.writeUInt32BE(len, 4 + 8 * i);
      p.writeUInt32BE(flags, 8 + 8 * i);
    });
    this.chunk(cookie, done ? ReplyFlag.DONE : 0, ReplyType.BLOCK_STATUS, p);
  }

  error(cookie: bigint, errno: number, message: string, done = true, offset?: number): void {
    const msg = Buffer.from(message);
    const p = Buffer.alloc(6 + msg.length + (offset === undefined ? 0 : 8));
    p.writeUInt32BE(errno, 0);
    p.writeUInt16BE(msg.length, 4);
    p.set(msg, 6);
    if (offset !== undefined) p.writeBigUInt64BE(BigInt(offset), 6 + msg.length);
    const type = offset === undefined ? ReplyType.ERROR : ReplyType.ERROR_OFFSET;
    this.chunk(cookie, done ? ReplyFlag.DONE : 0, type, p);
  }

  none(cookie: bigint): void {
    this.chunk(cookie, ReplyFlag.DONE, ReplyType.NONE);
  }

  end(): void {
    this.socket.end();
  }

  private onData(chunk: Buffer): void {
    if (this.phase !== 'transmission') this.handshakeBytes.push(Buffer.from(chunk));
    this.buffered = Buffer.concat([this.buffered, chunk]);
    for (;;) {
      if (this.phase === 'flags') {
        if (this.buffered.length < 4) return;
        this.buffered = this.buffered.subarray(4);
        this.phase = 'options';
      } else if (this.phase === 'options') {
        if (this.buffered.length < 16) return;
        const len = this.buffered.readUInt32BE(12);
        if (this.buffered.length < 16 + len) return;
        const option = this.buffered.readUInt32BE(8);
        const data = Buffer.from(this.buffered.subarray(16, 16 + len));
        this.buffered = this.buffered.subarray(16 + len);
        this.options.push({ option, data });
        this.onOption(option, data);
      } else if (this.phase === 'transmission') {
        if (this.buffered.length < 28) return;
        if (this.buffered.readUInt32BE(0) !== NBD_REQUEST_MAGIC) throw new Error('bad request');
        const type = this.buffered.readUInt16BE(6);
        const length = this.buffered.readUInt32BE(24);
        const withPayload = type === Cmd.WRITE ? length : 0;
        if (this.buffered.length < 28 + withPayload) return;
        const req: PeerRequest = {
          flags: this.buffered.readUInt16BE(4),
          type,
          cookie: this.buffered.readBigUInt64BE(8),
          offset: Number(this.buffered.readBigUInt64BE(16)),
          length,
        };
        if (withPayload) req.payload = Buffer.from(this.buffered.subarray(28, 28 + length));
        this.buffered = this.buffered.subarray(28 + withPayload);
        if (type === Cmd.DISC) {
          this.phase = 'done';
          this.socket.end();
          return;
        }
        if (this.disk) this.serve(req);
        else {
          this.requests.push(req);
          const w = this.wake;
          this.wake = undefined;
          w?.();
        }
      } else return;
    }
  }

  private optionReply(option: number, type: number, data: Uint8Array = Buffer.alloc(0)): void {
    const h = Buffer.alloc(20);
    h.writeBigUInt64BE(NBD_REP_MAGIC, 0);
    h.writeUInt32BE(option, 8);
    h.writeUInt32BE(type, 12);
    h.writeUInt32BE(data.length, 16);
    this.raw(Buffer.concat([h, data]));
  }

  private onOption(option: number, data: Buffer): void {
    const c = this.config;
    if (c.refuse?.option === option) {
      this.optionReply(option, c.refuse.type, Buffer.from(c.refuse.message));
      return;
    }
    switch (option) {
      case Opt.STRUCTURED_REPLY:
        if (c.structuredReplies === false) this.optionReply(option, 0x80000001);
        else this.optionReply(option, Rep.ACK);
        return;
      case Opt.SET_META_CONTEXT:
      case Opt.LIST_META_CONTEXT: {
        const nameLen = data.readUInt32BE(0);
        const count = data.readUInt32BE(4 + nameLen);
        let p = 8 + nameLen;
        const offered = c.contexts ?? {};
        for (let i = 0; i < count; i++) {
          const qLen = data.readUInt32BE(p);
          const q = data.toString('utf8', p + 4, p + 4 + qLen);
          p += 4 + qLen;
          for (const [name, id] of Object.entries(offered)) {
            if (
              name === q ||
              (option === Opt.LIST_META_CONTEXT && q.endsWith(':') && name.startsWith(q))
            ) {
              const r = Buffer.alloc(4 + Buffer.byteLength(name));
              r.writeUInt32BE(option === Opt.SET_META_CONTEXT ? id : 0, 0);
              r.write(name, 4);
              this.optionReply(option, Rep.META_CONTEXT, r);
            }
          }
        }
        this.optionReply(option, Rep.ACK);
        return;
      }
      case Opt.GO: {
        if (c.noGo) {
          this.optionReply(option, 0x80000001);
          return;
        }
        this.optionReply(option, Rep.INFO, this.infoExport());
        if (c.blockSize) {
          const b = Buffer.alloc(14);
          b.writeUInt16BE(Info.BLOCK_SIZE, 0);
          b.writeUInt32BE(c.blockSize.min, 2);
          b.writeUInt32BE(c.blockSize.preferred, 6);
          b.writeUInt32BE(c.blockSize.max, 10);
          this.optionReply(option, Rep.INFO, b);
        }
        this.optionReply(option, Rep.ACK);
        this.phase = 'transmission';
        return;
      }
      case Opt.EXPORT_NAME: {
        this.raw(this.infoExport().subarray(2));
        this.phase = 'transmission';
        return;
      }
      case Opt.ABORT:
        this.optionReply(option, Rep.ACK);
        this.phase = 'done';
        this.socket.end();
        return;
      default:
        this.optionReply(option, 0x80000001);
    }
  }

  private infoExport(): Buffer {
    const b = Buffer.alloc(12);
    b.writeUInt16BE(Info.EXPORT, 0);
    b.writeBigUInt64BE(BigInt(this.size), 2);
    b.writeUInt16BE(this.config.transmissionFlags ?? ALL_FLAGS, 10);
    return b;
  }

  /** Answers a request from the in-memory disk: reads as one data chunk. */
  private serve(req: PeerRequest): void {
    const disk = this.disk!;
    switch (req.type) {
      case Cmd.READ: {
        const bytes = disk.subarray(req.offset, req.offset + req.length);
        if (this.config.structuredReplies === false) this.simple(req.cookie, 0, bytes);
        else this.data(req.cookie, req.offset, bytes, true);
        return;
      }
      case Cmd.WRITE:
        req.payload!.copy(disk, req.offset);
        this.simple(req.cookie);
        return;
      case Cmd.WRITE_ZEROES:
      case Cmd.TRIM:
        disk.fill(0, req.offset, req.offset + req.length);
        this.simple(req.cookie);
        return;
      default:
        this.simple(req.cookie);
    }
  }
}

export function structuredChunk(
  cookie: bigint,
  flags: number,
  type: number,
  payload: Uint8Array = Buffer.alloc(0),
): Buffer {
  const h = Buffer.alloc(20 + payload.length);
  h.writeUInt32BE(NBD_STRUCTURED_REPLY_MAGIC, 0);
  h.writeUInt16BE(flags, 4);
  h.writeUInt16BE(type, 6);
  h.writeBigUInt64BE(cookie, 8);
  h.writeUInt32BE(payload.length, 16);
  h.set(payload, 20);
  return h;
}

/** Runs a command (qemu-img, qemu-io...) and resolves with its stdout; rejects with its stderr. */
export function run(cmd: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

/** A fresh directory `brankas-test-*` under the system temp dir, removed after the suite. */
export async function testDir(after: (fn: () => Promise<void>) => void): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'brankas-test-'));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
