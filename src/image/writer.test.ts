import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Qcow2Writer } from './qcow2-writer.js';
import { RawWriter } from './raw-writer.js';
import { hasCode, MiB, tempDir } from './testing/support.js';
import type { DiskReader, Extent } from './types.js';
import { copyDisk } from './writer-copy.js';
import { createWriter } from './writer-open.js';
import { IMAGE_WRITER_BUSY } from './writer.js';

/** A disk whose every read fails, after its extents promised data. */
function failingReader(): DiskReader {
  return {
    virtualSize: 64 * MiB,
    format: 'raw',
    async *extents(): AsyncGenerator<Extent> {
      yield { offset: 0, length: 32 * MiB, kind: 'data' };
      yield { offset: 32 * MiB, length: 32 * MiB, kind: 'zero' };
    },
    read: async (offset: number) => {
      if (offset >= 16 * MiB) throw new Error('disk on fire');
      return Buffer.alloc(8 * MiB, 1);
    },
    close: async () => undefined,
  };
}

describe('DiskWriter', () => {
  let dir: string;
  let remove: () => Promise<void>;
  before(async () => ({ dir, remove } = await tempDir()));
  after(() => remove());

  it('createWriter picks the writer for the format', async () => {
    const raw = await createWriter(join(dir, 'a.raw'), { format: 'raw', virtualSize: MiB });
    const qcow2 = await createWriter(join(dir, 'a.qcow2'), { format: 'qcow2', virtualSize: MiB });
    assert.ok(raw instanceof RawWriter);
    assert.ok(qcow2 instanceof Qcow2Writer);
    await raw.close();
    await qcow2.close();
  });

  it('copyDisk aborts the writer, removing its file, when the source fails', async () => {
    for (const format of ['raw', 'qcow2'] as const) {
      const target = join(dir, `failed.${format}`);
      const writer = await createWriter(target, { format, virtualSize: 64 * MiB });
      await assert.rejects(copyDisk(failingReader(), writer), /disk on fire/);
      await assert.rejects(stat(target), hasCode('ENOENT'));
    }
  });

  it('copyDisk reports how far through the disk it is, and stops on a signal', async () => {
    const reader: DiskReader = {
      ...failingReader(),
      read: async (_offset: number, n: number) => Buffer.alloc(n, 1),
    };
    const seen: number[] = [];
    const writer = await createWriter(join(dir, 'progress.raw'), {
      format: 'raw',
      virtualSize: 64 * MiB,
    });
    await copyDisk(reader, writer, { onProgress: (at) => seen.push(at) });
    assert.deepEqual(
      seen,
      [8, 16, 24, 32, 64].map((m) => m * MiB),
    );

    const abort = new AbortController();
    const stopped = await createWriter(join(dir, 'stopped.raw'), {
      format: 'raw',
      virtualSize: 64 * MiB,
    });
    const copy = copyDisk(reader, stopped, {
      signal: abort.signal,
      onProgress: (at) => at >= 8 * MiB && abort.abort(new Error('stop here')),
    });
    await assert.rejects(copy, /stop here/);
    await assert.rejects(stat(join(dir, 'stopped.raw')), hasCode('ENOENT'));
  });

  it('refuses a call made before the previous one resolved', async () => {
    for (const format of ['raw', 'qcow2'] as const) {
      const writer = await createWriter(join(dir, `busy.${format}`), {
        format,
        virtualSize: 64 * MiB,
      });
      const first = writer.write(0, Buffer.alloc(16 * MiB, 1));
      await assert.rejects(writer.write(32 * MiB, Buffer.alloc(1, 1)), hasCode(IMAGE_WRITER_BUSY));
      await first;
      await writer.close();
    }
  });
});
