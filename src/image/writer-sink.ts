/**
 * Where the writers' bytes go: a file handle behind a few large staging
 * buffers. Writes to contiguous positions are copied into the current buffer
 * and leave as one pwrite(2) of up to `bufferSize` bytes; up to `inFlight` of
 * those run at once on libuv's thread pool while the caller keeps filling the
 * next buffer. So a restore never pays a system call per cluster or per block.
 * The first failed write poisons the sink: every later call rethrows it.
 */
import type { FileHandle } from 'node:fs/promises';
import { ImageIoError } from './errors.js';

interface Pending {
  buffer: Buffer;
  done: Promise<void>;
}

export class FileSink {
  private stage: Buffer;
  private stageLength = 0;
  /** File position of stage[0]. */
  private stagePosition = 0;
  private readonly free: Buffer[] = [];
  private readonly pending: Pending[] = [];
  private failure: unknown;
  /** Bytes handed to write(2) so far. */
  bytesWritten = 0;

  constructor(
    private readonly path: string,
    private readonly handle: FileHandle,
    bufferSize: number,
    private readonly inFlight: number,
  ) {
    this.stage = Buffer.allocUnsafe(bufferSize);
  }

  /** Queues data for position; returns once it is copied (not yet written). */
  async write(position: number, data: Uint8Array): Promise<void> {
    this.check();
    if (this.stageLength > 0 && position !== this.stagePosition + this.stageLength) {
      await this.flush();
    }
    if (this.stageLength === 0) this.stagePosition = position;
    let done = 0;
    while (done < data.length) {
      const n = Math.min(data.length - done, this.stage.length - this.stageLength);
      this.stage.set(data.subarray(done, done + n), this.stageLength);
      this.stageLength += n;
      done += n;
      if (this.stageLength === this.stage.length) {
        await this.flush();
        this.stagePosition = position + done;
      }
    }
  }

  /** Sends the staged bytes on their way; waits only for a free buffer. */
  async flush(): Promise<void> {
    this.check();
    if (this.stageLength === 0) return;
    const buffer = this.stage;
    const length = this.stageLength;
    const position = this.stagePosition;
    const done = this.writeFully(buffer, length, position).catch((err: unknown) => {
      this.failure ??= err;
    });
    this.pending.push({ buffer, done });
    this.stageLength = 0;
    let next = this.free.pop();
    if (next === undefined) {
      if (this.pending.length < this.inFlight) {
        next = Buffer.allocUnsafe(buffer.length);
      } else {
        const oldest = this.pending.shift() as Pending;
        await oldest.done;
        next = oldest.buffer;
      }
    }
    this.stage = next;
    this.check();
  }

  /** Flushes and waits for every write; rethrows the first failure. */
  async drain(): Promise<void> {
    await this.flush();
    while (this.pending.length > 0) {
      const p = this.pending.shift() as Pending;
      await p.done;
      this.free.push(p.buffer);
    }
    this.check();
  }

  /** Waits for writes in flight without flushing or throwing (before abort). */
  async settle(): Promise<void> {
    await Promise.all(this.pending.map((p) => p.done));
    this.pending.length = 0;
    this.stageLength = 0;
  }

  private check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private async writeFully(buffer: Buffer, length: number, position: number): Promise<void> {
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        ({ bytesWritten: n } = await this.handle.write(
          buffer,
          done,
          length - done,
          position + done,
        ));
      } catch (err) {
        throw new ImageIoError(
          this.path,
          `write ${length - done} bytes at ${position + done}`,
          err,
        );
      }
      if (n === 0) {
        throw new ImageIoError(this.path, `write at ${position + done}`, new Error('no progress'));
      }
      done += n;
    }
    this.bytesWritten += length;
  }
}
