/**
 * Read-ahead for range reads of packs on S3. A restore reads a pack's records one after the
 * other, each one GET of about 100–256 KiB; on an object store every request costs a round
 * trip and the server's per-request work, which dominated a restore from S3 (docs/benchmarks.md,
 * "Cold backup into S3"). A read that starts where an earlier read of the same pack ended is
 * taken as sequential: from there the pack is fetched in windows of `window` bytes, `depth`
 * windows ahead of the reader, so the next requests are on the wire while the reader decodes
 * (with one window at a time, fetched only when a read reached it, the restore waited for
 * every window in turn). Reads inside a window, or across two, are served from them. Any other
 * read is sent as it is, so random reads (a mounted backup) fetch nothing they did not ask
 * for. Small reads of index runs go through aligned blocks instead (s3-blocks.ts). Packs are
 * never changed once written, so what was fetched stays true; only `data/` objects are read
 * ahead.
 */
import { copyBytes } from '../../util/copy.js';
import { BlockCache } from './s3-blocks.js';

/** What a range request gave: the bytes (in `into` when given) and the object's size if known. */
export interface Fetched {
  bytes: Buffer;
  objectSize?: number;
}

/** A range request; with `into` (at least `length` bytes) the answer is written there. */
export type RangeFetch = (
  name: string,
  offset: number,
  length: number,
  into?: Buffer,
) => Promise<Fetched>;

interface Window {
  name: string;
  start: number;
  /** What was fetched: a view of `buf`. */
  bytes: Promise<Buffer>;
  /** The window's memory, back to the free list once evicted, settled and unused. */
  buf: Buffer;
  /** Reads copying out of it now (between their await and their copy). */
  users: number;
  settled: boolean;
  evicted: boolean;
}

export interface ReadAheadOptions {
  /** Bytes per window request (default 4 MiB). */
  window?: number;
  /** Windows fetched ahead of the one a sequential reader is in (default 3). */
  depth?: number;
  /** Windows kept, fetched or in flight, over all objects (default 12). */
  keep?: number;
}

export class ReadAhead {
  /** Windows fetched or being fetched, oldest first (LRU by re-insertion), by `name@start`. */
  private readonly windows = new Map<string, Window>();
  /**
   * Per object, where its last reads ended (several: a restore has several reads in flight,
   * whose records interleave in one pack).
   */
  private readonly ends = new Map<string, number[]>();
  /** Object sizes learnt from answers, so no window is asked for past the end. */
  private readonly sizes = new Map<string, number>();
  private readonly window: number;
  private readonly depth: number;
  private readonly keep: number;
  /**
   * Window buffers no window uses any more. Fresh 4 MiB buffers for every window (outside
   * the JavaScript heap) made V8 run a full garbage collection every few windows, a good part
   * of a restore's CPU time on the client.
   */
  private readonly free: Buffer[] = [];
  private readonly blocks: BlockCache;

  constructor(
    private readonly fetch: RangeFetch,
    o: ReadAheadOptions = {},
  ) {
    this.window = o.window ?? 4 * 1024 * 1024;
    this.depth = o.depth ?? 3;
    this.keep = Math.max(o.keep ?? 12, this.depth + 2);
    this.blocks = new BlockCache(fetch);
  }

  async read(name: string, offset: number, length: number): Promise<Buffer> {
    if (this.blocked(name, length)) {
      const out = Buffer.allocUnsafe(length);
      const n = await this.blocks.readInto(name, offset, out);
      return n < length ? out.subarray(0, n) : out;
    }
    if (!this.windowed(name, length)) return (await this.fetchPlain(name, offset, length)).bytes;
    const out = Buffer.allocUnsafe(length);
    const n = await this.readInto(name, offset, out);
    return n < length ? out.subarray(0, n) : out;
  }

  /** Like read(), into `target` (its whole length); returns the bytes read. */
  async readInto(name: string, offset: number, target: Buffer): Promise<number> {
    const length = target.length;
    if (this.blocked(name, length)) return this.blocks.readInto(name, offset, target);
    if (!this.windowed(name, length)) {
      return (await this.fetchPlain(name, offset, length, target)).bytes.length;
    }
    const sequential = this.noteRead(name, offset, length);
    let w = this.cover(name, offset);
    if (!w) {
      if (!sequential) return (await this.fetchPlain(name, offset, length, target)).bytes.length;
      w = this.open(name, offset);
    }
    let got = 0;
    for (;;) {
      const at = offset + got;
      let bytes: Buffer;
      w.users++;
      try {
        bytes = await w.bytes;
        const from = at - w.start;
        if (from >= bytes.length) return got; // past the object's end
        // copyBytes, not Buffer.copy: the target is often a worker arena's slot in shared
        // memory, which V8 copies word by word (src/util/copy.ts).
        const piece = bytes.subarray(from, Math.min(bytes.length, from + length - got));
        copyBytes(target, got, piece);
        got += piece.length;
      } finally {
        w.users--;
        this.recycle(w);
      }
      const end: number = w.start + this.window;
      // A short window is the object's end: there is no more.
      if (got === length || bytes.length < this.window) {
        this.ahead(name, end);
        return got;
      }
      // The read goes on into the next window (its records straddle the boundary).
      w = this.cover(name, end) ?? this.open(name, end);
    }
  }

  /** Small reads of index runs: from aligned blocks, kept (s3-blocks.ts). */
  private blocked(name: string, length: number): boolean {
    return name.startsWith('index/') && this.blocks.takes(length);
  }

  private windowed(name: string, length: number): boolean {
    return name.startsWith('data/') && length < this.window;
  }

  private async fetchPlain(
    name: string,
    offset: number,
    length: number,
    into?: Buffer,
  ): Promise<Fetched> {
    const f = await this.fetch(name, offset, length, into);
    if (f.objectSize !== undefined) this.learn(name, f.objectSize);
    return f;
  }

  /** Records where this read ends; true if it starts where an earlier read ended. */
  private noteRead(name: string, offset: number, length: number): boolean {
    const ends = this.ends.get(name) ?? [];
    const sequential = ends.includes(offset);
    ends.push(offset + length);
    if (ends.length > 16) ends.shift();
    this.ends.delete(name);
    this.ends.set(name, ends);
    while (this.ends.size > 64) this.forget(this.ends.keys().next().value!);
    return sequential;
  }

  private learn(name: string, size: number): void {
    this.sizes.set(name, size);
    while (this.sizes.size > 64) this.sizes.delete(this.sizes.keys().next().value!);
  }

  private forget(name: string): void {
    this.ends.delete(name);
    this.sizes.delete(name);
  }

  /**
   * Forgets everything fetched of `name`: the object was written anew or deleted (a repair
   * writes a damaged index run again under its name). Reads after this fetch it again.
   */
  drop(name: string): void {
    this.forget(name);
    for (const [key, w] of [...this.windows]) if (w.name === name) this.evict(key);
    this.blocks.drop(name);
  }

  /** The window holding byte `at` of the object (marked as just used), if any. */
  private cover(name: string, at: number): Window | undefined {
    for (const [key, w] of this.windows) {
      if (w.name !== name || at < w.start || at >= w.start + this.window) continue;
      this.windows.delete(key);
      this.windows.set(key, w);
      return w;
    }
    return undefined;
  }

  /**
   * The window holding byte `at`. Windows sit on one grid (multiples of the window size), so
   * readers of one pack never fetch the same bytes twice: before, a window began where its
   * reader was, another reader's window overlapped it, and a restore from S3 fetched 15-20 %
   * more than its packs held.
   */
  private open(name: string, at: number): Window {
    const start = at - (at % this.window);
    const key = `${name}@${start}`;
    const buf = this.free.pop() ?? Buffer.allocUnsafe(this.window);
    const w: Window = {
      name,
      start,
      buf,
      bytes: undefined!,
      users: 0,
      settled: false,
      evicted: false,
    };
    w.bytes = this.fetch(name, start, this.window, buf).then((f) => {
      if (f.objectSize !== undefined) this.learn(name, f.objectSize);
      return f.bytes;
    });
    this.windows.set(key, w);
    w.bytes.then(
      () => {
        w.settled = true;
        this.recycle(w);
      },
      () => {
        w.settled = true;
        if (this.windows.get(key) === w) this.evict(key);
        else this.recycle(w);
      },
    );
    while (this.windows.size > this.keep) this.evict(this.windows.keys().next().value!);
    return w;
  }

  private evict(key: string): void {
    const w = this.windows.get(key);
    if (!w) return;
    this.windows.delete(key);
    w.evicted = true;
    this.recycle(w);
  }

  /** Gives an evicted window's buffer back once its request is over and no read copies from it. */
  private recycle(w: Window): void {
    if (!w.evicted || !w.settled || w.users > 0 || w.buf.length === 0) return;
    if (this.free.length < this.keep) this.free.push(w.buf);
    w.buf = Buffer.alloc(0); // given back once only
  }

  /** Fetches the `depth` windows from `at` on that are neither fetched nor past the end. */
  private ahead(name: string, at: number): void {
    for (let i = 0; i < this.depth; i++) {
      const size = this.sizes.get(name);
      if (size !== undefined && at >= size) return;
      const w = this.cover(name, at) ?? this.open(name, at);
      at = w.start + this.window;
    }
  }
}
