/**
 * Reading a committed fixed index: slot ids by page (32,768 slots, 1 MiB),
 * and a streaming check of its SHA-256 against its trailer and its manifest.
 */
import { createHash } from 'node:crypto';
import { RepoIntegrityError } from './errors.js';
import { FIDX_HEADER, fidxSize, parseFidxHeader, SLOT, type FidxHeader } from './fidx.js';
import { fidxObjectName, type ManifestDisk } from './manifest.js';
import type { Backend } from './backend/types.js';

const PAGE_SLOTS = 32768;

export class SlotReader {
  private pages = new Map<number, Buffer>();
  readonly object: string;

  private constructor(
    private readonly backend: Backend,
    readonly backup: string,
    readonly disk: ManifestDisk,
    readonly header: FidxHeader,
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
    if (header.virtualSize !== disk.virtualSize) {
      throw new RepoIntegrityError(
        'REPO_FIXED_INDEX_CORRUPT',
        'fixed index size disagrees with the manifest',
        where,
      );
    }
    return new SlotReader(backend, backup, disk, header);
  }

  get slots(): number {
    return this.header.slots;
  }

  /** The id of a slot (32 bytes; the zero digest for zero slots). */
  async get(slot: number): Promise<Buffer> {
    const p = Math.floor(slot / PAGE_SLOTS);
    let page = this.pages.get(p);
    if (!page) {
      const first = p * PAGE_SLOTS;
      const count = Math.min(PAGE_SLOTS, this.header.slots - first);
      page = await this.backend.getRange(this.object, FIDX_HEADER + first * SLOT, count * SLOT);
      if (page.length !== count * SLOT) {
        throw new RepoIntegrityError('REPO_FIXED_INDEX_CORRUPT', 'fixed index is truncated', {
          backup: this.backup,
          disk: this.disk.name,
        });
      }
      if (this.pages.size >= 4) this.pages.delete(this.pages.keys().next().value!);
      this.pages.set(p, page);
    }
    const o = (slot % PAGE_SLOTS) * SLOT;
    return page.subarray(o, o + SLOT);
  }

  /** Reads the whole index once: size, trailer SHA-256 and the manifest's SHA-256 must agree. */
  async verify(): Promise<void> {
    const where = { backup: this.backup, disk: this.disk.name };
    const size = fidxSize(this.header.slots);
    const stat = await this.backend.stat(this.object);
    if (!stat || stat.size !== size) {
      throw new RepoIntegrityError(
        'REPO_FIXED_INDEX_CORRUPT',
        `fixed index is ${stat?.size ?? 0} bytes, expected ${size}`,
        where,
      );
    }
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
