/**
 * createWriter: the one place a restore engine picks a writer by format, so it
 * holds a DiskWriter and never a concrete class.
 */
import { Qcow2Writer, type Qcow2WriterOptions } from './qcow2-writer.js';
import { RawWriter, type RawWriterOptions } from './raw-writer.js';
import type { DiskWriter } from './writer.js';

export type CreateWriterOptions =
  ({ format: 'raw' } & RawWriterOptions) | ({ format: 'qcow2' } & Qcow2WriterOptions);

export async function createWriter(
  path: string,
  options: CreateWriterOptions,
): Promise<DiskWriter> {
  return options.format === 'qcow2'
    ? Qcow2Writer.create(path, options)
    : RawWriter.create(path, options);
}
