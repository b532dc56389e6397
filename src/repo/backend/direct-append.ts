/**
 * Appending a local object's bytes past the page cache: the parts are copied
 * into page-aligned staging buffers, and each full buffer leaves as one
 * O_DIRECT write (the disk's own speed, no dirty pages for the kernel to write
 * back and for the commit's fsync to wait for). What is left at the end, less
 * than a buffer, goes out direct up to its last whole 4096-byte block and the
 * unaligned tail through the ordinary handle; the caller's fsync then covers
 * both. A file system that refuses O_DIRECT (tmpfs) gets every byte through
 * the ordinary handle, the same bytes at the same places.
 *
 * Why: a compressed 1 GiB cold backup spent about 0.45 s of its 2.9 s in the
 * packs' fsyncs (the same runs with fsync made a no-op: 2.3-2.4 s against
 * 2.7-2.9 s), and buffered writes on this project's test host ran at 310-360
 * MB/s about half the time (dirty-page throttling) against 0.95-1.2 GB/s with
 * O_DIRECT every time (docs/benchmarks.md).
 *
 * Calls are sequential, as ObjectUpload's are: one write() at a time, then
 * finish().
 */
import type { FileHandle } from 'node:fs/promises';
import { alignedBuffer, DIRECT_ALIGN, directAligned, openDirect } from '../../util/aligned.js';
import { copyBytes } from '../../util/copy.js';

/** Bytes of one staging buffer, one O_DIRECT write. */
export const STAGE_BYTES = 2 << 20;
/** Direct writes of one object in flight at once (and staging buffers it holds). */
const IN_FLIGHT = 2;
/** Staging buffers kept for the next objects (a backup commits several packs at once). */
const POOL_MAX = 12;
const pool: Buffer[] = [];

function takeStage(): Buffer {
  return pool.pop() ?? alignedBuffer(STAGE_BYTES);
}

function giveStage(b: Buffer): void {
  if (pool.length < POOL_MAX) pool.push(b);
}

interface InFlight {
  stage: Buffer;
  done: Promise<void>;
}

export class DirectAppender {
  private stage: Buffer | undefined;
  private filled = 0;
  /** File position of the stage's first byte. */
  private position = 0;
  private readonly inFlight: InFlight[] = [];
  /** The O_DIRECT handle, opened at the first full stage; none where refused or closed. */
  private direct: Promise<FileHandle | undefined> | undefined;
  /** Set when a direct write was refused (EINVAL): the rest goes through the ordinary handle. */
  private refused = false;
  private failure: unknown;
  private finished = false;

  constructor(
    private readonly path: string,
    /** The ordinary handle: small objects and unaligned tails go through it. */
    private readonly buffered: FileHandle,
    /** false: every byte through the ordinary handle (what a file system without O_DIRECT gets). */
    direct = true,
  ) {
    if (!direct) this.direct = Promise.resolve(undefined);
  }

  /** Bytes that went to the file past the page cache (O_DIRECT) so far. */
  directBytes = 0;

  /** Copies the parts in; full stages leave as they fill. Resolves when the parts may be reused. */
  async write(parts: readonly Uint8Array[]): Promise<void> {
    if (this.finished) throw new Error('DirectAppender used after finish()');
    this.check();
    for (const part of parts) {
      let at = 0;
      while (at < part.length) {
        const stage = (this.stage ??= takeStage());
        const n = Math.min(part.length - at, STAGE_BYTES - this.filled);
        // Records live in arena slots (shared memory): V8's own copy goes word by word there.
        copyBytes(stage, this.filled, part.subarray(at, at + n));
        this.filled += n;
        at += n;
        if (this.filled === STAGE_BYTES) await this.sendStage();
      }
    }
  }

  /** Writes what is staged and waits for every write; the caller's fsync makes them durable. */
  async finish(): Promise<void> {
    if (this.finished) throw new Error('DirectAppender used after finish()');
    this.check();
    this.finished = true;
    const stage = this.stage;
    this.stage = undefined;
    try {
      if (stage && this.filled > 0) {
        const aligned = this.filled - (this.filled % DIRECT_ALIGN);
        if (aligned > 0 && this.direct !== undefined) {
          // Only an object that already went direct: a small one is one buffered write.
          await this.put(stage, aligned, this.position);
        } else if (aligned > 0) {
          await writeAll(this.buffered, stage, 0, aligned, this.position);
        }
        if (this.filled > aligned) {
          await writeAll(
            this.buffered,
            stage,
            aligned,
            this.filled - aligned,
            this.position + aligned,
          );
        }
      }
      await this.drain();
    } finally {
      if (stage) giveStage(stage);
      await this.close();
    }
    this.check();
  }

  /** Waits for the writes in flight, then closes the direct handle. Never throws. */
  async close(): Promise<void> {
    this.finished = true;
    await this.drain().catch(() => undefined);
    if (this.stage) giveStage(this.stage);
    this.stage = undefined;
    const d = await this.direct;
    this.direct = Promise.resolve(undefined);
    if (d) await d.close().catch(() => undefined);
  }

  private async sendStage(): Promise<void> {
    const stage = this.stage!;
    const position = this.position;
    this.stage = undefined;
    this.filled = 0;
    this.position += STAGE_BYTES;
    const done = this.put(stage, STAGE_BYTES, position).catch((err: unknown) => {
      this.failure ??= err;
    });
    this.inFlight.push({ stage, done });
    while (this.inFlight.length >= IN_FLIGHT) {
      const first = this.inFlight.shift()!;
      await first.done;
      giveStage(first.stage);
    }
    this.check();
  }

  /** stage[0, length) at position: direct where the file system takes it, else buffered. */
  private async put(stage: Buffer, length: number, position: number): Promise<void> {
    this.direct ??= openDirect(this.path);
    const direct = await this.direct;
    if (direct && !this.refused && directAligned(stage, 0, length, position)) {
      try {
        const { bytesWritten } = await direct.write(stage, 0, length, position);
        this.directBytes += bytesWritten;
        if (bytesWritten === length) return;
        // A short direct write (a full disk on its way): the rest goes the ordinary way.
        return writeAll(
          this.buffered,
          stage,
          bytesWritten,
          length - bytesWritten,
          position + bytesWritten,
        );
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
        // Refused after all (a file system that takes the open but not the write); the handle
        // is closed with the appender, as another write may still be using it.
        this.refused = true;
      }
    }
    return writeAll(this.buffered, stage, 0, length, position);
  }

  private async drain(): Promise<void> {
    while (this.inFlight.length > 0) {
      const first = this.inFlight.shift()!;
      await first.done;
      giveStage(first.stage);
    }
  }

  private check(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

async function writeAll(
  fh: FileHandle,
  buf: Buffer,
  offset: number,
  length: number,
  position: number,
): Promise<void> {
  let done = 0;
  while (done < length) {
    done += (await fh.write(buf, offset + done, length - done, position + done)).bytesWritten;
  }
}
