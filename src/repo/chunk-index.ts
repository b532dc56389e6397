/**
 * The repository index: the union of the index runs in the backend plus this
 * process's pending entries. Per run only the pack table, block table and
 * Bloom filter stay in memory (docs/repository-format.md, "The memory
 * bound"); a lookup reads one 3 KiB block. Filters beyond a budget are not
 * loaded: those runs are searched by block reads alone.
 */
import { crc32 } from 'node:zlib';
import type { Backend } from './backend/types.js';
import { Bloom } from './bloom.js';
import { isObjectNotFound, RepoIntegrityError } from './errors.js';
import {
  encodeRun,
  entryAt,
  parseRunHeader,
  RUN_BLOCK,
  RUN_BLOCK_ROW,
  RUN_ENTRY,
  RUN_HEADER,
  runObjectName,
  type IndexEntry,
  type RunLayout,
} from './run.js';

export const DEFAULT_FILTER_BUDGET = 128 * 1024 * 1024;
/** A writer writes its pending entries as a run once this many are waiting. */
export const PENDING_LIMIT = 65536;
const BLOCK_CACHE = 2048;

/** What a lookup leaves out: hex pack ids, or a test of each entry. */
export type SkipEntries = ReadonlySet<string> | ((e: IndexEntry) => boolean);

function skip(e: IndexEntry, exclude: SkipEntries | undefined): boolean {
  if (exclude === undefined) return false;
  return typeof exclude === 'function' ? exclude(e) : exclude.has(e.pack.toString('hex'));
}

function isDamagedRun(err: unknown): boolean {
  return err instanceof RepoIntegrityError && err.code === 'REPO_INDEX_CORRUPT';
}

export interface LoadedRun {
  readonly name: string;
  readonly layout: RunLayout;
  readonly packTable: Buffer;
  readonly blockTable: Buffer;
  readonly bloom: Bloom | undefined;
}

export class RepoIndex {
  private runs = new Map<string, LoadedRun>();
  private readonly pending = new Map<string, IndexEntry>();
  private readonly blocks = new Map<string, Promise<Buffer>>();
  private filterBytes = 0;
  /**
   * Runs that could not be loaded. They are skipped: a writer then stores
   * their chunks again (safe), a reader reports them missing, and verify and
   * gc report the damage (gc refuses to run while there is any).
   */
  damaged = new Map<string, RepoIntegrityError>();

  constructor(
    private readonly backend: Backend,
    private readonly filterBudget = DEFAULT_FILTER_BUDGET,
  ) {}

  get runCount(): number {
    return this.runs.size;
  }

  get runNames(): string[] {
    return [...this.runs.keys()];
  }

  /** Memory held for the runs, in bytes (tables and filters). */
  get memoryBytes(): number {
    let n = 0;
    for (const r of this.runs.values()) {
      n += r.packTable.length + r.blockTable.length + (r.bloom?.bits.length ?? 0);
    }
    return n;
  }

  /** Loads runs that appeared and forgets runs that went (another process's GC). */
  async refresh(): Promise<void> {
    const seen = new Set<string>();
    for await (const o of this.backend.list('index/')) {
      const name = o.name.slice('index/'.length);
      if (!/^[0-9a-f]{64}$/.test(name)) continue;
      seen.add(name);
      // A run is named by the hash of its bytes: one found damaged stays damaged.
      if (this.runs.has(name) || this.damaged.has(name)) continue;
      try {
        this.runs.set(name, await this.loadRun(name));
        this.damaged.delete(name);
      } catch (err) {
        if (err instanceof RepoIntegrityError) this.damaged.set(name, err);
        else if (!isObjectNotFound(err)) throw err;
      }
    }
    for (const name of this.damaged.keys()) if (!seen.has(name)) this.damaged.delete(name);
    for (const [name, run] of this.runs) {
      if (!seen.has(name)) {
        this.filterBytes -= run.bloom?.bits.length ?? 0;
        this.runs.delete(name);
      }
    }
  }

  /** Runs written anew under names once found damaged (a repair): the next refresh loads them. */
  forgetDamaged(names: Iterable<string>): void {
    for (const n of names) this.damaged.delete(n);
  }

  private async loadRun(name: string): Promise<LoadedRun> {
    const obj = runObjectName(name);
    const layout = parseRunHeader(await this.backend.getRange(obj, 0, RUN_HEADER), name);
    const packTable = await this.backend.getRange(obj, layout.packTableAt, layout.packCount * 32);
    const tail = await this.backend.getRange(
      obj,
      layout.blockTableAt,
      layout.size - layout.blockTableAt,
    );
    if (
      packTable.length !== layout.packCount * 32 ||
      tail.length !== layout.size - layout.blockTableAt
    ) {
      throw new RepoIntegrityError('REPO_INDEX_CORRUPT', 'index run is truncated', { run: name });
    }
    if (crc32(tail, crc32(packTable)) !== layout.tailCrc) {
      throw new RepoIntegrityError('REPO_INDEX_CORRUPT', 'index run tables CRC32 mismatch', {
        run: name,
      });
    }
    const blockTable = Buffer.from(tail.subarray(0, layout.blockCount * RUN_BLOCK_ROW));
    let bloom: Bloom | undefined;
    if (this.filterBytes + layout.filterBytes <= this.filterBudget) {
      bloom = new Bloom(Buffer.from(tail.subarray(layout.blockCount * RUN_BLOCK_ROW)), layout.k);
      this.filterBytes += layout.filterBytes;
    }
    return { name, layout, packTable, blockTable, bloom };
  }

  /**
   * Entries of block b of a run, CRC-checked. Lookups that need a block being fetched share
   * that fetch: a restore looks chunks up several at a time, and on S3 each fetch is a request.
   */
  block(run: LoadedRun, b: number): Promise<Buffer> {
    const key = `${run.name}:${b}`;
    const cached = this.blocks.get(key);
    if (cached) {
      this.blocks.delete(key);
      this.blocks.set(key, cached);
      return cached;
    }
    const p = this.fetchBlock(run, b);
    this.blocks.set(key, p);
    // A failed fetch is not kept: the next lookup asks again (or finds the run marked damaged).
    p.catch(() => {
      if (this.blocks.get(key) === p) this.blocks.delete(key);
    });
    if (this.blocks.size > BLOCK_CACHE) this.blocks.delete(this.blocks.keys().next().value!);
    return p;
  }

  private async fetchBlock(run: LoadedRun, b: number): Promise<Buffer> {
    const count = Math.min(RUN_BLOCK, run.layout.entryCount - b * RUN_BLOCK);
    const buf = await this.backend.getRange(
      runObjectName(run.name),
      run.layout.entriesAt + b * RUN_BLOCK * RUN_ENTRY,
      count * RUN_ENTRY,
    );
    if (
      buf.length !== count * RUN_ENTRY ||
      crc32(buf) !== run.blockTable.readUInt32LE(b * RUN_BLOCK_ROW + 8)
    ) {
      const err = new RepoIntegrityError('REPO_INDEX_CORRUPT', `index run block ${b} is damaged`, {
        run: run.name,
      });
      this.markDamaged(run, err);
      throw err;
    }
    return buf;
  }

  /**
   * A run found damaged after it was loaded (a block failed its CRC32) is from then on treated
   * like one that failed to load: left out of lookups and scans, reported in `damaged`.
   */
  private markDamaged(run: LoadedRun, err: RepoIntegrityError): void {
    if (this.runs.get(run.name) !== run) return;
    this.runs.delete(run.name);
    this.filterBytes -= run.bloom?.bits.length ?? 0;
    this.damaged.set(run.name, err);
    for (const key of [...this.blocks.keys()]) {
      if (key.startsWith(`${run.name}:`)) this.blocks.delete(key);
    }
  }

  private async findInRun(run: LoadedRun, id: Buffer): Promise<IndexEntry | undefined> {
    if (run.layout.entryCount === 0 || (run.bloom && !run.bloom.mayContain(id))) return undefined;
    const prefix = id.subarray(0, 8);
    const rowPrefix = (b: number): Buffer =>
      run.blockTable.subarray(b * RUN_BLOCK_ROW, b * RUN_BLOCK_ROW + 8);
    // The last block whose first prefix is <= the id's prefix.
    let lo = 0;
    let hi = run.layout.blockCount - 1;
    if (Buffer.compare(rowPrefix(0), prefix) > 0) return undefined;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (Buffer.compare(rowPrefix(mid), prefix) <= 0) lo = mid;
      else hi = mid - 1;
    }
    // Equal 8-byte prefixes may straddle blocks: look back while they match.
    for (let b = lo; b >= 0; b--) {
      const block = await this.block(run, b);
      let l = 0;
      let h = block.length / RUN_ENTRY - 1;
      while (l <= h) {
        const m = (l + h) >>> 1;
        const c = Buffer.compare(block.subarray(m * RUN_ENTRY, m * RUN_ENTRY + 32), id);
        if (c === 0) return entryAt(block, m, run.packTable);
        if (c < 0) l = m + 1;
        else h = m - 1;
      }
      if (!rowPrefix(b).equals(prefix)) break;
    }
    return undefined;
  }

  /**
   * Every location of id (pending first), skipping those `exclude` names: a set of hex pack
   * ids, or a test of the entry (packs marked by gc, packs gone, records known damaged).
   */
  async lookupAll(id: Buffer, exclude?: SkipEntries): Promise<IndexEntry[]> {
    const out: IndexEntry[] = [];
    const p = this.pending.get(id.toString('hex'));
    if (p) out.push(p);
    for (let attempt = 0; ; attempt++) {
      try {
        for (const run of [...this.runs.values()]) {
          let e: IndexEntry | undefined;
          try {
            e = await this.findInRun(run, id);
          } catch (err) {
            // A damaged block: the run is now in `damaged`, and its ids are unknown (a writer
            // stores them again; repo repair rebuilds the run from the packs).
            if (isDamagedRun(err)) continue;
            throw err;
          }
          if (e && !skip(e, exclude)) out.push(e);
        }
        return out;
      } catch (err) {
        // A run deleted by a garbage collector that replaced it: load the new set once.
        if (!isObjectNotFound(err) || attempt > 0) throw err;
        out.length = p ? 1 : 0;
        await this.refresh();
      }
    }
  }

  /** One location of id outside `exclude`, or undefined. */
  async lookup(id: Buffer, exclude?: SkipEntries): Promise<IndexEntry | undefined> {
    const p = this.pending.get(id.toString('hex'));
    if (p) return p;
    return (await this.lookupAll(id, exclude))[0];
  }

  /** Records an entry of a pack that is already durable. */
  addPending(e: IndexEntry): void {
    this.pending.set(e.id.toString('hex'), e);
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Writes the pending entries as a run (their packs must be durable) and loads it. */
  async flush(): Promise<string | undefined> {
    if (this.pending.size === 0) return undefined;
    const { id, bytes } = encodeRun([...this.pending.values()]);
    await this.backend.put(runObjectName(id), bytes);
    this.runs.set(id, await this.loadRun(id));
    this.pending.clear();
    return id;
  }

  /**
   * Every entry of the given runs (default: all loaded), in id order; an id
   * stored twice comes twice, one after the other. Memory: one span per run.
   * A damaged block stops the scan (the run is then in `damaged`), unless
   * `skipDamaged`: then that run's remaining entries are left out.
   */
  async *scan(
    runNames?: string[],
    o: { skipDamaged?: boolean } = {},
  ): AsyncIterable<IndexEntry & { run: string }> {
    const runs = (runNames ?? [...this.runs.keys()]).map((n) => this.runs.get(n)!).filter(Boolean);
    const cursors = runs.map((run) => ({ run, block: 0, buf: Buffer.alloc(0) as Buffer, i: 0 }));
    const fill = async (c: (typeof cursors)[number]): Promise<boolean> => {
      while (c.i * RUN_ENTRY >= c.buf.length) {
        if (c.block >= c.run.layout.blockCount) return false;
        try {
          c.buf = await this.block(c.run, c.block++);
        } catch (err) {
          if (o.skipDamaged && isDamagedRun(err)) return false;
          throw err;
        }
        this.blocks.delete(`${c.run.name}:${c.block - 1}`); // scanning must not flush the lookup cache
        c.i = 0;
      }
      return true;
    };
    const live: typeof cursors = [];
    for (const c of cursors) if (await fill(c)) live.push(c);
    const idOf = (c: (typeof cursors)[number]): Buffer =>
      c.buf.subarray(c.i * RUN_ENTRY, c.i * RUN_ENTRY + 32);
    while (live.length) {
      let best = 0;
      for (let j = 1; j < live.length; j++) {
        if (Buffer.compare(idOf(live[j]!), idOf(live[best]!)) < 0) best = j;
      }
      const c = live[best]!;
      yield { ...entryAt(c.buf, c.i, c.run.packTable), run: c.run.name };
      c.i++;
      if (!(await fill(c))) live.splice(best, 1);
    }
  }

  /** Every pack the loaded runs name (hex), from their pack tables in memory. */
  packIds(): Set<string> {
    const out = new Set<string>();
    for (const r of this.runs.values()) {
      for (let i = 0; i < r.layout.packCount; i++) {
        out.add(r.packTable.toString('hex', i * 32, i * 32 + 32));
      }
    }
    return out;
  }

  run(name: string): LoadedRun | undefined {
    return this.runs.get(name);
  }
}
