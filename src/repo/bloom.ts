/**
 * The Bloom filter of index runs and of the garbage collector's live set.
 * Chunk ids are uniformly distributed (SHA-256 or HMAC output), so two of
 * their 32-bit words serve as the two base hashes (docs/repository-format.md,
 * "Index runs").
 */

export const BLOOM_BITS_PER_ENTRY = 10;
export const BLOOM_K = 7;

export class Bloom {
  readonly bits: Buffer;
  private readonly m: number;

  constructor(
    bits: Buffer,
    readonly k: number,
  ) {
    this.bits = bits;
    this.m = bits.length * 8;
  }

  /** Room for n entries at 10 bits each, at least 64 bits, whole 8-byte words. */
  static forEntries(n: number, k = BLOOM_K): Bloom {
    const bytes = Math.max(8, Math.ceil((n * BLOOM_BITS_PER_ENTRY) / 64) * 8);
    return new Bloom(Buffer.alloc(bytes), k);
  }

  add(id: Buffer): void {
    const h1 = id.readUInt32LE(24);
    const h2 = id.readUInt32LE(28);
    for (let i = 0; i < this.k; i++) {
      const bit = (h1 + i * h2) % this.m;
      this.bits[bit >>> 3]! |= 1 << (bit & 7);
    }
  }

  mayContain(id: Buffer): boolean {
    const h1 = id.readUInt32LE(24);
    const h2 = id.readUInt32LE(28);
    for (let i = 0; i < this.k; i++) {
      const bit = (h1 + i * h2) % this.m;
      if ((this.bits[bit >>> 3]! & (1 << (bit & 7))) === 0) return false;
    }
    return true;
  }
}
