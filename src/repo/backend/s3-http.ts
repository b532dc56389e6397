/**
 * A minimal HTTP/1.1 client for the S3 backend's range GETs over plain http (a MinIO, Ceph RGW
 * or s3rver on a trusted network): keep-alive connections, one request at a time on each,
 * and the answer's body read by the socket straight into the caller's buffer (`net`'s
 * `onread` with a buffer chosen per read), where Node's `http` hands out a fresh 64 KiB buffer
 * per read, each copied once more and left to the garbage collector (docs/benchmarks.md, "Cold
 * backup into S3"). Only what these requests need: a request without a body, an answer with
 * Content-Length or chunked, never pipelined. Failures are Node's socket errors (ECONNRESET,
 * ECONNREFUSED, ETIMEDOUT as a TimeoutError), which the SDK's retry classification knows.
 */
import { connect, type Socket } from 'node:net';

/** An answer's head, and where its body went. */
export interface RawAnswer {
  statusCode: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** The body: a view of the caller's buffer when it was read there, else its own bytes. */
  body: Buffer;
}

/**
 * Where a 2xx answer's body of `length` bytes goes: a buffer at least that long, or undefined
 * to have it collected (and, for a caller who then finds it too long, refused).
 */
export type BodyTarget = (length: number) => Buffer | undefined;

const HEAD_MAX = 64 * 1024;

function timeoutError(ms: number): Error {
  return Object.assign(new Error(`no answer for ${ms} ms`), {
    name: 'TimeoutError',
    code: 'ETIMEDOUT',
  });
}

/** One keep-alive connection, one request at a time. */
class Connection {
  readonly socket: Socket;
  private scratch = Buffer.allocUnsafe(HEAD_MAX);
  /** Bytes of the head read into scratch. */
  private headAt = 0;
  private state: 'idle' | 'head' | 'direct' | 'collect' = 'idle';
  private target: BodyTarget | undefined;
  private direct: Buffer | undefined;
  private at = 0;
  private length = -1;
  private chunked = false;
  private collected: Buffer[] = [];
  private answer: Omit<RawAnswer, 'body'> | undefined;
  private settle: ((err: Error | undefined, a?: RawAnswer) => void) | undefined;
  keepAlive = true;
  broken = false;

  constructor(host: string, port: number, connectTimeoutMs: number) {
    this.socket = connect({
      host,
      port,
      noDelay: true,
      onread: {
        buffer: () => this.nextBuffer(),
        // The buffer is one nextBuffer() gave (a Buffer).
        callback: (n, buf) => {
          this.onBytes(n, buf as Buffer);
          return true;
        },
      },
    });
    const t = setTimeout(
      () => this.socket.destroy(timeoutError(connectTimeoutMs)),
      connectTimeoutMs,
    );
    this.socket.once('connect', () => clearTimeout(t));
    this.socket.once('close', () => clearTimeout(t));
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('end', () =>
      this.fail(
        Object.assign(new Error('the server closed the connection'), { code: 'ECONNRESET' }),
      ),
    );
    this.socket.on('close', () => {
      this.broken = true;
      this.fail(Object.assign(new Error('the connection closed'), { code: 'ECONNRESET' }));
    });
  }

  request(head: string, target: BodyTarget, timeoutMs: number): Promise<RawAnswer> {
    this.state = 'head';
    this.headAt = 0;
    this.target = target;
    this.direct = undefined;
    this.at = 0;
    this.length = -1;
    this.chunked = false;
    this.collected = [];
    this.answer = undefined;
    return new Promise<RawAnswer>((resolve, reject) => {
      const timer = setTimeout(() => this.socket.destroy(timeoutError(timeoutMs)), timeoutMs);
      this.settle = (err, a) => {
        clearTimeout(timer);
        this.settle = undefined;
        this.state = 'idle';
        if (err) {
          this.broken = true;
          this.socket.destroy();
          reject(err);
        } else resolve(a!);
      };
      this.socket.write(head);
    });
  }

  private fail(err: Error): void {
    this.broken = true;
    this.settle?.(err);
  }

  /** Where the socket's next read goes. */
  private nextBuffer(): Buffer {
    if (this.state === 'direct') return this.direct!.subarray(this.at);
    if (this.state === 'head') return this.scratch.subarray(this.headAt);
    return this.scratch;
  }

  private onBytes(n: number, buf: Buffer): void {
    if (this.state === 'idle') {
      // Bytes nobody asked for: the connection can no longer be trusted.
      this.socket.destroy();
      return;
    }
    if (this.state === 'direct') {
      this.at += n;
      if (this.at === this.length) this.done(this.direct!);
      return;
    }
    if (this.state === 'collect') {
      this.takeCollected(buf.subarray(0, n));
      return;
    }
    this.headAt += n;
    const end = this.scratch.subarray(0, this.headAt).indexOf('\r\n\r\n');
    if (end < 0) {
      if (this.headAt === HEAD_MAX) this.settle?.(new Error('an answer head over 64 KiB'));
      return;
    }
    if (!this.parseHead(this.scratch.toString('latin1', 0, end))) return;
    const rest = this.scratch.subarray(end + 4, this.headAt);
    const a = this.answer!;
    const ok = a.statusCode >= 200 && a.statusCode <= 299;
    const into = ok && !this.chunked && this.length >= 0 ? this.target!(this.length) : undefined;
    if (this.length === 0) {
      this.done(Buffer.alloc(0));
      return;
    }
    // A target shorter than the body would leave the socket a read buffer of no bytes.
    if (into !== undefined && into.length >= this.length && rest.length <= this.length) {
      this.direct = into.subarray(0, this.length);
      rest.copy(this.direct);
      this.at = rest.length;
      this.state = 'direct';
      // The scratch buffer may be handed to the next read at once: the rest is copied out.
      if (this.at === this.length) this.done(this.direct);
      return;
    }
    this.state = 'collect';
    // A copy: the scratch buffer takes the next read.
    this.takeCollected(Buffer.from(rest));
  }

  /** Takes the answer's head; false (the request failed) if it is not one this client reads. */
  private parseHead(text: string): boolean {
    const lines = text.split('\r\n');
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!status) {
      this.settle?.(new Error(`not an HTTP answer: ${JSON.stringify(lines[0] ?? '')}`));
      return false;
    }
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const colon = l.indexOf(':');
      if (colon > 0) headers[l.slice(0, colon).trim().toLowerCase()] = l.slice(colon + 1).trim();
    }
    this.answer = { statusCode: Number(status[1]), headers };
    this.chunked = /chunked/i.test(headers['transfer-encoding'] ?? '');
    this.length =
      !this.chunked && headers['content-length'] ? Number(headers['content-length']) : -1;
    this.keepAlive =
      !/close/i.test(headers['connection'] ?? '') && (this.chunked || this.length >= 0);
    if (!this.chunked && this.length < 0) {
      // Delimited by the connection's end: not what an S3 server sends.
      this.settle?.(new Error('an answer without Content-Length'));
      return false;
    }
    return true;
  }

  private takeCollected(b: Buffer): void {
    if (b.length > 0) this.collected.push(Buffer.from(b));
    const all = this.collected.length === 1 ? this.collected[0]! : Buffer.concat(this.collected);
    this.collected = [all];
    if (!this.chunked) {
      if (all.length >= this.length) this.done(all.subarray(0, this.length));
      return;
    }
    const body = dechunk(all);
    if (body) this.done(body);
  }

  private done(body: Buffer): void {
    const a = this.answer!;
    this.settle?.(undefined, { ...a, body });
  }
}

/**
 * A chunked body's payload once all of it (through the last chunk and trailers) is there;
 * throws when it is malformed. (aws-chunked bodies have the same framing: testing/s3-chunked.ts.)
 */
export function dechunk(b: Buffer): Buffer | undefined {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', at);
    if (eol < 0) return undefined;
    const size = parseInt(b.toString('latin1', at, eol).split(';')[0]!, 16);
    if (Number.isNaN(size)) throw new Error('a malformed chunked body');
    if (size === 0) {
      // Trailers, if any, then an empty line.
      return b.indexOf('\r\n\r\n', eol) >= 0 ? Buffer.concat(out) : undefined;
    }
    if (b.length < eol + 2 + size + 2) return undefined;
    out.push(b.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/** Keep-alive connections to one host:port. */
export class RawHttp {
  private readonly idle: Connection[] = [];
  private closed = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly connectTimeoutMs: number,
    private readonly requestTimeoutMs: number,
  ) {}

  /** GET (no body) with these headers; the body of a 2xx answer goes where `target` says. */
  async get(path: string, headers: Record<string, string>, target: BodyTarget): Promise<RawAnswer> {
    if (this.closed) throw Object.assign(new Error('closed'), { code: 'ECONNRESET' });
    let head = `GET ${path} HTTP/1.1\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    head += '\r\n';
    let c = this.idle.pop();
    while (c && c.broken) c = this.idle.pop();
    if (c) c.socket.ref();
    else c = new Connection(this.host, this.port, this.connectTimeoutMs);
    const answer = await c.request(head, target, this.requestTimeoutMs);
    if (c.keepAlive && !c.broken && !this.closed && this.idle.length < 16) {
      c.socket.unref();
      this.idle.push(c);
    } else c.socket.destroy();
    return answer;
  }

  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.socket.destroy();
  }
}
