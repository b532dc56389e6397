/**
 * What the NBD server serves: an export is anything with a size, random reads
 * and a map of its data, holes and zeroes. The server knows nothing else about
 * where the bytes come from (a backup in the repository, a test buffer).
 */

/** 'data' reads as stored bytes; 'hole' is unallocated and reads as zeroes; 'zero' is allocated zeroes. */
export type ExportExtentKind = 'data' | 'hole' | 'zero';

export interface ExportExtent {
  offset: number;
  length: number;
  kind: ExportExtentKind;
}

export interface NbdExport {
  /** Bytes in the export. */
  readonly size: number;
  /** Shown to clients that ask (NBD_INFO_DESCRIPTION). */
  readonly description?: string;
  /** Fills target[0, length) with bytes [offset, offset+length); the server checks bounds first. */
  readInto(target: Buffer, offset: number, length: number): Promise<void>;
  /**
   * Runs covering [offset, offset+length) in order, without gaps; they may start before or end
   * after the range (the server clips them).
   */
  extents(offset: number, length: number): Promise<ExportExtent[]>;
}
