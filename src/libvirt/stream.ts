/**
 * A libvirt data stream (virStream): the frames that follow a stream-opening
 * call (volume upload or download), sharing its serial.
 *
 * Incoming data is read with `for await`; holes of sparse streams arrive as
 * their own items. Outgoing data is sent in packets no larger than libvirt's
 * own client sends. `finish()` completes the handshake that tells the daemon
 * the stream ended well; `abort()` tells it the stream failed.
 */
import { MessageStatus, MessageType, STREAM_CHUNK_MAX } from './frame.js';
import { LibvirtClientError } from './errors.js';
import { XdrReader } from './xdr.js';

export type StreamItem = { kind: 'data'; data: Buffer } | { kind: 'hole'; length: bigint };

type SendFn = (type: number, status: number, data?: Uint8Array) => void;

export class RpcStream implements AsyncIterable<StreamItem> {
  private readonly queue: StreamItem[] = [];
  private waiter: (() => void) | undefined;
  private eof = false;
  private error: Error | undefined;
  private finished = false;
  private finishWaiter: { resolve(): void; reject(err: Error): void } | undefined;

  constructor(
    private readonly send: SendFn,
    readonly name: string,
    private readonly release: () => void,
  ) {}

  /** Called by the dispatcher for each stream frame. */
  receive(type: number, status: number, payload: Buffer): void {
    if (type === MessageType.STREAM_HOLE) {
      const r = new XdrReader(payload);
      const length = r.hyper();
      this.push({ kind: 'hole', length });
      return;
    }
    if (status === MessageStatus.CONTINUE) {
      if (payload.length > 0) {
        this.push({ kind: 'data', data: payload });
        return;
      }
      // libvirtd marks the end of a download with an empty CONTINUE, not with OK.
      this.eof = true;
      this.wake();
      return;
    }
    // Status OK: end of the incoming data, or the daemon's confirmation of our finish().
    this.eof = true;
    if (this.finishWaiter) {
      this.finished = true;
      this.finishWaiter.resolve();
      this.finishWaiter = undefined;
      this.release();
    }
    this.wake();
  }

  /** Called by the dispatcher when the stream or its connection fails. */
  fail(err: Error): void {
    if (this.error || this.finished) return;
    this.error = err;
    this.finishWaiter?.reject(err);
    this.finishWaiter = undefined;
    this.release();
    this.wake();
  }

  private push(item: StreamItem): void {
    this.queue.push(item);
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StreamItem> {
    for (;;) {
      const item = this.queue.shift();
      if (item) {
        yield item;
        continue;
      }
      if (this.error) throw this.error;
      if (this.eof) return;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  /** Sends data to the daemon (upload), split into protocol-sized packets. */
  write(data: Uint8Array): void {
    if (this.error) throw this.error;
    for (let off = 0; off < data.length; off += STREAM_CHUNK_MAX) {
      this.send(
        MessageType.STREAM,
        MessageStatus.CONTINUE,
        data.subarray(off, Math.min(off + STREAM_CHUNK_MAX, data.length)),
      );
    }
  }

  /** Ends the stream well and waits for the daemon to confirm (its errors surface here). */
  finish(): Promise<void> {
    if (this.error) return Promise.reject(this.error);
    if (this.finished) return Promise.resolve();
    const done = new Promise<void>((resolve, reject) => {
      this.finishWaiter = { resolve, reject };
    });
    this.send(MessageType.STREAM, MessageStatus.OK);
    return done;
  }

  /** Tells the daemon the stream failed on our side; no answer is awaited. */
  abort(): void {
    if (this.error || this.finished) return;
    try {
      this.send(MessageType.STREAM, MessageStatus.ERROR);
    } catch {
      // The connection is gone already: nothing to tell.
    }
    this.fail(new LibvirtClientError('LIBVIRT_PROTOCOL', `stream ${this.name} aborted`));
  }
}
