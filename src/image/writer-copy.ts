/**
 * copyDisk: streams a DiskReader into a DiskWriter, the inner loop of a restore
 * from an image (and of the writer tests and benchmark). Data extents are read
 * in pieces of `pieceSize`, `readAhead` reads in flight while the writer works,
 * zero and hole extents become writeZeroes. On failure the writer is aborted.
 */
import { alignedBuffer } from '../util/aligned.js';
import type { DiskReader } from './types.js';
import type { DiskWriter } from './writer.js';

export interface CopyDiskOptions {
  /** Bytes per read (default 8 MiB). */
  pieceSize?: number;
  /** Reads in flight ahead of the writer (default 4). */
  readAhead?: number;
  /** Stops the copy (the writer is aborted) once it fires. */
  signal?: AbortSignal;
  /** How far through the disk the writer is (bytes of virtual size), after each write. */
  onProgress?: (position: number) => void;
}

export interface CopyDiskResult {
  dataBytes: number;
  zeroBytes: number;
}

/** Copies every extent of reader to writer and closes the writer (not the reader). */
export async function copyDisk(
  reader: DiskReader,
  writer: DiskWriter,
  options: CopyDiskOptions = {},
): Promise<CopyDiskResult> {
  const pieceSize = options.pieceSize ?? 8 << 20;
  const readAhead = options.readAhead ?? 4;
  const result: CopyDiskResult = { dataBytes: 0, zeroBytes: 0 };
  // Writes in order: data pieces (read ahead) and zero ranges, which wait their turn in the
  // queue instead of draining it (a disk alternating data and holes keeps its reads in flight).
  const queue: ({ offset: number; data: Promise<Buffer> } | { offset: number; zeroes: number })[] =
    [];
  let reading = 0; // data pieces in the queue
  // Readers with readInto (image readers, backups) fill reused buffers; others allocate per read.
  // Page-aligned, so that a durable writer can send them out with O_DIRECT (writer-sink.ts).
  const into = reader.readInto ? (reader as Required<DiskReader>) : undefined;
  const free: Buffer[] = [];
  const read = (at: number, n: number): Promise<Buffer> => {
    if (into === undefined) return reader.read(at, n);
    const buf = (free.pop() ?? alignedBuffer(pieceSize)).subarray(0, n);
    return into.readInto(buf, 0, at, n).then(() => buf);
  };
  // A read may fail while an earlier write is awaited: keep it from going unhandled.
  const track = (p: Promise<Buffer>) => (p.catch(() => undefined), p);
  const writeOldest = async () => {
    const next = queue.shift();
    if (next === undefined) return;
    if ('zeroes' in next) {
      await writer.writeZeroes(next.offset, next.zeroes);
      options.onProgress?.(next.offset + next.zeroes);
      return;
    }
    reading--;
    const data = await next.data;
    await writer.write(next.offset, data);
    options.onProgress?.(next.offset + data.length);
    // The writer is done with it (copied or written): the buffer can take the next read.
    if (into !== undefined) free.push(Buffer.from(data.buffer, data.byteOffset, pieceSize));
  };
  try {
    for await (const extent of reader.extents()) {
      options.signal?.throwIfAborted();
      if (extent.kind !== 'data') {
        queue.push({ offset: extent.offset, zeroes: extent.length });
        result.zeroBytes += extent.length;
        continue;
      }
      const end = extent.offset + extent.length;
      for (let at = extent.offset; at < end; at += pieceSize) {
        options.signal?.throwIfAborted();
        const n = Math.min(pieceSize, end - at);
        queue.push({ offset: at, data: track(read(at, n)) });
        reading++;
        result.dataBytes += n;
        while (reading >= readAhead) await writeOldest();
      }
    }
    while (queue.length > 0) await writeOldest();
    await writer.close();
  } catch (err) {
    await writer.abort();
    throw err;
  }
  return result;
}
