import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BackupDisk } from './reader.js';
import { bufferSource } from './source.js';
import { realisticBytes, withRepo } from './testing/support.js';
import { BackupWriter } from './writer.js';

const KiB = 1024;
const MiB = 1024 * KiB;

describe('reader memory', () => {
  it("a restore's four 8 MiB reads in flight decode every chunk once, each into the reader's own slots", () =>
    withRepo({ encrypted: false, workers: 2, chunkSize: 256 * KiB }, async (repo) => {
      // 64 MiB at 256 KiB chunks: four reads of 32 chunks in flight pin more than the reader's
      // arena holds. Before the reads shared a budget of pins, chunks beyond the arena were
      // decoded into buffers of their own (a worker's allocation each, freed by the main
      // thread's garbage collector: a restore's memory grew with the disk) and prefetched
      // chunks were evicted unread, then decoded again.
      const data = realisticBytes(64 * MiB, 5);
      const w = await BackupWriter.start(repo, { vm: { name: 'reader-memory' } });
      await w.addDisk({ name: 'vda', source: bufferSource(data) });
      const m = await w.commit();
      let own = 0;
      let intoSlots = 0;
      const loadChunk = repo.loadChunk.bind(repo);
      const loadChunkInto = repo.loadChunkInto.bind(repo);
      repo.loadChunk = (...args) => (own++, loadChunk(...args));
      repo.loadChunkInto = (...args) => (intoSlots++, loadChunkInto(...args));
      const disk = await BackupDisk.open(repo, m.id, 'vda');
      try {
        const reads: Promise<void>[] = [];
        for (let at = 0; at < data.length; at += 8 * MiB) {
          if (reads.length === 4) await reads.shift();
          const buf = Buffer.alloc(8 * MiB);
          reads.push(
            disk.readInto(buf, 0, at, buf.length).then(() => {
              assert.ok(buf.equals(data.subarray(at, at + buf.length)), `bytes at ${at}`);
            }),
          );
        }
        await Promise.all(reads);
      } finally {
        await disk.close();
      }
      assert.equal(own, 0, 'chunks decoded into buffers of their own');
      assert.equal(intoSlots, data.length / (256 * KiB), 'chunks decoded into slots');
    }));
});
