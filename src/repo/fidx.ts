/**
 * The fixed index of one disk of one backup (docs/repository-format.md,
 * "Fixed index"): a 32-byte header, one chunk id per slot, a SHA-256 trailer.
 * Written as a stream (it grows with the disk: 128 MiB per TiB), read by range.
 */
import { createHash, type Hash } from 'node:crypto';
import { RepoError, RepoIntegrityError } from './errors.js';
import type { ObjectUpload } from './backend/types.js';

export const FIDX_MAGIC = Buffer.from('BKFX');
export const FIDX_HEADER = 32;
export const SLOT = 32;

export interface FidxHeader {
  chunkSize: number;
  virtualSize: number;
  slots: number;
}

export function fidxSize(slots: number): number {
  return FIDX_HEADER + slots * SLOT + 32;
}

export function encodeFidxHeader(h: FidxHeader): Buffer {
  const b = Buffer.alloc(FIDX_HEADER);
  FIDX_MAGIC.copy(b, 0);
  b[4] = 1;
  b.writeUInt32LE(h.chunkSize, 8);
  b.writeBigUInt64LE(BigInt(h.virtualSize), 16);
  b.writeBigUInt64LE(BigInt(h.slots), 24);
  return b;
}

export function parseFidxHeader(b: Buffer, where: { backup: string; disk: string }): FidxHeader {
  const bad = (why: string): RepoIntegrityError =>
    new RepoIntegrityError('REPO_FIXED_INDEX_CORRUPT', `fixed index is damaged: ${why}`, where);
  if (b.length < FIDX_HEADER) throw bad('truncated header');
  if (!b.subarray(0, 4).equals(FIDX_MAGIC)) throw bad('bad magic');
  if (b[4] !== 1) throw bad(`unknown version ${b[4]}`);
  const chunkSize = b.readUInt32LE(8);
  const virtualSize = Number(b.readBigUInt64LE(16));
  const slots = Number(b.readBigUInt64LE(24));
  if (chunkSize === 0 || slots !== Math.ceil(virtualSize / chunkSize)) {
    throw bad('slot count does not match size');
  }
  return { chunkSize, virtualSize, slots };
}

/** Streams a fixed index into an upload, batching slots into large writes. */
export class FidxWriter {
  private readonly hash: Hash = createHash('sha256');
  private batch: Buffer;
  private used = 0;
  written = 0;

  constructor(
    private readonly upload: ObjectUpload,
    readonly header: FidxHeader,
    batchSlots = 32768,
  ) {
    this.batch = Buffer.alloc(batchSlots * SLOT);
    const h = encodeFidxHeader(header);
    h.copy(this.batch, 0);
    this.used = FIDX_HEADER;
  }

  async add(id: Buffer): Promise<void> {
    if (this.written >= this.header.slots)
      throw new RepoError('REPO_INVALID_ARGUMENT', 'more slots than the disk has');
    id.copy(this.batch, this.used);
    this.used += SLOT;
    this.written++;
    if (this.used + SLOT > this.batch.length) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.used === 0) return;
    const part = Buffer.from(this.batch.subarray(0, this.used));
    this.hash.update(part);
    this.used = 0;
    await this.upload.write(part);
  }

  /** Writes the trailer and commits; returns the SHA-256 in hex. */
  async commit(): Promise<string> {
    if (this.written !== this.header.slots)
      throw new RepoError('REPO_INVALID_ARGUMENT', 'fixed index is missing slots');
    await this.flush();
    const digest = this.hash.digest();
    await this.upload.write(digest);
    await this.upload.commit();
    return digest.toString('hex');
  }

  abort(): Promise<void> {
    return this.upload.abort();
  }
}
