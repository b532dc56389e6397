/**
 * Known damage (docs/repository-format.md, "Damage records"): what a writer must not
 * deduplicate against. Packs the index names that are gone are found by listing the packs
 * (cheap next to reading a disk); records that fail their checks are found only by reading
 * them, so `verify --read-data` writes what it found as damage records (`damage/<id>`), which
 * every writer reads and `repo repair` acts on and removes.
 */
import { randomBytes } from 'node:crypto';
import type { Backend } from './backend/types.js';
import { isObjectNotFound } from './errors.js';
import type { Repository } from './repository.js';
import type { IndexEntry } from './run.js';

export interface DamagedRecord {
  /** Hex chunk id. */
  chunk: string;
  /** Hex pack id: the copy in this pack is damaged (another copy may be fine). */
  pack: string;
  code: string;
}

export interface DamageFile {
  format: 'brankas-damage';
  version: 1;
  id: string;
  created: string;
  records: DamagedRecord[];
}

const NAME = /^damage\/[0-9a-f]{32}$/;

/** Writes one damage record (a new object: nothing is appended or replaced). */
export async function recordDamage(backend: Backend, records: DamagedRecord[]): Promise<string> {
  const file: DamageFile = {
    format: 'brankas-damage',
    version: 1,
    id: randomBytes(16).toString('hex'),
    created: new Date().toISOString(),
    records,
  };
  await backend.put(`damage/${file.id}`, Buffer.from(JSON.stringify(file) + '\n'));
  return file.id;
}

/**
 * Every damage record. One that cannot be read is skipped: the records only ever make a writer
 * store more (and repair checks each record before it acts), so a lost one costs nothing worse
 * than the damage it named going unnoticed until the next verify.
 */
export async function readDamage(backend: Backend): Promise<DamageFile[]> {
  const out: DamageFile[] = [];
  for await (const o of backend.list('damage/')) {
    if (!NAME.test(o.name)) continue;
    try {
      const f = JSON.parse((await backend.get(o.name)).toString('utf8')) as DamageFile;
      if (f.format === 'brankas-damage' && Array.isArray(f.records)) out.push(f);
    } catch (err) {
      if (!isObjectNotFound(err) && !(err instanceof SyntaxError)) throw err;
    }
  }
  return out;
}

export async function removeDamage(backend: Backend, ids: Iterable<string>): Promise<void> {
  for (const id of ids) await backend.delete(`damage/${id}`);
}

/** Removes the damage records all of whose records are in packs that are gone (gc took them). */
export async function dropStaleDamage(
  backend: Backend,
  present: ReadonlyMap<string, number>,
): Promise<number> {
  let n = 0;
  for (const f of await readDamage(backend)) {
    if (f.records.every((r) => !present.has(r.pack))) {
      await backend.delete(`damage/${f.id}`);
      n++;
    }
  }
  return n;
}

/** Every pack in the backend, with its size. */
export async function listPacks(backend: Backend): Promise<Map<string, number>> {
  const packs = new Map<string, number>();
  for await (const o of backend.list('data/')) {
    const m = /^data\/[0-9a-f]{2}\/([0-9a-f]{64})$/.exec(o.name);
    if (m) packs.set(m[1]!, o.size);
  }
  return packs;
}

/** What a writer must not deduplicate against, as the repository is now. */
export class KnownDamage {
  constructor(
    /** Packs the index names that do not exist (hex). */
    readonly missingPacks: ReadonlySet<string>,
    /** `chunk@pack` of records a verify found damaged. */
    readonly badRecords: ReadonlySet<string>,
    /** Index runs that cannot be read: their chunks are unknown to lookups. */
    readonly damagedRuns: number,
  ) {}

  /** Whether anything is known damaged (then a writer trusts no parent's ids unchecked). */
  get any(): boolean {
    return this.missingPacks.size > 0 || this.badRecords.size > 0 || this.damagedRuns > 0;
  }

  /**
   * The ids of the chunks that have a copy known lost or damaged, for a writer to check the ids
   * it takes from its parent unread; undefined when they cannot be known cheaply enough (an
   * index run is damaged, or more than `limit` of them), and then it takes none unread. Lost
   * packs cost a scan of the index (48 bytes a chunk), still far less than reading the disks.
   */
  async chunkIds(repo: Repository, limit = 1 << 20): Promise<Set<string> | undefined> {
    if (this.damagedRuns > 0) return undefined;
    const ids = new Set<string>();
    for (const k of this.badRecords) ids.add(k.slice(0, k.indexOf('@')));
    if (this.missingPacks.size > 0) {
      for await (const e of repo.index.scan(undefined, { skipDamaged: true })) {
        if (!this.missingPacks.has(e.pack.toString('hex'))) continue;
        ids.add(e.id.toString('hex'));
        if (ids.size > limit) return undefined;
      }
      if (repo.index.damaged.size > 0) return undefined;
    }
    return ids.size > limit ? undefined : ids;
  }

  /** Whether an index entry points at a copy known to be gone or damaged. */
  has(e: IndexEntry): boolean {
    const pack = e.pack.toString('hex');
    return (
      this.missingPacks.has(pack) ||
      (this.badRecords.size > 0 && this.badRecords.has(`${e.id.toString('hex')}@${pack}`))
    );
  }

  static async of(repo: Repository): Promise<KnownDamage> {
    const present = await listPacks(repo.backend);
    const missing = new Set<string>();
    for (const p of repo.index.packIds()) if (!present.has(p)) missing.add(p);
    const bad = new Set<string>();
    for (const f of await readDamage(repo.backend)) {
      // A record in a pack that is gone (gc deleted it) is no longer anything to avoid.
      for (const r of f.records) if (present.has(r.pack)) bad.add(`${r.chunk}@${r.pack}`);
    }
    return new KnownDamage(missing, bad, repo.index.damaged.size);
  }
}
