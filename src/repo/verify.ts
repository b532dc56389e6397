/**
 * Verify (docs/repository-format.md, "Verify"): the structure by default
 * (manifests, fixed indexes, index runs, every referenced chunk present),
 * every record with readData (all packs, or a subset n/t or x%). Damage is
 * collected, not thrown, and traced to every backup and disk it affects.
 */
import { randomInt } from 'node:crypto';
import { readDamage, recordDamage, type DamagedRecord } from './damage.js';
import { isIntegrityError, RepoError, RepoIntegrityError, type IntegrityWhere } from './errors.js';
import { packObjectName, parsePack } from './pack.js';
import { ZERO_ID } from './record.js';
import type { Repository } from './repository.js';
import { SlotReader } from './slots.js';

export interface VerifyOptions {
  readData?: boolean;
  /** "n/t" (the n-th of t groups of packs) or "x%" (a random x % of packs). Implies readData. */
  subset?: string;
  onProgress?: (p: { phase: 'structure' | 'data'; done: number; total: number }) => void;
  /**
   * Write the damaged records found as a damage record, so that writers store those chunks
   * again and `repo repair` can heal (default true).
   */
  recordDamage?: boolean;
}

/** Something found that is not damage: what an interrupted gc leaves until the next one. */
export interface VerifyNote {
  code: 'REPO_GC_LEFTOVERS';
  message: string;
  /** Index entries that name packs that are gone, of chunks no backup refers to. */
  entries: number;
  packs: number;
  /** Whether a pending gc plan lists those packs (a sweep was interrupted). */
  interruptedGc: boolean;
}

/** Damage found that could not be written down (a repository this process cannot write). */
export interface DamageNotRecorded {
  code: string;
  message: string;
}

export interface Problem extends IntegrityWhere {
  code: string;
  message: string;
}

export interface Affected {
  backup: string;
  disk: string;
  chunk: string;
  /** Byte offsets in the disk of the first slots holding the chunk (at most 8). */
  offsets: number[];
}

export interface VerifyReport {
  ok: boolean;
  backups: number;
  disks: number;
  indexRuns: number;
  slotsChecked: number;
  packsTotal: number;
  packsRead: number;
  recordsRead: number;
  /** False when the repository could not be written and verify read it without a lock. */
  locked: boolean;
  problems: Problem[];
  /** Every backup and disk that refers to a damaged or missing chunk. */
  affected: Affected[];
  notes: VerifyNote[];
  /** The damage record written for the damaged records found (docs: "Damage records"). */
  damageRecord: string | null;
  /** Why the damaged records found could not be recorded, if they could not. */
  damageNotRecorded: DamageNotRecorded | null;
}

export function parseSubset(s: string): (packId: string) => boolean {
  const frac = /^(\d+)\/(\d+)$/.exec(s);
  if (frac) {
    const n = Number(frac[1]);
    const t = Number(frac[2]);
    if (t < 1 || n < 1 || n > t) throw badSubset(s, 'need 1 <= n <= t');
    return (id) => Buffer.from(id.slice(0, 8), 'hex').readUInt32LE(0) % t === n - 1;
  }
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(s);
  if (pct) {
    const x = Number(pct[1]);
    if (x <= 0 || x > 100) throw badSubset(s, 'need 0 < x <= 100');
    return () => randomInt(0, 1_000_000) < x * 10_000;
  }
  throw badSubset(s, 'n/t or x%');
}

function badSubset(subset: string, why: string): RepoError {
  return new RepoError('REPO_BAD_SUBSET', `subset ${JSON.stringify(subset)}: ${why}`, {
    details: { subset },
  });
}

function problem(err: unknown, where: IntegrityWhere = {}): Problem {
  if (isIntegrityError(err))
    return { ...err.where, ...where, code: err.code, message: err.message };
  const e = err as { code?: string; message?: string };
  return { ...where, code: e.code ?? 'REPO_IO', message: e.message ?? String(err) };
}

export async function verifyRepository(
  repo: Repository,
  o: VerifyOptions = {},
): Promise<VerifyReport> {
  repo.requireKeys();
  const select = o.subset ? parseSubset(o.subset) : () => true;
  const readData = !!o.readData || !!o.subset;
  const lock = await repo.readLock('verify');
  const problems: Problem[] = [];
  const bad = new Map<string, Problem>(); // chunk hex -> its problem
  const report: VerifyReport = {
    ok: false,
    backups: 0,
    disks: 0,
    indexRuns: 0,
    slotsChecked: 0,
    packsTotal: 0,
    packsRead: 0,
    recordsRead: 0,
    locked: lock.id !== undefined,
    problems,
    affected: [],
    notes: [],
    damageRecord: null,
    damageNotRecorded: null,
  };
  const found: DamagedRecord[] = [];
  try {
    await repo.index.refresh();
    for (const e of repo.index.damaged.values()) problems.push(problem(e));
    report.indexRuns = repo.index.runCount;
    const packs = new Map<string, number>();
    for await (const obj of repo.backend.list('data/')) {
      const m = /^data\/[0-9a-f]{2}\/([0-9a-f]{64})$/.exec(obj.name);
      if (m) packs.set(m[1]!, obj.size);
    }
    report.packsTotal = packs.size;
    // Index runs: every block's CRC32, and every entry inside an existing pack.
    for (const run of repo.index.runNames) {
      try {
        for await (const e of repo.index.scan([run])) {
          const size = packs.get(e.pack.toString('hex'));
          if (size === undefined || e.offset + e.length > size) {
            const chunk = e.id.toString('hex');
            if (!bad.has(chunk) && !(await hasOtherCopy(repo, e.id, packs))) {
              bad.set(chunk, {
                code: 'REPO_CHUNK_MISSING',
                message: `chunk is missing: pack ${size === undefined ? 'is gone' : 'is too short'}`,
                chunk,
                pack: e.pack.toString('hex'),
                run,
              });
            }
          }
        }
      } catch (err) {
        problems.push(problem(err, { run }));
      }
    }
    // Manifests and fixed indexes; every referenced chunk must be in the index.
    const { backups, damaged } = await repo.listBackups();
    for (const e of damaged) problems.push(problem(e));
    report.backups = backups.length;
    for (const b of backups) {
      for (const d of b.manifest.disks) {
        report.disks++;
        let slots: SlotReader;
        try {
          slots = await SlotReader.open(repo.backend, b.id, d);
          await slots.verify();
        } catch (err) {
          problems.push(problem(err, { backup: b.id, disk: d.name }));
          continue;
        }
        for (let s = 0; s < slots.slots; s++) {
          const id = await slots.get(s);
          report.slotsChecked++;
          if (id.equals(ZERO_ID)) continue;
          const chunk = id.toString('hex');
          if (bad.has(chunk)) continue;
          if (!(await repo.index.lookup(Buffer.from(id)))) {
            bad.set(chunk, {
              code: 'REPO_CHUNK_MISSING',
              message: repo.index.damaged.size
                ? "chunk is missing from the index (an index run is damaged: 'repo repair' rebuilds it from the packs)"
                : 'chunk is missing from the index',
              chunk,
            });
          }
        }
        o.onProgress?.({ phase: 'structure', done: report.disks, total: 0 });
      }
    }
    if (readData) {
      const chosen = [...packs.keys()].filter(select).sort();
      for (const pack of chosen) {
        await checkPack(repo, pack, bad, problems, report, found);
        o.onProgress?.({ phase: 'data', done: report.packsRead, total: chosen.length });
      }
    }
    if (bad.size) report.affected = await traceAffected(repo, backups, bad);
    // Chunks in packs that are gone which no backup refers to are not damage: a gc whose
    // sweep was interrupted deleted the packs before the index runs that name them.
    const used = new Set(report.affected.map((a) => a.chunk));
    const leftover = [...bad.values()].filter(
      (p) => p.code === 'REPO_CHUNK_MISSING' && p.run !== undefined && !used.has(p.chunk!),
    );
    for (const p of leftover) bad.delete(p.chunk!);
    if (leftover.length) report.notes.push(await leftoverNote(repo, leftover));
    problems.push(...bad.values());
    if (found.length && o.recordDamage !== false) {
      try {
        report.damageRecord = await recordNew(repo, found);
      } catch (err) {
        // The report stands without it; writers then only learn of the damage from a record.
        if (!(err instanceof RepoError)) throw err;
        report.damageNotRecorded = { code: err.code, message: err.message };
      }
    }
    report.ok = problems.length === 0;
    return report;
  } finally {
    await lock.release();
  }
}

async function leftoverNote(repo: Repository, leftover: Problem[]): Promise<VerifyNote> {
  const packs = new Set(leftover.map((p) => p.pack!));
  const doomed = await repo.doomedPacks();
  const interruptedGc = [...packs].every((p) => doomed.has(p));
  const n = leftover.length;
  return {
    code: 'REPO_GC_LEFTOVERS',
    message: interruptedGc
      ? `an interrupted gc left ${n} index entries naming ${packs.size} pack(s) it deleted; no backup needs them, and the next gc removes them`
      : `${n} index entries name ${packs.size} pack(s) that are gone; no backup needs them, and the next gc removes them`,
    entries: n,
    packs: packs.size,
    interruptedGc,
  };
}

/** Records the damaged records not already recorded; returns the new record's id, if any. */
async function recordNew(repo: Repository, found: DamagedRecord[]): Promise<string | null> {
  const known = new Set<string>();
  for (const f of await readDamage(repo.backend)) {
    for (const r of f.records) known.add(`${r.chunk}@${r.pack}`);
  }
  const fresh = found.filter((r) => !known.has(`${r.chunk}@${r.pack}`));
  return fresh.length ? recordDamage(repo.backend, fresh) : null;
}

async function hasOtherCopy(
  repo: Repository,
  id: Buffer,
  packs: Map<string, number>,
): Promise<boolean> {
  for (const e of await repo.index.lookupAll(id)) {
    const size = packs.get(e.pack.toString('hex'));
    if (size !== undefined && e.offset + e.length <= size) return true;
  }
  return false;
}

async function checkPack(
  repo: Repository,
  pack: string,
  bad: Map<string, Problem>,
  problems: Problem[],
  report: VerifyReport,
  found: DamagedRecord[],
): Promise<void> {
  let bytes: Buffer;
  try {
    bytes = await repo.backend.get(packObjectName(pack));
  } catch (err) {
    problems.push(problem(err, { pack }));
    return;
  }
  report.packsRead++;
  const table = parsePack(bytes);
  if (typeof table === 'string') {
    problems.push({ code: 'REPO_PACK_CORRUPT', message: `pack is damaged: ${table}`, pack });
    // The records may still be fine: the index knows where they are.
  }
  const entries = typeof table === 'string' ? [] : table;
  await Promise.all(
    entries.map(async (e) => {
      const chunk = e.id.toString('hex');
      try {
        await repo.codec.decode(Buffer.from(bytes.subarray(e.offset, e.offset + e.length)), e.id);
        report.recordsRead++;
      } catch (err) {
        if (!(err instanceof RepoIntegrityError)) throw err;
        found.push({ chunk, pack, code: err.code });
        // Damage only matters to backups if no other copy is intact.
        const intact = await otherIntactCopy(repo, e.id, pack);
        if (!intact) bad.set(chunk, problem(err, { chunk, pack }));
        else problems.push(problem(err, { chunk, pack }));
      }
    }),
  );
}

async function otherIntactCopy(repo: Repository, id: Buffer, except: string): Promise<boolean> {
  for (const e of await repo.index.lookupAll(id)) {
    const pack = e.pack.toString('hex');
    if (pack === except) continue;
    try {
      await repo.codec.decode(
        await repo.backend.getRange(packObjectName(pack), e.offset, e.length),
        id,
      );
      return true;
    } catch {
      // try the next copy
    }
  }
  return false;
}

/** Every backup and disk whose fixed index names a bad chunk. */
async function traceAffected(
  repo: Repository,
  backups: { id: string; manifest: { disks: import('./manifest.js').ManifestDisk[] } }[],
  bad: Map<string, Problem>,
): Promise<Affected[]> {
  const out: Affected[] = [];
  for (const b of backups) {
    for (const d of b.manifest.disks) {
      let slots: SlotReader;
      try {
        slots = await SlotReader.open(repo.backend, b.id, d);
      } catch {
        continue; // already reported
      }
      const hits = new Map<string, number[]>();
      for (let s = 0; s < slots.slots; s++) {
        const chunk = (await slots.get(s)).toString('hex');
        if (!bad.has(chunk)) continue;
        const offs = hits.get(chunk) ?? [];
        if (offs.length < 8) offs.push(s * slots.header.chunkSize);
        hits.set(chunk, offs);
      }
      for (const [chunk, offsets] of hits) out.push({ backup: b.id, disk: d.name, chunk, offsets });
    }
  }
  return out;
}
