import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bufferSource } from './source.js';
import { realisticBytes, withRepo } from './testing/support.js';
import { verifyRepository } from './verify.js';
import { BackupWriter } from './writer.js';

const KiB = 1024;

describe('verify memory', () => {
  for (const encrypted of [false, true]) {
    it(`verify --read-data checks every record in shared slots, no buffer of its own per record (${encrypted ? 'encrypted' : 'plain'})`, () =>
      withRepo({ encrypted, workers: 2, chunkSize: 64 * KiB }, async (repo) => {
        // Until 2026-12-06 each record was copied out of its pack and its plaintext sent back
        // from a worker: buffers freed late, and a verify's memory grew with the repository.
        const data = realisticBytes(4 * 1024 * KiB, 8);
        const w = await BackupWriter.start(repo, { vm: { name: 'verify-memory' } });
        await w.addDisk({ name: 'vda', source: bufferSource(data) });
        await w.commit();
        let own = 0;
        const codec = repo.codec;
        const decode = codec.decode.bind(codec);
        codec.decode = (...args) => (own++, decode(...args));
        const report = await verifyRepository(repo, { readData: true });
        assert.equal(report.ok, true);
        assert.equal(report.recordsRead, data.length / (64 * KiB));
        assert.ok(report.packsRead > 1, 'several packs, read into reused buffers');
        assert.equal(own, 0, 'records decoded into buffers of their own');
      }));
  }
});
