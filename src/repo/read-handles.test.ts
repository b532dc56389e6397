/**
 * The local backend's cached read handles seen from the repository: a reader
 * whose packs another repository's garbage collector repacks and deletes
 * keeps reading correct data, and closing repositories closes every file.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { LocalBackend } from './backend/local.js';
import { forget } from './forget.js';
import { collectGarbage } from './gc.js';
import { Repository } from './repository.js';
import {
  backupBytes,
  readBack,
  realisticBytes,
  TEST_PASSWORD,
  withRepo,
} from './testing/support.js';
import { needsProcFd, openFilesUnder } from './testing/open-files.js';

const KiB = 1024;

it(
  'a reader whose packs another gc repacked and deleted still reads its backup, and closing leaves no file open',
  needsProcFd,
  () =>
    withRepo({ packSize: 256 * KiB }, async (repo, dir) => {
      const a = realisticBytes(1024 * KiB, 41);
      const b = Buffer.from(a);
      realisticBytes(512 * KiB, 42).copy(b, 0);
      await backupBytes(repo, a);
      const idB = await backupBytes(repo, b);

      const reader = await Repository.open(new LocalBackend(dir), {
        password: TEST_PASSWORD,
        workers: 0,
      });
      try {
        assert.ok((await readBack(reader, idB)).equals(b));
        assert.ok((await openFilesUnder(dir)).length > 0, 'the reader keeps its packs open');

        // The other repository forgets the first backup and rewrites the packs it shared.
        assert.equal((await forget(repo, { last: 1 })).removed.length, 1);
        const gc = await collectGarbage(repo);
        assert.ok(gc.repackedPacks > 0, JSON.stringify(gc));
        assert.ok((await openFilesUnder(dir)).some((f) => f.endsWith(' (deleted)')));

        // Open handles still read the deleted packs as they were (every chunk is verified)...
        assert.ok((await readBack(reader, idB)).equals(b));
        // ...and once they are dropped (close() does it at once; the backend stays usable),
        // the reader finds the chunks where gc moved them.
        await reader.backend.close();
        assert.ok(!(await openFilesUnder(dir)).some((f) => f.endsWith(' (deleted)')));
        assert.ok((await readBack(reader, idB)).equals(b));
      } finally {
        await reader.close();
      }
      await repo.close();
      assert.deepEqual(await openFilesUnder(dir), []);
    }),
);
