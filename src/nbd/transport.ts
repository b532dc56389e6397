/**
 * The byte pipe under the NBD client: a unix socket or TCP connection (or, in
 * tests, any duplex stream), with its incoming bytes routed to whoever owns
 * the connection now: the handshake, then the transmission dispatcher.
 *
 * Sockets opened here read into one reusable buffer (`onread`), so a stream of
 * read data costs no allocation per socket read; every consumer copies what it
 * keeps.
 */
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { NbdClientError } from './errors.js';

/** Where to find the NBD server. */
export type NbdTarget = { socketPath: string } | { host: string; port: number };

export interface WireHandlers {
  data(chunk: Uint8Array): void;
  /** The connection ended: the peer closed it (`err` undefined) or it failed. Called once. */
  end(err?: Error): void;
}

/** Bytes the socket reads at once: large, so streaming data takes few wake-ups. */
const READ_BUFFER = 1024 * 1024;

export function describeTarget(target: NbdTarget): string {
  return 'socketPath' in target
    ? `unix socket ${target.socketPath}`
    : `tcp ${target.host}:${target.port}`;
}

export class Wire {
  private handlers: WireHandlers = { data: () => {}, end: () => {} };
  private ended = false;
  private corked = false;

  private constructor(readonly stream: Duplex) {
    stream.on('error', (err) => this.finish(err));
    stream.on('end', () => this.finish());
    stream.on('close', () => this.finish());
  }

  /** Wraps an already connected duplex stream (tests: an in-memory peer). */
  static fromStream(stream: Duplex): Wire {
    const wire = new Wire(stream);
    stream.on('data', (chunk: Buffer) => wire.handlers.data(chunk));
    return wire;
  }

  /** Connects to a unix socket or TCP port. */
  static connect(target: NbdTarget, timeoutMs: number): Promise<Wire> {
    let wire: Wire | undefined;
    const buffer = Buffer.allocUnsafe(READ_BUFFER);
    const onread = {
      buffer,
      callback: (n: number, buf: Uint8Array): boolean => {
        wire?.handlers.data(buf.subarray(0, n));
        return true;
      },
    };
    const socket =
      'socketPath' in target
        ? net.connect({ path: target.socketPath, onread })
        : net.connect({ host: target.host, port: target.port, onread, noDelay: true });
    return new Promise((resolve, reject) => {
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              socket.destroy();
              reject(
                new NbdClientError(
                  'NBD_CONNECT_FAILED',
                  `cannot connect to NBD server at ${describeTarget(target)}: no answer within ${timeoutMs} ms`,
                ),
              );
            }, timeoutMs)
          : undefined;
      const onError = (err: Error): void => {
        clearTimeout(timer);
        reject(
          new NbdClientError(
            'NBD_CONNECT_FAILED',
            `cannot connect to NBD server at ${describeTarget(target)}: ${err.message}`,
            { cause: err },
          ),
        );
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        wire = new Wire(socket);
        resolve(wire);
      });
    });
  }

  /** Routes incoming bytes and the end of the connection to a new owner. */
  attach(handlers: WireHandlers): void {
    this.handlers = handlers;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /**
   * Queues bytes without copying them. Writes of one tick go out as one batch
   * (the socket is corked until the next tick), so pipelined requests share
   * system calls.
   */
  write(...parts: Uint8Array[]): void {
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      process.nextTick(() => {
        this.corked = false;
        this.stream.uncork();
      });
    }
    for (const p of parts) this.stream.write(p);
  }

  end(): void {
    this.stream.end();
  }

  destroy(): void {
    this.stream.destroy();
  }

  private finish(err?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.handlers.end(err);
  }
}
