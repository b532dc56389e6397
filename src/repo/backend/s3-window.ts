/**
 * Read-ahead for range reads of packs on S3. A restore reads a pack's records one after the
 * other, each one GET of about 100–256 KiB; on an object store every request costs a round
 * trip and the server's per-request work, which dominated a restore from S3 (docs/benchmarks.md,
 * "Cold backup into S3"). A read that starts where the previous read of the same pack ended is
 * taken as sequential: the next `window` bytes are fetched in one request, and the reads that
 * fall inside are served from it. Any other read is sent as it is, so random reads (a mounted
 * backup) fetch nothing they did not ask for. Packs are never changed once written, so what
 * was fetched stays true; only `data/` objects are read ahead.
 */

export type RangeFetch = (name: string, offset: number, length: number) => Promise<Buffer>;

interface Window {
  start: number;
  bytes: Promise<Buffer>;
}

export class ReadAhead {
  /** Windows fetched or being fetched, oldest first (LRU by re-insertion). */
  private readonly windows = new Map<string, Window>();
  /**
   * Per object, where its last reads ended (several: a restore has several reads in flight,
   * whose records interleave in one pack).
   */
  private readonly ends = new Map<string, number[]>();

  constructor(
    private readonly fetch: RangeFetch,
    private readonly window = 4 * 1024 * 1024,
    private readonly keep = 8,
  ) {}

  async read(name: string, offset: number, length: number): Promise<Buffer> {
    if (!name.startsWith('data/') || length >= this.window) return this.fetch(name, offset, length);
    const ends = this.ends.get(name) ?? [];
    const sequential = ends.includes(offset);
    ends.push(offset + length);
    if (ends.length > 16) ends.shift();
    this.ends.delete(name);
    this.ends.set(name, ends);
    while (this.ends.size > 64) this.ends.delete(this.ends.keys().next().value!);
    for (const [key, w] of this.windows) {
      if (!key.startsWith(`${name}@`)) continue;
      if (offset >= w.start && offset + length <= w.start + this.window) {
        this.windows.delete(key);
        this.windows.set(key, w);
        const bytes = await w.bytes;
        // A window past the object's end is short: a read there gets what there is.
        return Buffer.from(bytes.subarray(offset - w.start, offset - w.start + length));
      }
    }
    if (!sequential) return this.fetch(name, offset, length);
    const key = `${name}@${offset}`;
    const w: Window = { start: offset, bytes: this.fetch(name, offset, this.window) };
    this.windows.set(key, w);
    w.bytes.catch(() => this.windows.get(key) === w && this.windows.delete(key));
    while (this.windows.size > this.keep) this.windows.delete(this.windows.keys().next().value!);
    const bytes = await w.bytes;
    return Buffer.from(bytes.subarray(0, length));
  }
}
