/**
 * Small range reads of index runs on S3, served from aligned blocks of the object. A lookup in
 * the chunk index reads one run block of about 3 KiB; a restore from S3 made about a hundred
 * such requests for one 220 KB run, some of them twice, each a round trip and the server's
 * per-request work (docs/benchmarks.md, "Cold backup into S3"). Here a read of less than a
 * block fetches the aligned `block` bytes around it once, shared by every read that needs them
 * while the fetch runs, and keeps the last `keep` blocks. Runs are named by the hash of their
 * bytes and never change, so a kept block stays true. Reads of a block or more go as they are.
 */
import { copyBytes } from '../../util/copy.js';
import type { RangeFetch } from './s3-window.js';

export interface BlockCacheOptions {
  /** Bytes per block (default 64 KiB: about twenty run blocks for one request). */
  block?: number;
  /** Blocks kept over all objects (default 128, 8 MiB). */
  keep?: number;
}

export class BlockCache {
  private readonly blocks = new Map<string, Promise<Buffer>>();
  private readonly block: number;
  private readonly keep: number;

  constructor(
    private readonly fetch: RangeFetch,
    o: BlockCacheOptions = {},
  ) {
    this.block = o.block ?? 64 * 1024;
    this.keep = o.keep ?? 128;
  }

  /** Whether a read of `length` bytes goes through the blocks. */
  takes(length: number): boolean {
    return length < this.block;
  }

  /** Reads into `target` (its whole length) from `offset`; returns the bytes read. */
  async readInto(name: string, offset: number, target: Buffer): Promise<number> {
    let got = 0;
    while (got < target.length) {
      const at = offset + got;
      const start = at - (at % this.block);
      const bytes = await this.get(name, start);
      const from = at - start;
      if (from >= bytes.length) break; // past the object's end
      const piece = bytes.subarray(from, Math.min(bytes.length, from + target.length - got));
      copyBytes(target, got, piece);
      got += piece.length;
      if (bytes.length < this.block) break; // a short block is the object's end
    }
    return got;
  }

  /** Forgets the blocks of `name` (written anew or deleted). */
  drop(name: string): void {
    for (const key of [...this.blocks.keys()]) {
      if (key.startsWith(`${name}@`)) this.blocks.delete(key);
    }
  }

  private get(name: string, start: number): Promise<Buffer> {
    const key = `${name}@${start}`;
    const kept = this.blocks.get(key);
    if (kept) {
      this.blocks.delete(key);
      this.blocks.set(key, kept);
      return kept;
    }
    const p = this.fetch(name, start, this.block).then((f) => f.bytes);
    this.blocks.set(key, p);
    // A failed fetch is not kept: the next read asks again.
    p.catch(() => {
      if (this.blocks.get(key) === p) this.blocks.delete(key);
    });
    while (this.blocks.size > this.keep) this.blocks.delete(this.blocks.keys().next().value!);
    return p;
  }
}
