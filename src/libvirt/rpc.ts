/**
 * The RPC dispatcher: one connection to a libvirt daemon over any duplex byte
 * stream (unix socket, TCP, an SSH channel).
 *
 * Replies are matched to calls by serial; asynchronous messages (events,
 * keepalive) are routed by program and procedure, never by serial. Every call
 * has a timeout. When the connection ends, for whatever reason, every pending
 * call rejects with a typed error; a malformed frame destroys the connection
 * rather than being skipped, since nothing after it can be trusted.
 */
import type { Duplex } from 'node:stream';
import { EventEmitter } from 'node:events';
import { FrameDecoder, encodeFrame, MessageStatus, MessageType, type Frame } from './frame.js';
import { LibvirtClientError, LibvirtError } from './errors.js';
import { decodeRemoteError } from './types.js';
import { KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, KeepaliveProc } from './procedures.js';
import { RpcStream } from './stream.js';

export interface RpcOptions {
  /** Default timeout of a call, in ms; 0 means none. */
  callTimeoutMs?: number;
  /** Send a keepalive PING after this much silence from the peer (ms); 0 disables. */
  keepaliveIntervalMs?: number;
  /** Unanswered PINGs before the peer is declared dead. */
  keepaliveCount?: number;
}

export interface CallOptions {
  timeoutMs?: number;
  /** Name used in error messages, e.g. "DOMAIN_LOOKUP_BY_NAME". */
  name?: string;
}

interface Pending {
  resolve(payload: Buffer): void;
  reject(err: Error): void;
  name: string;
  timer: NodeJS.Timeout | undefined;
  stream?: RpcStream;
}

type MessageHandler = (payload: Buffer) => void;

export class RpcClient extends EventEmitter {
  private readonly decoder = new FrameDecoder();
  private readonly pending = new Map<number, Pending>();
  private readonly streams = new Map<number, RpcStream>();
  private readonly handlers = new Map<string, Set<MessageHandler>>();
  private serial = 0;
  private closedError: Error | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private unansweredPings = 0;
  readonly callTimeoutMs: number;

  constructor(
    private readonly socket: Duplex,
    options: RpcOptions = {},
  ) {
    super();
    this.callTimeoutMs = options.callTimeoutMs ?? 60_000;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) =>
      this.destroy(
        new LibvirtClientError('LIBVIRT_CONNECTION_CLOSED', `connection error: ${err.message}`, {
          cause: err,
        }),
      ),
    );
    // A half-open duplex (an ssh pipe) ends without closing: the peer is gone either way.
    socket.on('end', () =>
      this.destroy(
        new LibvirtClientError(
          'LIBVIRT_CONNECTION_CLOSED',
          'the libvirt daemon closed the connection',
        ),
      ),
    );
    socket.on('close', () =>
      this.destroy(
        new LibvirtClientError(
          'LIBVIRT_CONNECTION_CLOSED',
          'the libvirt daemon closed the connection',
        ),
      ),
    );
    const interval = options.keepaliveIntervalMs ?? 0;
    if (interval > 0) this.startKeepalive(interval, options.keepaliveCount ?? 5);
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  /** Calls a procedure and resolves with the reply payload, or rejects with a LibvirtError. */
  call(
    program: number,
    version: number,
    procedure: number,
    payload: Buffer,
    options: CallOptions = {},
  ): Promise<Buffer> {
    return this.start(program, version, procedure, payload, options).reply;
  }

  /**
   * Calls a procedure that opens a data stream (volume upload/download). The
   * stream shares the call's serial; its frames are routed to it.
   */
  callStream(
    program: number,
    version: number,
    procedure: number,
    payload: Buffer,
    options: CallOptions = {},
  ): { reply: Promise<Buffer>; stream: RpcStream } {
    const { serial, reply } = this.start(program, version, procedure, payload, options);
    const stream = new RpcStream(
      (type, status, data) =>
        this.write({ program, version, procedure, type, serial, status }, data),
      options.name ?? String(procedure),
      () => this.streams.delete(serial),
    );
    this.streams.set(serial, stream);
    reply.catch((err: Error) => stream.fail(err));
    return { reply, stream };
  }

  private start(
    program: number,
    version: number,
    procedure: number,
    payload: Buffer,
    options: CallOptions,
  ): { serial: number; reply: Promise<Buffer> } {
    const name = options.name ?? `procedure ${procedure}`;
    if (this.closedError) {
      return { serial: -1, reply: Promise.reject(this.wrapClosed(this.closedError, name)) };
    }
    this.serial = (this.serial + 1) >>> 0;
    const serial = this.serial;
    const reply = new Promise<Buffer>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.callTimeoutMs;
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              this.pending.delete(serial);
              this.streams.get(serial)?.fail(this.timeoutError(name, timeoutMs));
              reject(this.timeoutError(name, timeoutMs));
            }, timeoutMs)
          : undefined;
      this.pending.set(serial, { resolve, reject, name, timer });
    });
    try {
      this.write(
        { program, version, procedure, type: MessageType.CALL, serial, status: MessageStatus.OK },
        payload,
      );
    } catch (err) {
      const p = this.pending.get(serial);
      this.pending.delete(serial);
      if (p?.timer) clearTimeout(p.timer);
      return { serial, reply: Promise.reject(err as Error) };
    }
    return { serial, reply };
  }

  private timeoutError(name: string, ms: number): LibvirtClientError {
    return new LibvirtClientError(
      'LIBVIRT_TIMEOUT',
      `libvirt call ${name} did not answer within ${ms} ms`,
    );
  }

  private wrapClosed(err: Error, name: string): Error {
    return new LibvirtClientError(
      'LIBVIRT_CONNECTION_CLOSED',
      `libvirt call ${name} failed: connection is closed (${err.message})`,
      { cause: err },
    );
  }

  /** Subscribes to asynchronous messages of one program and procedure. */
  onMessage(program: number, procedure: number, handler: MessageHandler): () => void {
    const key = `${program}:${procedure}`;
    let set = this.handlers.get(key);
    if (!set) this.handlers.set(key, (set = new Set()));
    set.add(handler);
    return () => set.delete(handler);
  }

  private write(header: Parameters<typeof encodeFrame>[0], payload?: Uint8Array): void {
    if (this.closedError) throw this.wrapClosed(this.closedError, 'write');
    this.socket.write(encodeFrame(header, payload));
  }

  private onData(chunk: Buffer): void {
    this.unansweredPings = 0;
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.destroy(err as Error);
      return;
    }
    for (const frame of frames) {
      try {
        this.route(frame);
      } catch (err) {
        this.destroy(err as Error);
        return;
      }
    }
  }

  private route({ header, payload }: Frame): void {
    if (header.program === KEEPALIVE_PROGRAM) {
      if (header.procedure === KeepaliveProc.PING) {
        this.sendKeepalive(KeepaliveProc.PONG);
      }
      return;
    }
    switch (header.type) {
      case MessageType.REPLY:
      case MessageType.REPLY_WITH_FDS:
        return this.onReply(header.serial, header.status, payload);
      case MessageType.MESSAGE: {
        const set = this.handlers.get(`${header.program}:${header.procedure}`);
        if (set) for (const h of set) h(payload);
        return;
      }
      case MessageType.STREAM:
      case MessageType.STREAM_HOLE: {
        const stream = this.streams.get(header.serial);
        // A stream we already gave up on may still deliver frames: drop them.
        if (!stream) return;
        if (header.status === MessageStatus.ERROR) {
          stream.fail(new LibvirtError(decodeRemoteError(payload), stream.name));
        } else {
          stream.receive(header.type, header.status, payload);
        }
        return;
      }
      default:
        throw new LibvirtClientError(
          'LIBVIRT_PROTOCOL',
          `unexpected message type ${header.type} from the daemon`,
        );
    }
  }

  private onReply(serial: number, status: number, payload: Buffer): void {
    const p = this.pending.get(serial);
    if (!p) return; // the call timed out already
    // Decode before settling: a malformed error body throws out to destroy(),
    // which must still find this call pending to reject it.
    const error =
      status === MessageStatus.OK
        ? undefined
        : status === MessageStatus.ERROR
          ? new LibvirtError(decodeRemoteError(payload), p.name)
          : new LibvirtClientError('LIBVIRT_PROTOCOL', `reply with status ${status}`);
    this.pending.delete(serial);
    if (p.timer) clearTimeout(p.timer);
    if (error) p.reject(error);
    else p.resolve(payload);
  }

  private sendKeepalive(proc: number): void {
    if (this.closedError) return;
    this.socket.write(
      encodeFrame({
        program: KEEPALIVE_PROGRAM,
        version: KEEPALIVE_VERSION,
        procedure: proc,
        type: MessageType.MESSAGE,
        serial: 0,
        status: MessageStatus.OK,
      }),
    );
  }

  /**
   * Pings the peer after every `intervalMs` of silence; `count` pings without
   * any answer (any bytes at all count) declare it dead.
   */
  startKeepalive(intervalMs: number, count: number): void {
    if (this.keepaliveTimer || this.closedError) return;
    this.keepaliveTimer = setInterval(() => {
      if (this.unansweredPings >= count) {
        this.destroy(
          new LibvirtClientError(
            'LIBVIRT_KEEPALIVE_TIMEOUT',
            `the libvirt daemon did not answer ${count} keepalive pings in ${
              (count * intervalMs) / 1000
            } s`,
          ),
        );
        return;
      }
      this.unansweredPings++;
      this.sendKeepalive(KeepaliveProc.PING);
    }, intervalMs);
    // Keepalive alone must not keep a process alive.
    this.keepaliveTimer.unref();
  }

  /** Ends the connection gracefully: pending calls still reject, the socket is ended. */
  close(): void {
    if (this.closedError) return;
    this.socket.end();
    this.destroy(new LibvirtClientError('LIBVIRT_CONNECTION_CLOSED', 'the connection was closed'));
  }

  /** Aborts the connection: every pending call and stream rejects with `err`. Idempotent. */
  destroy(err?: Error): void {
    if (this.closedError) return;
    const reason =
      err ?? new LibvirtClientError('LIBVIRT_CONNECTION_CLOSED', 'the connection was destroyed');
    this.closedError = reason;
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer);
    for (const [, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(this.wrapClosed(reason, p.name));
    }
    this.pending.clear();
    for (const [, s] of this.streams) s.fail(this.wrapClosed(reason, s.name));
    this.streams.clear();
    this.socket.destroy();
    // Emitting 'close' with listeners only: an EventEmitter 'error' without listeners would throw.
    this.emit('close', reason);
  }
}
