/**
 * Downloads from a backup, streamed: the engine's `getFiles` writes its tar archive to a file
 * (`--tar FILE`, through `FILE.partial`); here that partial file is a FIFO in a private
 * temporary directory, read as the engine writes it, so the response starts with the first
 * bytes and nothing is ever held whole, in memory or on disk. This process keeps the FIFO
 * open for writing too until the engine has finished, so that a reader never blocks waiting
 * for a writer and a writer never blocks waiting for a reader, whatever fails when; a client
 * that goes away stops the engine (its signal) and the rest is drained and dropped.
 *
 * One file rather than a tar: the archive's first member is unpacked on the way (tarMember),
 * its size known from its header before the first byte is sent.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface TarStream {
  /** The archive's bytes as the engine writes them; ends once the engine has succeeded. */
  chunks: AsyncIterator<Buffer>;
  /** Stops the engine and drops what is left (the client went away, or a refusal). */
  cancel(): void;
}

/**
 * Runs `write(tarPath, signal)` (the engine's getFiles with `tar: tarPath`) and gives its
 * archive as it comes. Rejects, with the engine's error, when it fails before the first byte.
 */
export async function tarStream(
  write: (tarPath: string, signal: AbortSignal) => Promise<unknown>,
): Promise<TarStream> {
  const dir = await mkdtemp(join(tmpdir(), 'brankas-download-'));
  const tar = join(dir, 'files.tar');
  const fifo = `${tar}.partial`;
  try {
    await exec('mkfifo', ['-m', '600', fifo]);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  // O_RDWR on a FIFO never blocks (Linux): with it open, neither end's open waits for the other.
  const keep = await open(fifo, constants.O_RDWR);
  const reader = await open(fifo, constants.O_RDONLY);
  const abort = new AbortController();
  let failure: { error: unknown } | undefined;
  const settled = write(tar, abort.signal).then(
    () => undefined,
    (error: unknown) => {
      failure = { error };
    },
  );
  // The end of the archive is seen only once the engine has finished and let go.
  void settled.finally(() => keep.close().catch(() => undefined));
  const source = reader.createReadStream({ highWaterMark: 256 * 1024 })[Symbol.asyncIterator]();
  let dropping = false;
  const cleanup = async (): Promise<void> => {
    await reader.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  const drain = async (): Promise<void> => {
    try {
      for (;;) if ((await source.next()).done) break;
    } catch {
      // gone already
    }
    await settled;
    await cleanup();
  };
  const chunks: AsyncIterator<Buffer> = {
    async next(): Promise<IteratorResult<Buffer>> {
      if (dropping) return { done: true, value: undefined };
      let r: IteratorResult<Buffer>;
      try {
        r = (await source.next()) as IteratorResult<Buffer>;
      } catch (err) {
        await settled;
        await cleanup();
        throw err;
      }
      if (!r.done) return r;
      await settled;
      await cleanup();
      if (failure) throw failure.error;
      return r;
    },
  };
  const stream: TarStream = {
    chunks,
    cancel: () => {
      if (dropping) return;
      dropping = true;
      abort.abort();
      void drain();
    },
  };
  return stream;
}

/** Reads exact byte counts from a stream of chunks. */
class ByteQueue {
  private buffered: Buffer[] = [];
  private length = 0;
  constructor(private readonly source: AsyncIterator<Buffer>) {}

  /** Up to `max` bytes that are there or come next; empty at the end. */
  async some(max: number): Promise<Buffer> {
    if (this.length === 0) {
      const r = await this.source.next();
      if (r.done) return Buffer.alloc(0);
      this.buffered.push(r.value);
      this.length += r.value.length;
    }
    const first = this.buffered[0]!;
    const out = first.length <= max ? first : first.subarray(0, max);
    if (out === first) this.buffered.shift();
    else this.buffered[0] = first.subarray(max);
    this.length -= out.length;
    return out;
  }

  async exactly(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      const b = await this.some(n - got);
      if (b.length === 0) throw new Error('the archive ended inside a member');
      parts.push(b);
      got += b.length;
    }
    return Buffer.concat(parts, n);
  }
}

export interface TarMember {
  name: string;
  /** ustar type flag: '0' a file, '5' a directory, '2' a symbolic link... */
  type: string;
  size: number;
  /** The member's bytes (a file's content), read from the archive as they are taken. */
  body: AsyncIterable<Buffer>;
  /** Reads what follows to the end of the archive, so the engine's outcome is known. */
  finish(): Promise<void>;
}

const BLOCK = 512;

function field(h: Buffer, at: number, len: number): string {
  const s = h.subarray(at, at + len);
  const nul = s.indexOf(0);
  return s.subarray(0, nul === -1 ? len : nul).toString('utf8');
}

function sizeOf(h: Buffer): number {
  const raw = h.subarray(124, 136);
  // GNU base-256 for sizes an octal field cannot hold.
  if ((raw[0]! & 0x80) !== 0) {
    let v = 0n;
    for (let i = 1; i < raw.length; i++) v = (v << 8n) | BigInt(raw[i]!);
    return Number(v);
  }
  const text = field(h, 124, 12).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

const padded = (n: number): number => Math.ceil(n / BLOCK) * BLOCK;

/**
 * The first real member of a tar stream (pax and GNU long-name headers applied); its body
 * reads the member's bytes and no further.
 */
export async function tarMember(source: AsyncIterator<Buffer>): Promise<TarMember> {
  const q = new ByteQueue(source);
  let longName: string | undefined;
  let paxSize: number | undefined;
  for (;;) {
    const h = await q.exactly(BLOCK);
    if (h.every((b) => b === 0)) throw new Error('the archive holds no member');
    const type = typeOf(h);
    const size = sizeOf(h);
    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
      const text = (await q.exactly(padded(size))).subarray(0, size).toString('utf8');
      if (type === 'L') longName = text.replace(/\0+$/, '');
      if (type === 'x') {
        // Records "LEN key=value\n"; they apply to the next member.
        for (const m of text.matchAll(/\d+ (\w+)=([^\n]*)\n/g)) {
          if (m[1] === 'path') longName = m[2];
          if (m[1] === 'size') paxSize = Number(m[2]);
        }
      }
      continue;
    }
    return member(q, h, longName, paxSize ?? size);
  }
}

function typeOf(h: Buffer): string {
  return h[156] === 0 ? '0' : String.fromCharCode(h[156]!);
}

function member(q: ByteQueue, h: Buffer, longName: string | undefined, size: number): TarMember {
  const prefix = field(h, 345, 155);
  const name = longName ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
  const type = typeOf(h);
  const bodySize = type === '0' || type === '7' ? size : 0;
  return {
    name,
    type,
    size: bodySize,
    body: (async function* () {
      let left = bodySize;
      while (left > 0) {
        const b = await q.some(Math.min(left, 256 * 1024));
        if (b.length === 0) throw new Error('the archive ended inside a member');
        left -= b.length;
        yield b;
      }
    })(),
    finish: async () => {
      while ((await q.some(256 * 1024)).length > 0) {
        // the archive's padding and end blocks
      }
    },
  };
}

/** A web stream of the chunks that cancels the source when the client goes away. */
export function webStream(chunks: AsyncIterable<Buffer>, cancel: () => void): ReadableStream {
  const it = chunks[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const r = await it.next();
        if (r.done) controller.close();
        else controller.enqueue(new Uint8Array(r.value.buffer, r.value.byteOffset, r.value.length));
      } catch (err) {
        controller.error(err);
      }
    },
    cancel() {
      cancel();
    },
  });
}

/** `attachment` with the name as ASCII and, for any other, as RFC 5987 UTF-8. */
export function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
