/**
 * A disk of a backup as an NBD export: reads go to the repository's reader
 * (each chunk decrypted, decompressed and verified on demand, a cache of
 * decoded chunks shared by every connection), and the map comes from the
 * backup's fixed index: an all-zero slot is a hole, as it was never stored.
 */
import type { ExportExtent, NbdExport } from '../../nbd/index.js';
import type { BackupDisk } from '../../repo/reader.js';

export class BackupExport implements NbdExport {
  private constructor(
    private readonly disk: BackupDisk,
    /** The whole disk's runs, in order (adjacent slots of a kind merged). */
    private readonly runs: ExportExtent[],
    readonly description: string,
  ) {}

  /** Reads the index once: the runs are asked for on every read and block status. */
  static async over(disk: BackupDisk): Promise<BackupExport> {
    const runs: ExportExtent[] = [];
    for await (const e of disk.extents()) {
      runs.push({ offset: e.offset, length: e.length, kind: e.kind === 'data' ? 'data' : 'hole' });
    }
    const b = disk.backup;
    return new BackupExport(
      disk,
      runs,
      `brankas backup ${b.id} of ${b.vm.name}, disk ${disk.disk.name}`,
    );
  }

  get size(): number {
    return this.disk.virtualSize;
  }

  readInto(target: Buffer, offset: number, length: number): Promise<void> {
    return this.disk.readInto(target, 0, offset, length);
  }

  extents(offset: number, length: number): Promise<ExportExtent[]> {
    const end = offset + length;
    // The first run that ends after offset.
    let lo = 0;
    let hi = this.runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const r = this.runs[mid]!;
      if (r.offset + r.length <= offset) lo = mid + 1;
      else hi = mid;
    }
    const out: ExportExtent[] = [];
    for (let i = lo; i < this.runs.length && this.runs[i]!.offset < end; i++)
      out.push(this.runs[i]!);
    return Promise.resolve(out);
  }
}
