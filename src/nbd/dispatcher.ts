/**
 * The transmission-phase dispatcher: sends requests with unique cookies, keeps
 * up to `maxInFlight` of them outstanding (the rest wait in order), and
 * matches simple replies and structured chunks back to them by cookie.
 *
 * Read data lands directly in the caller's buffer; a READ succeeds only when
 * its data and hole chunks cover the request exactly once. Every request has a
 * timeout; a request that timed out is remembered so its late reply is read
 * and dropped rather than mistaken for a protocol error. When the connection
 * ends, for whatever reason, every outstanding and waiting request rejects
 * with a typed error; a malformed reply destroys the connection, since nothing
 * after it can be trusted.
 */
import { EventEmitter } from 'node:events';
import { Cmd, CMD_NAMES, REPLY_TYPE_ERROR_BIT, ReplyFlag, ReplyType } from './constants.js';
import { NbdClientError, NbdError } from './errors.js';
import {
  parseBlockStatusChunk,
  parseErrorChunk,
  parseHoleChunk,
  protocolError,
  ReplyDecoder,
  type ReplySink,
  type StatusDescriptor,
} from './reply.js';
import type { Wire } from './transport.js';
import { writeRequest } from './wire.js';
import { REQUEST_HEADER_SIZE } from './constants.js';

export interface Request {
  type: number;
  flags?: number;
  offset: number;
  length: number;
  /** READ: where the data goes, exactly `length` bytes. */
  dest?: Buffer;
  /** WRITE: the data, exactly `length` bytes; it must stay unchanged until the request settles. */
  payload?: Uint8Array;
  timeoutMs?: number;
}

/** BLOCK_STATUS results: context id to its descriptors. */
export type StatusReply = Map<number, StatusDescriptor[]>;

interface Pending {
  cookie: number;
  req: Request;
  /** READ with structured replies: [start, end) ranges of the request filled so far. */
  covered: number[];
  status: StatusReply | undefined;
  error: NbdError | undefined;
  timer: NodeJS.Timeout | undefined;
  sent: boolean;
  resolve(status: StatusReply | undefined): void;
  reject(err: Error): void;
}

export interface DispatcherOptions {
  structuredReplies: boolean;
  /** Context ids the server may use in block status chunks. */
  contextIds: ReadonlySet<number>;
  maxInFlight: number;
  timeoutMs: number;
}

export class Dispatcher extends EventEmitter {
  private readonly decoder: ReplyDecoder;
  private readonly pending = new Map<number, Pending>();
  private readonly waiting: Pending[] = [];
  /** Cookies of requests that timed out after being sent, to the size of a simple READ payload. */
  private readonly abandoned = new Map<number, number>();
  private inFlight = 0;
  private nextCookie = 1;
  private closedError: Error | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly wire: Wire,
    private readonly options: DispatcherOptions,
  ) {
    super();
    this.decoder = new ReplyDecoder(this.sink());
    wire.attach({
      data: (chunk) => this.feed(chunk),
      end: (err) =>
        this.destroy(
          new NbdClientError(
            'NBD_CONNECTION_CLOSED',
            err ? `NBD connection failed: ${err.message}` : 'the NBD server closed the connection',
            err ? { cause: err } : undefined,
          ),
        ),
    });
  }

  /** Bytes from the server (the socket's, or what the handshake read ahead). */
  feed(chunk: Uint8Array): void {
    if (this.closedError) return;
    try {
      this.decoder.push(chunk);
    } catch (err) {
      this.destroy(err as Error);
    }
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  /** Requests sent or waiting to be sent. */
  get outstanding(): number {
    return this.pending.size + this.waiting.length;
  }

  /** Sends a request; resolves when its reply is complete (with block status, if any). */
  submit(req: Request): Promise<StatusReply | undefined> {
    if (this.closedError) return Promise.reject(this.closedFor(req, this.closedError));
    const cookie = this.nextCookie++;
    return new Promise((resolve, reject) => {
      const p: Pending = {
        cookie,
        req,
        covered: [],
        status: undefined,
        error: undefined,
        timer: undefined,
        sent: false,
        resolve,
        reject,
      };
      const timeoutMs = req.timeoutMs ?? this.options.timeoutMs;
      if (timeoutMs > 0) p.timer = setTimeout(() => this.timeout(p, timeoutMs), timeoutMs);
      if (this.inFlight < this.options.maxInFlight) this.send(p);
      else this.waiting.push(p);
    });
  }

  /** Sends NBD_CMD_DISC, which has no reply. */
  disconnect(): void {
    if (this.closedError) return;
    const header = Buffer.allocUnsafe(REQUEST_HEADER_SIZE);
    writeRequest(header, 0, Cmd.DISC, this.nextCookie++, 0, 0);
    this.wire.write(header);
  }

  /** Resolves once no request is outstanding (or the connection is gone). */
  idle(): Promise<void> {
    if (this.outstanding === 0 || this.closedError) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private send(p: Pending): void {
    const { req } = p;
    p.sent = true;
    this.inFlight++;
    this.pending.set(p.cookie, p);
    const header = Buffer.allocUnsafe(REQUEST_HEADER_SIZE);
    writeRequest(header, req.flags ?? 0, req.type, p.cookie, req.offset, req.length);
    if (req.type === Cmd.WRITE && req.payload) this.wire.write(header, req.payload);
    else this.wire.write(header);
  }

  private timeout(p: Pending, ms: number): void {
    p.timer = undefined;
    if (p.sent) {
      this.pending.delete(p.cookie);
      const simpleRead = p.req.type === Cmd.READ && !this.options.structuredReplies;
      this.abandoned.set(p.cookie, simpleRead ? p.req.length : 0);
    } else {
      this.waiting.splice(this.waiting.indexOf(p), 1);
    }
    p.reject(
      new NbdClientError('NBD_TIMEOUT', `NBD ${describe(p.req)} did not complete within ${ms} ms`, {
        details: { command: CMD_NAMES[p.req.type], offset: p.req.offset, length: p.req.length },
      }),
    );
    this.checkIdle();
  }

  /** A reply for this cookie has ended: frees its slot and sends the next waiting request. */
  private release(cookie: number): void {
    this.pending.delete(cookie);
    this.abandoned.delete(cookie);
    this.inFlight--;
    while (this.inFlight < this.options.maxInFlight && this.waiting.length > 0) {
      this.send(this.waiting.shift()!);
    }
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.outstanding > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private settle(p: Pending): void {
    if (p.error) {
      this.release(p.cookie);
      if (p.timer) clearTimeout(p.timer);
      p.reject(p.error);
      return;
    }
    // Checked before the request leaves `pending`: if this throws, destroy() still rejects it.
    if (p.req.type === Cmd.READ && this.options.structuredReplies) checkCoverage(p);
    this.release(p.cookie);
    if (p.timer) clearTimeout(p.timer);
    p.resolve(p.status);
  }

  /** The pending request for a cookie; undefined for one that timed out; throws for a stranger. */
  private lookup(cookie: number): Pending | undefined {
    const p = this.pending.get(cookie);
    if (p) return p;
    if (this.abandoned.has(cookie)) return undefined;
    throw protocolError(`reply for cookie ${cookie}, which matches no request`);
  }

  private sink(): ReplySink {
    return {
      simple: (cookie, error) => {
        const p = this.lookup(cookie);
        if (!p) {
          const length = error === 0 ? (this.abandoned.get(cookie) ?? 0) : 0;
          if (length === 0) this.release(cookie);
          return length > 0 ? Buffer.allocUnsafe(length) : undefined;
        }
        const { type } = p.req;
        if (type === Cmd.READ && this.options.structuredReplies) {
          throw protocolError('a simple reply to READ after structured replies were negotiated');
        }
        if (error !== 0) {
          p.error = new NbdError(error, type, p.req);
          this.settle(p);
          return undefined;
        }
        if (type === Cmd.BLOCK_STATUS) throw protocolError('a simple reply to BLOCK_STATUS');
        if (type === Cmd.READ) return p.req.dest;
        this.settle(p);
        return undefined;
      },
      simpleEnd: (cookie) => {
        const p = this.pending.get(cookie);
        if (p) this.settle(p);
        else this.release(cookie);
      },
      dataStart: (cookie, _flags, offset, length) => {
        const p = this.lookup(cookie);
        if (!p) return undefined;
        const rel = this.claim(p, offset, length);
        return p.req.dest!.subarray(rel, rel + length);
      },
      dataEnd: (cookie, flags) => this.endOfChunk(cookie, flags),
      chunk: (cookie, flags, type, payload) => {
        const p = this.lookup(cookie);
        if (p) this.onChunk(p, type, payload);
        this.endOfChunk(cookie, flags);
      },
    };
  }

  private endOfChunk(cookie: number, flags: number): void {
    if (!(flags & ReplyFlag.DONE)) return;
    const p = this.pending.get(cookie);
    if (p) this.settle(p);
    else this.release(cookie);
  }

  /** Checks a content chunk lies inside a READ and records it; returns its offset in the request. */
  private claim(p: Pending, offset: number, length: number): number {
    const { req } = p;
    if (req.type !== Cmd.READ) throw protocolError(`a content chunk in reply to ${describe(req)}`);
    const rel = offset - req.offset;
    if (rel < 0 || rel + length > req.length) {
      throw protocolError(`content at ${offset}+${length} outside ${describe(req)}`);
    }
    p.covered.push(rel, rel + length);
    return rel;
  }

  private onChunk(p: Pending, type: number, payload: Buffer): void {
    switch (type) {
      case ReplyType.NONE:
        return;
      case ReplyType.OFFSET_HOLE: {
        const hole = parseHoleChunk(payload);
        const rel = this.claim(p, hole.offset, hole.length);
        p.req.dest!.fill(0, rel, rel + hole.length);
        return;
      }
      case ReplyType.BLOCK_STATUS: {
        if (p.req.type !== Cmd.BLOCK_STATUS) {
          throw protocolError(`block status in reply to ${describe(p.req)}`);
        }
        const { contextId, descriptors } = parseBlockStatusChunk(payload);
        if (!this.options.contextIds.has(contextId)) {
          throw protocolError(`block status for context id ${contextId}, never selected`);
        }
        p.status ??= new Map();
        if (p.status.has(contextId)) {
          throw protocolError(`two block status chunks for context id ${contextId}`);
        }
        p.status.set(contextId, descriptors);
        return;
      }
      default: {
        if (!(type & REPLY_TYPE_ERROR_BIT)) throw protocolError(`unexpected chunk type ${type}`);
        const e = parseErrorChunk(type, payload);
        if (e.error === 0) throw protocolError('an error chunk with error value 0');
        p.error ??= new NbdError(e.error, p.req.type, {
          offset: p.req.offset,
          length: p.req.length,
          message: e.message,
          errorOffset: e.offset,
        });
      }
    }
  }

  private closedFor(req: Request, reason: Error): NbdClientError {
    return new NbdClientError(
      'NBD_CONNECTION_CLOSED',
      `NBD ${describe(req)} failed: the connection is closed (${reason.message})`,
      { cause: reason },
    );
  }

  /** Aborts the connection: every outstanding request rejects. Idempotent. */
  destroy(err?: Error): void {
    if (this.closedError) return;
    const reason =
      err ?? new NbdClientError('NBD_CONNECTION_CLOSED', 'the NBD connection was destroyed');
    this.closedError = reason;
    const all = [...this.pending.values(), ...this.waiting];
    this.pending.clear();
    this.waiting.length = 0;
    this.abandoned.clear();
    for (const p of all) {
      if (p.timer) clearTimeout(p.timer);
      // A protocol violation is itself the most useful error for the requests it kills.
      p.reject(
        reason instanceof NbdClientError && reason.code === 'NBD_PROTOCOL'
          ? reason
          : this.closedFor(p.req, reason),
      );
    }
    this.wire.destroy();
    this.checkIdle();
    this.emit('close', reason);
  }

  /** Marks the dispatcher closed without failing anything (after a graceful disconnect). */
  markClosed(reason: Error): void {
    if (!this.closedError) this.closedError = reason;
  }
}

/** A READ's content chunks must cover it exactly: no gap, no overlap. */
function checkCoverage(p: Pending): void {
  const c = p.covered;
  const ranges: [number, number][] = [];
  for (let i = 0; i < c.length; i += 2) ranges.push([c[i]!, c[i + 1]!]);
  ranges.sort((a, b) => a[0] - b[0]);
  let at = 0;
  for (const [start, end] of ranges) {
    if (start !== at) {
      throw protocolError(
        `${describe(p.req)} ${start < at ? 'overlapping content' : `nothing for ${at}..${start}`}`,
      );
    }
    at = end;
  }
  if (at !== p.req.length) throw protocolError(`${describe(p.req)} answered only up to ${at}`);
}

function describe(req: Request): string {
  const name = CMD_NAMES[req.type] ?? `command ${req.type}`;
  return req.type === Cmd.FLUSH ? name : `${name} at offset ${req.offset} length ${req.length}`;
}
