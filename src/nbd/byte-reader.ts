/**
 * Exact-length reads from a byte stream, for the request/response handshake.
 * Bytes pushed in are copied (the transport may reuse its read buffer); what
 * is left when the handshake ends is handed on to the transmission decoder.
 */
export class ByteReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private waiter:
    { n: number; resolve: (b: Buffer) => void; reject: (err: Error) => void } | undefined;
  private error: Error | undefined;

  push(chunk: Uint8Array): void {
    if (this.error || chunk.length === 0) return;
    this.chunks.push(Buffer.from(chunk));
    this.buffered += chunk.length;
    this.wake();
  }

  /** Resolves with exactly `n` bytes; one read at a time. */
  read(n: number): Promise<Buffer> {
    if (this.waiter) return Promise.reject(new Error('ByteReader: one read at a time'));
    if (this.buffered >= n) return Promise.resolve(this.take(n));
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject };
    });
  }

  /** Ends the stream: a pending and every later read that cannot be served rejects with `err`. */
  fail(err: Error): void {
    if (this.error) return;
    this.error = err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }

  /** Everything received and not yet read. */
  drain(): Buffer {
    const out = Buffer.concat(this.chunks);
    this.chunks = [];
    this.buffered = 0;
    return out;
  }

  private wake(): void {
    const w = this.waiter;
    if (w && this.buffered >= w.n) {
      this.waiter = undefined;
      w.resolve(this.take(w.n));
    }
  }

  private take(n: number): Buffer {
    const joined = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = joined.subarray(0, n);
    const rest = joined.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered -= n;
    return out;
  }
}
