/**
 * The typed NBD client: `NbdClient.connect()` to a unix socket or TCP port,
 * then read, write, writeZeroes, trim, flush and blockStatus on the export.
 *
 * Requests are checked against the export before they are sent (bounds, the
 * server's minimum block size, what the export supports) and split to fit the
 * protocol: reads and writes into pieces of at most the server's maximum
 * payload (32 MiB at most), all in flight at once and filling one buffer;
 * zeroing and trimming into 1 GiB pieces. Like undici, the client has a
 * graceful `close()` (waits for outstanding requests, sends NBD_CMD_DISC) and
 * an immediate `destroy(err)`.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { Cmd, CmdFlag, CONTEXT_BASE_ALLOCATION, TransmissionFlag } from './constants.js';
import { Dispatcher, type Request } from './dispatcher.js';
import { NbdClientError } from './errors.js';
import { listContexts, negotiate, type ExportInfo } from './handshake.js';
import { protocolError } from './reply.js';
import { endWire, handshaking, targetOf } from './session.js';
import { describeTarget, Wire, type NbdTarget } from './transport.js';

export interface NbdClientOptions {
  /** The export to open; '' is the server's default export. */
  exportName?: string;
  /** Metadata contexts to select, e.g. `base:allocation`; each must be offered. */
  metaContexts?: readonly string[];
  /** Connecting and the handshake together, in ms (default 30 s; 0: none). */
  connectTimeoutMs?: number;
  /** Default timeout of each request, in ms (default 120 s; 0: none). */
  requestTimeoutMs?: number;
  /** Requests outstanding on the wire at once; more wait in order (default 64). */
  maxInFlight?: number;
}

export type NbdConnectOptions = NbdTarget & NbdClientOptions;

export interface RequestOptions {
  timeoutMs?: number;
}

export interface WriteOptions extends RequestOptions {
  /** Force unit access: the reply waits until the data is on stable storage. */
  fua?: boolean;
}

export interface WriteZeroesOptions extends WriteOptions {
  /** Keep the range allocated (NBD_CMD_FLAG_NO_HOLE) instead of letting the server punch a hole. */
  noHole?: boolean;
}

/** One run of equal status flags, in absolute export offsets. */
export interface StatusExtent {
  offset: number;
  length: number;
  flags: number;
}

/** The 32-bit length field caps one request; zeroing and trimming go in pieces of this. */
const EFFECT_PIECE = 1 << 30;

export class NbdClient extends EventEmitter {
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly wire: Wire,
    private readonly dispatcher: Dispatcher,
    /** What the handshake learned: size, flags, block sizes, selected contexts. */
    readonly info: ExportInfo,
  ) {
    super();
    dispatcher.on('close', (err: Error) => this.emit('close', err));
  }

  /** Connects to an NBD server and opens the export. */
  static async connect(options: NbdConnectOptions): Promise<NbdClient> {
    const timeoutMs = options.connectTimeoutMs ?? 30_000;
    const where = targetOf(options);
    const wire = await Wire.connect(where, timeoutMs);
    return NbdClient.open(wire, options, describeTarget(where));
  }

  /** Runs the handshake over an already connected stream (an in-memory peer, a tunnel). */
  static over(stream: Duplex, options: NbdClientOptions = {}): Promise<NbdClient> {
    return NbdClient.open(Wire.fromStream(stream), options, 'the stream');
  }

  /** Lists the metadata contexts an export offers for `queries` (all of them when empty). */
  static async listMetaContexts(
    options: NbdConnectOptions & { queries?: readonly string[] },
  ): Promise<string[]> {
    const timeoutMs = options.connectTimeoutMs ?? 30_000;
    const where = targetOf(options);
    const wire = await Wire.connect(where, timeoutMs);
    try {
      const { result } = await handshaking(wire, describeTarget(where), timeoutMs, (io) =>
        listContexts(io, options.exportName ?? '', options.queries ?? []),
      );
      return result;
    } finally {
      wire.end();
    }
  }

  private static async open(
    wire: Wire,
    options: NbdClientOptions,
    where: string,
  ): Promise<NbdClient> {
    const exportName = options.exportName ?? '';
    const { result: info, leftover } = await handshaking(
      wire,
      where,
      options.connectTimeoutMs ?? 30_000,
      (io) => negotiate(io, { exportName, metaContexts: options.metaContexts ?? [] }),
    );
    const dispatcher = new Dispatcher(wire, {
      structuredReplies: info.structuredReplies,
      contextIds: new Set(info.contexts.values()),
      maxInFlight: options.maxInFlight ?? 64,
      timeoutMs: options.requestTimeoutMs ?? 120_000,
    });
    const client = new NbdClient(wire, dispatcher, info);
    if (leftover.length > 0) dispatcher.feed(leftover);
    if (wire.isEnded) {
      dispatcher.destroy(
        new NbdClientError('NBD_CONNECTION_CLOSED', 'the NBD server closed the connection'),
      );
    }
    return client;
  }

  /** The export's size in bytes. */
  get size(): number {
    return this.info.size;
  }

  get readOnly(): boolean {
    return (this.info.flags & TransmissionFlag.READ_ONLY) !== 0;
  }

  /** Flush and FUA reach stable storage for every connection to the export. */
  get canMultiConn(): boolean {
    return (this.info.flags & TransmissionFlag.CAN_MULTI_CONN) !== 0;
  }

  /** Names of the selected metadata contexts. */
  get metaContexts(): string[] {
    return [...this.info.contexts.keys()];
  }

  get closed(): boolean {
    return this.dispatcher.closed;
  }

  /** Requests sent or waiting to be sent. */
  get outstanding(): number {
    return this.dispatcher.outstanding;
  }

  /** Reads `length` bytes at `offset` into a new buffer. */
  async read(offset: number, length: number, options: RequestOptions = {}): Promise<Buffer> {
    this.checkRange('read', offset, length);
    const mb = this.info.minBlock;
    const start = offset - (offset % mb);
    const end = Math.min(this.size, Math.ceil((offset + length) / mb) * mb);
    // Unaligned reads are widened to whole blocks; the caller gets a view of its part.
    const buf = Buffer.allocUnsafe(end - start);
    await this.readAligned(buf, start, options);
    return start === offset && end === offset + length
      ? buf
      : buf.subarray(offset - start, offset - start + length);
  }

  /** Reads `dest.length` bytes at `offset` into `dest`; both aligned to the minimum block size. */
  async readInto(dest: Buffer, offset: number, options: RequestOptions = {}): Promise<void> {
    this.checkRange('read', offset, dest.length);
    this.checkAligned('read', offset, dest.length);
    await this.readAligned(dest, offset, options);
  }

  private async readAligned(dest: Buffer, offset: number, options: RequestOptions): Promise<void> {
    const parts: Promise<unknown>[] = [];
    const piece = this.info.maxPayload;
    for (let at = 0; at < dest.length; at += piece) {
      const n = Math.min(piece, dest.length - at);
      parts.push(
        this.dispatcher.submit({
          type: Cmd.READ,
          offset: offset + at,
          length: n,
          dest: dest.subarray(at, at + n),
          timeoutMs: options.timeoutMs,
        }),
      );
    }
    await settleAll(parts);
  }

  /** Writes `data` at `offset`. The data must not change until the promise settles. */
  async write(offset: number, data: Uint8Array, options: WriteOptions = {}): Promise<void> {
    this.checkWritable('write', offset, data.length);
    const flags = this.fuaFlag(options);
    const parts: Promise<unknown>[] = [];
    const piece = this.info.maxPayload;
    for (let at = 0; at < data.length; at += piece) {
      const n = Math.min(piece, data.length - at);
      parts.push(
        this.dispatcher.submit({
          type: Cmd.WRITE,
          flags,
          offset: offset + at,
          length: n,
          payload: data.subarray(at, at + n),
          timeoutMs: options.timeoutMs,
        }),
      );
    }
    await settleAll(parts);
  }

  /** Makes the range read as zeroes, without sending them. */
  async writeZeroes(
    offset: number,
    length: number,
    options: WriteZeroesOptions = {},
  ): Promise<void> {
    this.checkWritable('writeZeroes', offset, length);
    this.require(TransmissionFlag.SEND_WRITE_ZEROES, 'WRITE_ZEROES');
    const flags = this.fuaFlag(options) | (options.noHole ? CmdFlag.NO_HOLE : 0);
    await this.inPieces(Cmd.WRITE_ZEROES, flags, offset, length, options);
  }

  /** Tells the server the range is no longer needed; its content is undefined afterwards. */
  async trim(offset: number, length: number, options: WriteOptions = {}): Promise<void> {
    this.checkWritable('trim', offset, length);
    this.require(TransmissionFlag.SEND_TRIM, 'TRIM');
    await this.inPieces(Cmd.TRIM, this.fuaFlag(options), offset, length, options);
  }

  /** Waits until every write the server has answered is on stable storage. */
  async flush(options: RequestOptions = {}): Promise<void> {
    this.require(TransmissionFlag.SEND_FLUSH, 'FLUSH');
    await this.dispatcher.submit({ type: Cmd.FLUSH, offset: 0, length: 0, ...options });
  }

  /**
   * The status of `[offset, offset+length)` in one metadata context: one or
   * more consecutive extents from `offset`, possibly covering less than asked
   * (the server decides; ask again from where it stopped), never more.
   */
  async blockStatus(
    offset: number,
    length: number,
    context: string = CONTEXT_BASE_ALLOCATION,
    options: RequestOptions = {},
  ): Promise<StatusExtent[]> {
    this.checkRange('blockStatus', offset, length);
    this.checkAligned('blockStatus', offset, 0);
    const id = this.info.contexts.get(context);
    if (id === undefined) {
      throw new NbdClientError(
        'NBD_META_CONTEXT_UNAVAILABLE',
        `metadata context ${context} was not selected when connecting` +
          ` (selected: ${this.metaContexts.join(', ') || 'none'})`,
      );
    }
    const mb = this.info.minBlock;
    const cap = Math.floor(0xffffffff / mb) * mb;
    const asked = Math.min(length, cap);
    const status = await this.dispatcher.submit({
      type: Cmd.BLOCK_STATUS,
      offset,
      length: asked,
      ...options,
    });
    const descriptors = status?.get(id);
    if (!descriptors) {
      const err = protocolError(`no block status for ${context} at offset ${offset}`);
      this.dispatcher.destroy(err);
      throw err;
    }
    const end = offset + asked;
    const extents: StatusExtent[] = [];
    let at = offset;
    for (const d of descriptors) {
      if (at >= end) break;
      // The last descriptor may reach past the request: keep only what was asked.
      const n = Math.min(d.length, end - at);
      extents.push({ offset: at, length: n, flags: d.flags });
      at += n;
    }
    return extents;
  }

  /**
   * Ends the session gracefully: waits for outstanding requests, sends
   * NBD_CMD_DISC, and closes the socket. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.dispatcher.idle();
      if (this.dispatcher.closed) return;
      this.dispatcher.disconnect();
      this.dispatcher.markClosed(
        new NbdClientError('NBD_CONNECTION_CLOSED', 'the NBD connection was closed'),
      );
      await endWire(this.wire);
      this.emit('close');
    })();
    return this.closing;
  }

  /** Aborts the connection at once: every outstanding request rejects with `err`. Idempotent. */
  destroy(err?: Error): void {
    this.dispatcher.destroy(err);
  }

  private inPieces(
    type: number,
    flags: number,
    offset: number,
    length: number,
    options: RequestOptions,
  ): Promise<void> {
    const parts: Promise<unknown>[] = [];
    const mb = this.info.minBlock;
    const piece = EFFECT_PIECE - (EFFECT_PIECE % mb);
    for (let at = 0; at < length; at += piece) {
      const req: Request = {
        type,
        flags,
        offset: offset + at,
        length: Math.min(piece, length - at),
      };
      parts.push(this.dispatcher.submit({ ...req, timeoutMs: options.timeoutMs }));
    }
    return settleAll(parts);
  }

  private fuaFlag(options: WriteOptions): number {
    if (!options.fua) return 0;
    this.require(TransmissionFlag.SEND_FUA, 'FUA');
    return CmdFlag.FUA;
  }

  private require(flag: number, what: string): void {
    if (!(this.info.flags & flag)) {
      throw new NbdClientError(
        'NBD_UNSUPPORTED',
        `the NBD export '${this.info.exportName}' does not support ${what}`,
      );
    }
  }

  private checkRange(op: string, offset: number, length: number): void {
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > this.size
    ) {
      throw new NbdClientError(
        'NBD_INVALID_ARGUMENT',
        `NBD ${op} of ${length} bytes at offset ${offset} is outside the export (${this.size} bytes)`,
      );
    }
  }

  private checkAligned(op: string, offset: number, length: number): void {
    const mb = this.info.minBlock;
    if (offset % mb !== 0 || length % mb !== 0) {
      throw new NbdClientError(
        'NBD_INVALID_ARGUMENT',
        `NBD ${op} at offset ${offset} length ${length} is not aligned to the export's ${mb}-byte blocks`,
      );
    }
  }

  private checkWritable(op: string, offset: number, length: number): void {
    if (this.readOnly) {
      throw new NbdClientError(
        'NBD_READ_ONLY',
        `cannot ${op}: the NBD export '${this.info.exportName}' is read-only`,
      );
    }
    this.checkRange(op, offset, length);
    this.checkAligned(op, offset, length);
  }
}

/** Waits for every part, then rejects with the first failure (no rejection left unhandled). */
async function settleAll(parts: Promise<unknown>[]): Promise<void> {
  if (parts.length === 1) {
    await parts[0];
    return;
  }
  const results = await Promise.allSettled(parts);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}
