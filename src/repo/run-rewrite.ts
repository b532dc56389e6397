/**
 * Rewriting the index: garbage collection and repair both replace the index runs with new ones
 * that hold every entry but those they drop, before deleting the old runs. One place for it, so
 * both keep the same guarantees: entries come out in id order, each id once, a run at most
 * RUN_MAX_ENTRIES long.
 */
import type { Backend } from './backend/types.js';
import type { RepoIndex } from './chunk-index.js';
import { RunBuilder, runObjectName, type IndexEntry } from './run.js';

/** The most entries a rewritten run holds (32 MiB of entries). */
export const RUN_MAX_ENTRIES = 1 << 20;

/**
 * Writes new runs with every entry of `runs` that `drop` does not name, each id once (the scan
 * is in id order, so a repeat follows its first), and returns their names.
 */
export async function rewriteRuns(
  backend: Backend,
  index: RepoIndex,
  runs: string[],
  drop: (e: IndexEntry) => boolean,
): Promise<string[]> {
  const written: string[] = [];
  let builder = new RunBuilder();
  let last: Buffer | undefined;
  const put = async (): Promise<void> => {
    if (builder.count === 0) return;
    const { id, bytes } = builder.finish();
    await backend.put(runObjectName(id), bytes);
    written.push(id);
    builder = new RunBuilder();
  };
  for await (const e of index.scan(runs)) {
    if (drop(e)) continue;
    if (last && last.equals(e.id)) continue;
    last = e.id;
    builder.add(e);
    if (builder.count >= RUN_MAX_ENTRIES) await put();
  }
  await put();
  return written;
}
