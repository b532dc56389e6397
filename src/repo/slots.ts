/**
 * Reading a committed fixed index (version 1 flat, or version 2 paged and
 * compressed): slot ids by page (32,768 slots, 1 MiB), and a streaming check
 * of its SHA-256 against its trailer and its manifest.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { decompress } from 'zstd-napi';
import { RepoIntegrityError } from './errors.js';
import {
  FIDX_FLAT,
  FIDX_HEADER,
  fidxSize,
  PAGE_ENTRY,
  PAGE_SLOTS,
  pageCount,
  parseFidxHeader,
  parsePageEntry,
  SLOT,
  type FidxHeader,
  type PageEntry,
} from './fidx.js';
import { fidxObjectName, type ManifestDisk } from './manifest.js';
import type { Backend } from './backend/types.js';

export class SlotReader {
  private pages = new Map<number, Buffer>();
  readonly object: string;

  private constructor(
    private readonly backend: Backend,
    readonly backup: string,
    readonly disk: ManifestDisk,
    readonly header: FidxHeader,
    /** Version 2: where each page is; undefined for a flat (version 1) index. */
    private readonly table: PageEntry[] | undefined,
    /** The object's size in bytes. */
    private readonly size: number,
  ) {
    this.object = fidxObjectName(backup, disk.name);
  }

  static async open(backend: Backend, backup: string, disk: ManifestDisk): Promise<SlotReader> {
    const where = { backup, disk: disk.name };
    const obj = fidxObjectName(backup, disk.name);
    let head: Buffer;
    try {
      head = await backend.getRange(obj, 0, FIDX_HEADER);
    } catch (err) {
      throw new RepoIntegrityError('REPO_FIXED_INDEX_CORRUPT', 'fixed index is missing', where, {
        cause: err,
      });
    }
    const header = parseFidxHeader(head, where);
    const bad = (why: string): RepoIntegrityError =>
      new RepoIntegrityError('REPO_FIXED_INDEX_CORRUPT', why, where);
    if (header.virtualSize !== disk.virtualSize) {
      throw bad('fixed index size disagrees with the manifest');
    }
    const size = (await backend.stat(obj))?.size ?? 0;
    if (header.version === FIDX_FLAT) {
      if (size !== fidxSize(header.slots)) {
        throw bad(`fixed index is ${size} bytes, expected ${fidxSize(header.slots)}`);
      }
      return new SlotReader(backend, backup, disk, header, undefined, size);
    }
    // Version 2: the page table sits before the trailer; the pages tile the space before it.
    const pages = pageCount(header.slots);
    const tableAt = size - 32 - pages * PAGE_ENTRY;
    if (tableAt < FIDX_HEADER) throw bad('fixed index is truncated');
    const raw = await backend.getRange(obj, tableAt, pages * PAGE_ENTRY);
    if (raw.length !== pages * PAGE_ENTRY) throw bad('fixed index is truncated');
    const table: PageEntry[] = [];
    let expect = FIDX_HEADER;
    for (let i = 0; i < pages; i++) {
      const e = parsePageEntry(raw, i * PAGE_ENTRY);
      if (e.offset !== expect || e.length === 0) throw bad('fixed index page table is damaged');
      expect += e.length;
      table.push(e);
    }
    if (expect !== tableAt) throw bad('fixed index page table does not match its size');
    return new SlotReader(backend, backup, disk, header, table, size);
  }

  get slots(): number {
    return this.header.slots;
  }

  /** The id of a slot (32 bytes; the zero digest for zero slots). */
  async get(slot: number): Promise<Buffer> {
    const page = await this.page(Math.floor(slot / PAGE_SLOTS));
    const o = (slot % PAGE_SLOTS) * SLOT;
    return page.subarray(o, o + SLOT);
  }

  /**
   * The ids of slots [from, from + count), back to back, in pieces of at most a page (views of
   * the cached pages: copy what must outlive the next call).
   */
  async *range(from: number, count: number): AsyncGenerator<Buffer> {
    for (let slot = from; slot < from + count;) {
      const p = Math.floor(slot / PAGE_SLOTS);
      const n = Math.min(from + count, (p + 1) * PAGE_SLOTS) - slot;
      const page = await this.page(p);
      const o = (slot % PAGE_SLOTS) * SLOT;
      yield page.subarray(o, o + n * SLOT);
      slot += n;
    }
  }

  /** Page `p` of the ids, from the last four read or from the backend. */
  private async page(p: number): Promise<Buffer> {
    let page = this.pages.get(p);
    if (!page) {
      page = await this.readPage(p);
      if (this.pages.size >= 4) this.pages.delete(this.pages.keys().next().value!);
      this.pages.set(p, page);
    }
    return page;
  }

  private async readPage(p: number): Promise<Buffer> {
    const bad = (why: string): RepoIntegrityError =>
      new RepoIntegrityError('REPO_FIXED_INDEX_CORRUPT', why, {
        backup: this.backup,
        disk: this.disk.name,
      });
    const first = p * PAGE_SLOTS;
    const want = Math.min(PAGE_SLOTS, this.header.slots - first) * SLOT;
    const e = this.table?.[p];
    if (e === undefined) {
      const page = await this.backend.getRange(this.object, FIDX_HEADER + first * SLOT, want);
      if (page.length !== want) throw bad('fixed index is truncated');
      return page;
    }
    const stored = await this.backend.getRange(this.object, e.offset, e.length);
    if (stored.length !== e.length) throw bad('fixed index is truncated');
    if (crc32(stored) !== e.crc) throw bad(`fixed index page ${p} fails its CRC32`);
    let page: Buffer;
    try {
      page = e.zstd ? decompress(stored) : stored;
    } catch (err) {
      throw bad(`fixed index page ${p} does not decompress: ${String(err)}`);
    }
    if (page.length !== want)
      throw bad(`fixed index page ${p} holds ${page.length} bytes, not ${want}`);
    return page;
  }

  /** Reads the whole index once: trailer SHA-256 and the manifest's SHA-256 must agree. */
  async verify(): Promise<void> {
    const where = { backup: this.backup, disk: this.disk.name };
    const size = this.size;
    const h = createHash('sha256');
    const step = 4 * 1024 * 1024;
    for (let o = 0; o < size - 32; o += step) {
      h.update(await this.backend.getRange(this.object, o, Math.min(step, size - 32 - o)));
    }
    const digest = h.digest();
    const trailer = await this.backend.getRange(this.object, size - 32, 32);
    if (!digest.equals(trailer)) {
      throw new RepoIntegrityError(
        'REPO_FIXED_INDEX_CORRUPT',
        'fixed index checksum mismatch',
        where,
      );
    }
    if (digest.toString('hex') !== this.disk.indexSha256) {
      throw new RepoIntegrityError(
        'REPO_FIXED_INDEX_CORRUPT',
        'fixed index is not the one the manifest names',
        where,
      );
    }
  }
}
