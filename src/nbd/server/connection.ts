/**
 * One client of the NBD server: the handshake, then the transmission phase.
 * Requests are read one after another and served concurrently (up to
 * MAX_IN_FLIGHT requests and MAX_IN_FLIGHT_BYTES of reads at once; the socket
 * is paused beyond that), each reply written
 * whole when ready, so replies may come out of order, matched by cookie. Reads
 * are answered with data and hole chunks when structured replies were
 * negotiated. Anything malformed destroys this connection and only it.
 */
import type { Socket } from 'node:net';
import { ByteReader } from '../byte-reader.js';
import {
  Cmd,
  CmdFlag,
  MAX_PAYLOAD,
  NBD_REQUEST_MAGIC,
  NBD_STATE_HOLE,
  NBD_STATE_ZERO,
  NbdErrno,
  REQUEST_HEADER_SIZE,
} from '../constants.js';
import {
  BASE_ALLOCATION_ID,
  misbehaved,
  serveHandshake,
  type Exports,
  type Negotiated,
} from './handshake.js';
import type { ExportExtent, NbdExport } from './types.js';
import {
  encodeBlockStatusChunk,
  encodeDataChunk,
  encodeErrorChunk,
  encodeHoleChunk,
  encodeNoneChunk,
  encodeSimpleReply,
} from './wire.js';

const MAX_IN_FLIGHT = 16;
/** Bytes of reads being served at once per connection (one read of MAX_PAYLOAD always may). */
const MAX_IN_FLIGHT_BYTES = 64 * 1024 * 1024;
/** Bytes buffered from the client before the socket is paused. */
const HIGH_WATER = MAX_PAYLOAD + 1024 * 1024;
/** Block status descriptors in one reply, at most (the protocol allows 2^20). */
const MAX_DESCRIPTORS = 4096;

interface Request {
  flags: number;
  type: number;
  cookie: Buffer;
  offset: number;
  length: number;
}

class Refusal extends Error {
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}

export class ServerConnection {
  private readonly input = new ByteReader();
  private buffered = 0;
  private inFlight = 0;
  private inFlightBytes = 0;
  private slotFree: (() => void) | undefined;
  private drained: (() => void) | undefined;
  private closed = false;

  constructor(
    private readonly socket: Socket,
    private readonly exports: Exports,
    private readonly onError: (err: Error) => void,
  ) {
    socket.on('data', (b: Buffer) => {
      this.buffered += b.length;
      if (this.buffered > HIGH_WATER) socket.pause();
      this.input.push(b);
    });
    const gone = (err?: Error): void => {
      this.closed = true;
      this.input.fail(err ?? new Error('connection closed'));
    };
    socket.on('end', () => gone());
    socket.on('close', () => gone());
    socket.on('error', (err) => gone(err));
    void this.run();
  }

  /** Ends the connection at once (the server is closing). */
  destroy(): void {
    this.socket.destroy();
  }

  private async run(): Promise<void> {
    try {
      const io = { input: this.input, send: (b: Buffer) => this.send(b) };
      const session = await serveHandshake(io, this.exports);
      if (session) await this.transmit(session);
      this.socket.end();
    } catch (err) {
      if (!this.closed) this.onError(err as Error);
      this.socket.destroy();
    }
  }

  private async read(n: number): Promise<Buffer> {
    const b = await this.input.read(n);
    this.buffered -= n;
    if (this.socket.isPaused() && this.buffered <= HIGH_WATER) this.socket.resume();
    return b;
  }

  private send(data: Buffer): void {
    if (!this.closed) this.socket.write(data);
  }

  private async transmit(s: Negotiated): Promise<void> {
    for (;;) {
      const head = await this.read(REQUEST_HEADER_SIZE);
      if (head.readUInt32BE(0) !== NBD_REQUEST_MAGIC) throw misbehaved('bad request magic');
      const req: Request = {
        flags: head.readUInt16BE(4),
        type: head.readUInt16BE(6),
        cookie: Buffer.from(head.subarray(8, 16)),
        offset: Number(head.readBigUInt64BE(16)),
        length: head.readUInt32BE(24),
      };
      if (req.type === Cmd.DISC) break;
      if (req.type === Cmd.WRITE) {
        // The payload follows the header whatever the answer; too large a one is not honest.
        if (req.length > MAX_PAYLOAD) throw misbehaved(`write of ${req.length} bytes`);
        if (req.length) await this.read(req.length);
        this.refuse(s, req, new Refusal(NbdErrno.EPERM, 'the export is read-only'));
        continue;
      }
      const bytes = req.type === Cmd.READ ? Math.min(req.length, MAX_PAYLOAD) : 0;
      while (
        this.inFlight >= MAX_IN_FLIGHT ||
        (this.inFlight > 0 && this.inFlightBytes + bytes > MAX_IN_FLIGHT_BYTES)
      ) {
        await new Promise<void>((r) => (this.slotFree = r));
      }
      this.inFlight++;
      this.inFlightBytes += bytes;
      void this.serve(s, req).finally(() => {
        this.inFlight--;
        this.inFlightBytes -= bytes;
        this.slotFree?.();
        this.slotFree = undefined;
        if (this.inFlight === 0) this.drained?.();
      });
    }
    // NBD_CMD_DISC: answer what is in flight, then close.
    if (this.inFlight > 0) await new Promise<void>((r) => (this.drained = r));
  }

  private async serve(s: Negotiated, req: Request): Promise<void> {
    try {
      switch (req.type) {
        case Cmd.READ:
          return await this.serveRead(s, req);
        case Cmd.BLOCK_STATUS:
          return await this.serveBlockStatus(s, req);
        case Cmd.FLUSH:
          return this.send(
            s.structured ? encodeNoneChunk(req.cookie) : encodeSimpleReply(0, req.cookie),
          );
        case Cmd.TRIM:
        case Cmd.WRITE_ZEROES:
          throw new Refusal(NbdErrno.EPERM, 'the export is read-only');
        default:
          throw new Refusal(NbdErrno.EINVAL, `command ${req.type} is not supported`);
      }
    } catch (err) {
      const refusal =
        err instanceof Refusal ? err : new Refusal(NbdErrno.EIO, (err as Error).message);
      // A read cut short by the server closing is no failure worth reporting.
      if (!(err instanceof Refusal) && !this.closed) this.onError(err as Error);
      this.refuse(s, req, refusal);
    }
  }

  private refuse(s: Negotiated, req: Request, r: Refusal): void {
    this.send(
      s.structured
        ? encodeErrorChunk(req.cookie, r.errno, r.message)
        : encodeSimpleReply(r.errno, req.cookie),
    );
  }

  private checkRange(ex: NbdExport, req: Request): void {
    if (req.offset + req.length > ex.size) {
      throw new Refusal(
        NbdErrno.EINVAL,
        `range ${req.offset}+${req.length} is past the end of the export (${ex.size})`,
      );
    }
  }

  private async serveRead(s: Negotiated, req: Request): Promise<void> {
    const ex = s.export;
    this.checkRange(ex, req);
    if (req.length > MAX_PAYLOAD) throw new Refusal(NbdErrno.EOVERFLOW, 'read too large');
    if (!s.structured || req.length === 0 || req.flags & CmdFlag.DF) {
      const data = Buffer.allocUnsafe(req.length);
      await ex.readInto(data, req.offset, req.length);
      if (!s.structured) {
        this.send(Buffer.concat([encodeSimpleReply(0, req.cookie), data]));
      } else {
        this.send(
          Buffer.concat([encodeDataChunk(req.cookie, req.offset, data.length, true), data]),
        );
      }
      return;
    }
    // Holes are sent as hole chunks (12 bytes), data read only where there is data.
    const runs = clip(await ex.extents(req.offset, req.length), req.offset, req.length);
    const chunks: Buffer[] = [];
    for (const r of runs) {
      if (r.kind === 'data') {
        const data = Buffer.allocUnsafe(r.length);
        await ex.readInto(data, r.offset, r.length);
        chunks.push(encodeDataChunk(req.cookie, r.offset, r.length, false), data);
      } else chunks.push(encodeHoleChunk(req.cookie, r.offset, r.length, false));
    }
    chunks.push(encodeNoneChunk(req.cookie));
    this.send(Buffer.concat(chunks));
  }

  private async serveBlockStatus(s: Negotiated, req: Request): Promise<void> {
    if (!s.structured || !s.baseAllocation) {
      throw new Refusal(NbdErrno.EINVAL, 'no metadata context was selected');
    }
    if (req.length === 0) throw new Refusal(NbdErrno.EINVAL, 'block status of 0 bytes');
    this.checkRange(s.export, req);
    let runs = clip(await s.export.extents(req.offset, req.length), req.offset, req.length);
    runs = runs.slice(0, req.flags & CmdFlag.REQ_ONE ? 1 : MAX_DESCRIPTORS);
    const descriptors = runs.map((r) => ({
      length: r.length,
      flags:
        r.kind === 'hole'
          ? NBD_STATE_HOLE | NBD_STATE_ZERO
          : r.kind === 'zero'
            ? NBD_STATE_ZERO
            : 0,
    }));
    this.send(encodeBlockStatusChunk(req.cookie, BASE_ALLOCATION_ID, descriptors));
  }
}

/**
 * The runs inside [offset, offset+length), adjacent ones of a kind merged; a gap or overlap in
 * what the export returned is its bug, reported as EIO rather than served.
 */
export function clip(
  runs: readonly ExportExtent[],
  offset: number,
  length: number,
): ExportExtent[] {
  const end = offset + length;
  const out: ExportExtent[] = [];
  let at = offset;
  for (const r of runs) {
    const a = Math.max(r.offset, at);
    const b = Math.min(r.offset + r.length, end);
    if (b <= a) continue;
    if (a !== at) throw new Refusal(NbdErrno.EIO, `the export's map has a gap at ${at}`);
    const last = out.at(-1);
    if (last && last.kind === r.kind) last.length += b - a;
    else out.push({ offset: a, length: b - a, kind: r.kind });
    at = b;
  }
  if (at !== end) throw new Refusal(NbdErrno.EIO, `the export's map ends at ${at}, before ${end}`);
  return out;
}
