/**
 * An export held in memory, for tests of the server: bytes and the extent map
 * are given, reads can be slowed by a caller's promise so tests can hold
 * requests in flight.
 */
import type { ExportExtent, NbdExport } from '../types.js';

export class MemoryExport implements NbdExport {
  reads = 0;
  /** Reads wait for this before answering, when set. */
  gate: Promise<void> | undefined;

  constructor(
    readonly bytes: Buffer,
    readonly map: ExportExtent[] = [{ offset: 0, length: bytes.length, kind: 'data' }],
    readonly description = 'memory',
  ) {}

  get size(): number {
    return this.bytes.length;
  }

  async readInto(target: Buffer, offset: number, length: number): Promise<void> {
    this.reads++;
    if (this.gate) await this.gate;
    this.bytes.copy(target, 0, offset, offset + length);
  }

  extents(offset: number, length: number): Promise<ExportExtent[]> {
    return Promise.resolve(
      this.map.filter((e) => e.offset < offset + length && e.offset + e.length > offset),
    );
  }
}
