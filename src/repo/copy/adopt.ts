/**
 * Adopting committed packs that no index run names (docs/repo-copy.md, "Resuming"): what a
 * copy killed mid-disk sent is in packs its writer had not yet indexed. Their tables are read
 * (by range) and written as one index run, so that the next copy finds those chunks and does
 * not send them again. The caller holds a lock and has read the GC plans (`doomed`).
 */
import { PENDING_LIMIT } from '../chunk-index.js';
import { readPackTable } from '../pack.js';
import type { Repository } from '../repository.js';
import type { IndexEntry } from '../run.js';

export interface Adopted {
  /** Packs whose entries were written into a new index run. */
  packs: number;
  /** Chunks those packs hold. */
  chunks: number;
  /** Packs left alone: their table could not be read (a gc or repair deals with them). */
  unreadable: number;
}

const PACK_NAME = /^data\/[0-9a-f]{2}\/([0-9a-f]{64})$/;

export async function adoptUnindexedPacks(
  repo: Repository,
  doomed: ReadonlySet<string>,
): Promise<Adopted> {
  await repo.index.refresh();
  const named = repo.index.packIds();
  const entries = new Map<string, IndexEntry>();
  const out: Adopted = { packs: 0, chunks: 0, unreadable: 0 };
  for await (const o of repo.backend.list('data/')) {
    const m = PACK_NAME.exec(o.name);
    if (!m || named.has(m[1]!) || doomed.has(m[1]!) || o.name.slice(5, 7) !== m[1]!.slice(0, 2)) {
      continue;
    }
    const table = await readPackTable(repo.backend, m[1]!, o.size);
    if (typeof table === 'string') {
      out.unreadable++;
      continue;
    }
    const pack = Buffer.from(m[1]!, 'hex');
    out.packs++;
    for (const e of table) {
      out.chunks++;
      entries.set(e.id.toString('hex'), {
        id: e.id,
        pack,
        offset: e.offset,
        length: e.length,
        plainLength: e.plainLength,
      });
    }
    if (entries.size >= PENDING_LIMIT) await write(repo, entries);
  }
  await write(repo, entries);
  return out;
}

/** The entries as one index run (each id once), as a writer writes its pending entries. */
async function write(repo: Repository, entries: Map<string, IndexEntry>): Promise<void> {
  for (const e of entries.values()) repo.index.addPending(e);
  entries.clear();
  await repo.index.flush();
}
