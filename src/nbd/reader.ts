/**
 * A DiskReader over an NBD export: the live path of a backup (libvirt's
 * pull-mode export of a running VM's disk) and the fallback path for images
 * the native reader declines (served by qemu-nbd).
 *
 * Extents come from `base:allocation`, asked for in windows (1 GiB by
 * default) so a huge disk's map is never held whole:
 *
 * | NBD flags   | kind   | why                                                        |
 * | ----------- | ------ | ---------------------------------------------------------- |
 * | HOLE + ZERO | `hole` | unallocated and reads as zeroes                            |
 * | ZERO        | `zero` | allocated, and the server knows it reads as zeroes         |
 * | none        | `data` | allocated, content unknown: must be read                   |
 * | HOLE        | `data` | "undefined content" per the protocol: read what the guest sees |
 *
 * When the export also offers `qemu:allocation-depth` (qemu-nbd with
 * `--allocation-depth`, as openImageOverNbd starts it), extents reading as
 * zeroes are told apart as the image knows them: `zero` where some layer of
 * the chain allocates them (a qcow2 zero cluster, say), `hole` where none
 * does: the same answer `qemu-img map` and the native reader give.
 *
 * Allocated data that merely happens to be zero is `data` here: the reader
 * reports what the server knows and never inspects bytes; spotting all-zero
 * chunks is the chunker's job, where the bytes are hashed anyway. An export
 * without `base:allocation` is one `data` extent.
 *
 * `dirtyExtents()` yields the ranges a `qemu:dirty-bitmap:NAME` context marks
 * dirty, for incremental backups; `statusExtents()` any context's raw flags
 * (e.g. `qemu:allocation-depth`, where the flags are the depth: 0 unallocated,
 * 1 the top image, 2 its backing file...).
 */
import type { DiskReader, Extent, ExtentKind, ExtentRange } from '../image/types.js';
import {
  CONTEXT_ALLOCATION_DEPTH,
  CONTEXT_BASE_ALLOCATION,
  NBD_STATE_DIRTY,
  NBD_STATE_HOLE,
  NBD_STATE_ZERO,
} from './constants.js';
import { NbdClient, type NbdConnectOptions, type StatusExtent } from './client.js';
import { NbdClientError } from './errors.js';
import { protocolError } from './reply.js';

export interface NbdDiskReaderOptions {
  /** What `format` reports; an NBD export presents raw guest bytes (default 'raw'). */
  format?: string;
  /** Bytes of the disk asked about per BLOCK_STATUS request (default 1 GiB). */
  statusWindow?: number;
  /** Close the client when the reader is closed (default true). */
  ownsClient?: boolean;
  /** Runs after the client is closed: e.g. stopping the qemu-nbd that served it. */
  onClose?: () => Promise<void>;
  /**
   * More connections to the same read-only export, data reads spread over them and the main
   * client (each read to the one with the fewest bytes asked and not yet answered); closed
   * with the reader. Over an ssh forward every connection is a channel with its own flow
   * control window, so one connection alone waits on window updates (remote-qemu-nbd.ts).
   */
  dataClients?: NbdClient[];
}

/** A range of the disk, as dirtyExtents() yields them. */
export interface Range {
  offset: number;
  length: number;
}

const DEFAULT_WINDOW = 1024 * 1024 * 1024;
/** Block-status windows asked at once. */
const STATUS_AHEAD = 8;

export function extentKind(flags: number): ExtentKind {
  if (flags & NBD_STATE_ZERO) return flags & NBD_STATE_HOLE ? 'hole' : 'zero';
  return 'data';
}

export class NbdDiskReader implements DiskReader {
  readonly format: string;
  private readonly window: number;
  private closing: Promise<void> | undefined;
  /** The clients data reads go to, and the bytes each has been asked for and not answered. */
  private readonly lanes: { client: NbdClient; pending: number }[];

  constructor(
    readonly client: NbdClient,
    private readonly options: NbdDiskReaderOptions = {},
  ) {
    this.format = options.format ?? 'raw';
    const mb = client.info.minBlock;
    const w = options.statusWindow ?? DEFAULT_WINDOW;
    this.window = Math.max(mb, w - (w % mb));
    this.lanes = [client, ...(options.dataClients ?? [])].map((c) => ({ client: c, pending: 0 }));
  }

  /** Connects and selects `base:allocation` (plus any other contexts asked for). */
  static async open(
    options: NbdConnectOptions,
    readerOptions: NbdDiskReaderOptions = {},
  ): Promise<NbdDiskReader> {
    const contexts = new Set([CONTEXT_BASE_ALLOCATION, ...(options.metaContexts ?? [])]);
    const client = await NbdClient.connect({ ...options, metaContexts: [...contexts] });
    return new NbdDiskReader(client, readerOptions);
  }

  get virtualSize(): number {
    return this.client.size;
  }

  async *extents(range: ExtentRange = {}): AsyncGenerator<Extent> {
    const { start, end } = this.bounds(range);
    if (start === end) return;
    if (!this.client.info.contexts.has(CONTEXT_BASE_ALLOCATION)) {
      yield { offset: start, length: end - start, kind: 'data' };
      return;
    }
    const allocation = this.statusExtents(CONTEXT_BASE_ALLOCATION, { start, end });
    const statuses: AsyncIterable<StatusExtent & { depth?: number }> =
      this.client.info.contexts.has(CONTEXT_ALLOCATION_DEPTH)
        ? zipStatus(allocation, this.statusExtents(CONTEXT_ALLOCATION_DEPTH, { start, end }))
        : allocation;
    let pending: Extent | undefined;
    for await (const s of statuses) {
      let kind = extentKind(s.flags);
      if (kind !== 'data' && s.depth !== undefined) kind = s.depth > 0 ? 'zero' : 'hole';
      if (pending && pending.kind === kind) {
        pending.length += s.length;
        continue;
      }
      if (pending) yield pending;
      pending = { offset: s.offset, length: s.length, kind };
    }
    if (pending) yield pending;
  }

  /** The ranges a dirty bitmap context (`qemu:dirty-bitmap:NAME`) marks dirty, merged. */
  async *dirtyExtents(bitmapContext: string, range: ExtentRange = {}): AsyncGenerator<Range> {
    let pending: Range | undefined;
    for await (const s of this.statusExtents(bitmapContext, range)) {
      if (!(s.flags & NBD_STATE_DIRTY)) continue;
      if (pending && pending.offset + pending.length === s.offset) {
        pending.length += s.length;
        continue;
      }
      if (pending) yield pending;
      pending = { offset: s.offset, length: s.length };
    }
    if (pending) yield pending;
  }

  /**
   * Any selected context's status over the range, window by window, with
   * neighbours of equal flags merged. Contiguous and ordered. Up to
   * STATUS_AHEAD windows are asked at once: each is a round trip to the server,
   * which QEMU's answers in its main loop, beside a TCG guest milliseconds
   * late (a 10 GiB disk's dirty bitmap took 50 ms one window at a time).
   */
  async *statusExtents(context: string, range: ExtentRange = {}): AsyncGenerator<StatusExtent> {
    const { start, end } = this.bounds(range);
    const mb = this.client.info.minBlock;
    // Block status is asked from a block boundary; what lies before `start` is clipped.
    let next = start - (start % mb);
    const ahead: Promise<StatusExtent[]>[] = [];
    const ask = (): void => {
      const from = next;
      next = Math.min(from + this.window, end);
      const answer = this.windowStatus(context, from, next);
      answer.catch(() => undefined); // awaited in turn below
      ahead.push(answer);
    };
    while (ahead.length < STATUS_AHEAD && next < end) ask();
    let pending: StatusExtent | undefined;
    while (ahead.length > 0) {
      const extents = await ahead.shift()!;
      if (next < end) ask();
      for (const e of extents) {
        const from = Math.max(e.offset, start);
        const to = Math.min(e.offset + e.length, end);
        if (to <= from) continue;
        if (pending && pending.flags === e.flags) {
          pending.length = to - pending.offset;
          continue;
        }
        if (pending) yield pending;
        pending = { offset: from, length: to - from, flags: e.flags };
      }
    }
    if (pending) yield pending;
  }

  /** The status of [from, to), asked again from where an answer stopped short. */
  private async windowStatus(context: string, from: number, to: number): Promise<StatusExtent[]> {
    const out: StatusExtent[] = [];
    for (let at = from; at < to;) {
      const extents = await this.client.blockStatus(at, to - at, context);
      const last = extents[extents.length - 1];
      if (!last || last.offset + last.length <= at) {
        throw protocolError(`no block status for ${context} at offset ${at}`);
      }
      out.push(...extents);
      at = last.offset + last.length;
    }
    return out;
  }

  read(offset: number, length: number): Promise<Buffer> {
    return this.onLane(length, (c) => c.read(offset, length));
  }

  /** Runs a read on the least busy client. */
  private async onLane<T>(length: number, op: (c: NbdClient) => Promise<T>): Promise<T> {
    let lane = this.lanes[0]!;
    for (const l of this.lanes) if (l.pending < lane.pending) lane = l;
    lane.pending += length;
    try {
      return await op(lane.client);
    } finally {
      lane.pending -= length;
    }
  }

  /**
   * Reads into a buffer the caller owns (and may reuse: fresh buffers per read
   * cost garbage collection at hundreds of MiB/s); offset and length aligned to
   * the export's minimum block size (`client.info.minBlock`, 1 for qemu-nbd).
   * The same shape as DiskReader.readInto, so copyDisk reuses its buffers here too.
   */
  readInto(
    target: Uint8Array,
    targetOffset: number,
    offset: number,
    length: number,
  ): Promise<void> {
    if (targetOffset < 0 || length < 0 || targetOffset + length > target.length) {
      return Promise.reject(new RangeError('readInto: the target buffer is too small'));
    }
    const dest = Buffer.from(target.buffer, target.byteOffset + targetOffset, length);
    return this.onLane(length, (c) => c.readInto(dest, offset));
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        const extra = this.options.dataClients ?? [];
        await Promise.all([
          ...extra.map((c) => c.close()),
          ...((this.options.ownsClient ?? true) ? [this.client.close()] : []),
        ]);
      } finally {
        await this.options.onClose?.();
      }
    })();
    return this.closing;
  }

  private bounds(range: ExtentRange): { start: number; end: number } {
    const start = range.start ?? 0;
    const end = range.end ?? this.virtualSize;
    if (
      !Number.isSafeInteger(start) ||
      !Number.isSafeInteger(end) ||
      start < 0 ||
      start > end ||
      end > this.virtualSize
    ) {
      throw new NbdClientError(
        'NBD_INVALID_ARGUMENT',
        `extent range ${start}..${end} is outside the disk (${this.virtualSize} bytes)`,
      );
    }
    return { start, end };
  }
}

/**
 * Walks two status streams over the same range together, yielding the pieces
 * where both are constant: base:allocation flags plus the allocation depth.
 */
async function* zipStatus(
  allocation: AsyncGenerator<StatusExtent>,
  depth: AsyncGenerator<StatusExtent>,
): AsyncGenerator<StatusExtent & { depth?: number }> {
  let a = await allocation.next();
  let d = await depth.next();
  try {
    let at = a.done ? 0 : a.value.offset;
    while (!a.done && !d.done) {
      const aEnd = a.value.offset + a.value.length;
      const dEnd = d.value.offset + d.value.length;
      const end = Math.min(aEnd, dEnd);
      yield { offset: at, length: end - at, flags: a.value.flags, depth: d.value.flags };
      at = end;
      if (aEnd === end) a = await allocation.next();
      if (dEnd === end) d = await depth.next();
    }
  } finally {
    await Promise.all([allocation.return(undefined), depth.return(undefined)]);
  }
}
