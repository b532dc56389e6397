/**
 * Copying one backup into another repository (docs/repo-copy.md): the target's own backup
 * writer is given each source disk as its input, so chunks are read from the source (checked
 * there), named and stored by the target's rules, and only what the target lacks is sent.
 * Slots whose target id is known (shared ids, or a reference backup both hold) are not read.
 * What was written is read back before the manifest, which is written last.
 */
import { RepoError, RepoIntegrityError, isObjectNotFound } from '../errors.js';
import type { Manifest, ManifestDisk } from '../manifest.js';
import { packObjectName, parsePack } from '../pack.js';
import { BackupDisk } from '../reader.js';
import { ZERO_ID } from '../record.js';
import type { Repository } from '../repository.js';
import { SlotReader } from '../slots.js';
import type { ExtentSource } from '../source.js';
import { BackupWriter, type WriteProgress } from '../writer.js';

export interface CopyProgress extends WriteProgress {
  backup: string;
  /** Bytes of plaintext read from the source so far in this backup. */
  readBytes: number;
}

export interface CopyBackupOptions {
  /** Whether ids are the same in both (planCopy's sharedIds). */
  sharedIds: boolean;
  /** Read back the packs written (default true); the fixed indexes are always checked. */
  readBack?: boolean;
  onProgress?: (p: CopyProgress) => void;
  signal?: AbortSignal;
}

export interface CopiedBackup {
  id: string;
  /** Chunks and bytes the target did not have (sent to it). */
  newChunks: number;
  newPlainBytes: number;
  newStoredBytes: number;
  /** Plaintext read from the source (slots not known in the target). */
  readBytes: number;
  /** Data slots whose target id was known (taken unread where the target holds that id). */
  knownSlots: number;
  /** The backup whose copy in the target gave the known ids, when ids are not shared. */
  reference: string | null;
  /** Packs read back whole. */
  readBackPacks: number;
}

export async function copyBackup(
  from: Repository,
  to: Repository,
  m: Manifest,
  o: CopyBackupOptions,
): Promise<CopiedBackup> {
  // The writer's progress, and what was read since: reported every MiB read and per disk.
  let last: WriteProgress | undefined;
  let reported = 0;
  const report = (): void => {
    if (!last) return;
    reported = out.readBytes;
    o.onProgress?.({ ...last, backup: m.id, readBytes: out.readBytes });
  };
  const writer = await BackupWriter.start(
    to,
    { vm: m.vm, domainXml: m.domainXml, method: m.method, labels: m.labels },
    { id: m.id, onProgress: (p) => ((last = p), report()) },
  );
  const out: CopiedBackup = {
    id: m.id,
    newChunks: 0,
    newPlainBytes: 0,
    newStoredBytes: 0,
    readBytes: 0,
    knownSlots: 0,
    reference: null,
    readBackPacks: 0,
  };
  try {
    const before = to.index.packIds();
    const ref = o.sharedIds ? undefined : await findReference(from, to, m);
    out.reference = ref?.id ?? null;
    const written: ManifestDisk[] = [];
    for (const disk of m.disks) {
      o.signal?.throwIfAborted();
      const known = await knownIds(from, to, m, disk, ref, o.sharedIds);
      const src = await BackupDisk.open(from, m.id, disk.name, { lock: false });
      last = {
        disk: disk.name,
        doneBytes: 0,
        totalBytes: disk.virtualSize,
        newChunks: 0,
        newStoredBytes: 0,
      };
      try {
        const counted = counting(src, o.signal, (n) => {
          out.readBytes += n;
          if (out.readBytes - reported >= PROGRESS_STEP) report();
        });
        const d = await writer.addDisk({
          name: disk.name,
          source: counted,
          format: disk.format,
          formatOptions: disk.formatOptions,
          ...(known
            ? {
                known: async (slot: number) => {
                  const id = await known(slot);
                  if (id) out.knownSlots++;
                  return id;
                },
              }
            : {}),
        });
        written.push(d);
        out.newChunks += d.newChunks;
        out.newPlainBytes += d.newPlainBytes;
        out.newStoredBytes += d.newStoredBytes;
        last = { ...last, doneBytes: disk.virtualSize, newChunks: d.newChunks };
        last.newStoredBytes = d.newStoredBytes;
        report();
      } finally {
        await src.close();
      }
    }
    o.signal?.throwIfAborted();
    const fresh = [...to.index.packIds()].filter((p) => !before.has(p));
    if (o.readBack !== false) out.readBackPacks = await readBackPacks(to, m.id, fresh);
    for (const d of written) await checkFixedIndex(to, m.id, d);
    await writer.commit({ copyOf: m });
    return out;
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

/** Progress is reported at least every this many bytes read from the source. */
const PROGRESS_STEP = 1024 * 1024;

/** The source disk as the writer's input, counting what is read and stopping when asked. */
function counting(
  src: BackupDisk,
  signal: AbortSignal | undefined,
  add: (n: number) => void,
): ExtentSource {
  return {
    virtualSize: src.virtualSize,
    extents: () => src.extents(),
    async read(offset, length) {
      signal?.throwIfAborted();
      const b = await src.read(offset, length);
      add(b.length);
      return b;
    },
    async readInto(target, targetOffset, offset, length) {
      signal?.throwIfAborted();
      await src.readInto(target, targetOffset, offset, length);
      add(length);
    },
  };
}

/** A backup held by both (same id), of the same VM, whose target copy is checked. */
interface Reference {
  id: string;
  source: Manifest;
  target: Manifest;
}

/**
 * The reference for a copy whose ids differ: the source's parent when the target has its
 * copy, else the newest backup of the VM both hold that started before this one.
 */
async function findReference(
  from: Repository,
  to: Repository,
  m: Manifest,
): Promise<Reference | undefined> {
  const candidates: string[] = [];
  if (m.parent) candidates.push(m.parent);
  const { backups } = await to.listBackups();
  const same = backups
    .filter(
      (b) =>
        b.id !== m.id &&
        b.manifest.vm.name === m.vm.name &&
        b.manifest.vm.uuid === m.vm.uuid &&
        b.manifest.startedAt < m.startedAt,
    )
    .reverse();
  candidates.push(...same.map((b) => b.id));
  for (const id of candidates) {
    try {
      const target = (await to.manifest(id)).manifest;
      const source = (await from.manifest(id)).manifest;
      if (source.vm.name !== m.vm.name || source.startedAt !== target.startedAt) continue;
      return { id, source, target };
    } catch (err) {
      if (err instanceof RepoIntegrityError) continue;
      if (err instanceof RepoError && err.code === 'REPO_BACKUP_NOT_FOUND') continue;
      throw err;
    }
  }
  return undefined;
}

/**
 * For one disk, a function from slot to the id its bytes have in the target, where known:
 * the source's id when ids are shared, else the target reference's id in a slot where the
 * source and its reference agree. Undefined when nothing can be known.
 */
async function knownIds(
  from: Repository,
  to: Repository,
  m: Manifest,
  disk: ManifestDisk,
  ref: Reference | undefined,
  sharedIds: boolean,
): Promise<((slot: number) => Promise<Buffer | undefined>) | undefined> {
  if (!sharedIds && !ref) return undefined;
  const own = await checked(from, m.id, disk);
  if (!own) return undefined;
  if (sharedIds) return async (slot) => Buffer.from(await own.get(slot));
  const rsDisk = ref!.source.disks.find((d) => d.name === disk.name);
  const rtDisk = ref!.target.disks.find((d) => d.name === disk.name);
  if (!rsDisk || !rtDisk || rsDisk.virtualSize !== disk.virtualSize) return undefined;
  if (rtDisk.virtualSize !== disk.virtualSize) return undefined;
  const rs = await checked(from, ref!.id, rsDisk);
  const rt = await checked(to, ref!.id, rtDisk);
  if (!rs || !rt || rs.slots !== own.slots || rt.slots !== own.slots) return undefined;
  // Where the target has the same chunk size, a slot is a slot in both.
  if (rt.header.chunkSize !== own.header.chunkSize) return undefined;
  return async (slot) => {
    const a = await own.get(slot);
    if (a.equals(ZERO_ID) || !a.equals(await rs.get(slot))) return undefined;
    return Buffer.from(await rt.get(slot));
  };
}

/** A fixed index checked whole (SHA-256 against the manifest), or undefined if damaged. */
async function checked(
  repo: Repository,
  backup: string,
  disk: ManifestDisk,
): Promise<SlotReader | undefined> {
  try {
    const r = await SlotReader.open(repo.backend, backup, disk);
    await r.verify();
    return r;
  } catch (err) {
    if (err instanceof RepoIntegrityError || isObjectNotFound(err)) return undefined;
    throw err;
  }
}

function verifyFailed(to: Repository, backup: string, reason: string): RepoError {
  return new RepoError('REPO_COPY_VERIFY', `reading back backup ${backup} failed: ${reason}`, {
    details: { backup, location: to.location, reason },
  });
}

/** Packs read back at once: one arriving while another's records are decoded. */
const READ_BACK_AT_ONCE = 2;

/** Reads each pack whole and decodes every record under the target's keys. */
async function readBackPacks(to: Repository, backup: string, packs: string[]): Promise<number> {
  let next = 0;
  const reader = async (): Promise<void> => {
    while (next < packs.length) await readBackPack(to, backup, packs[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(READ_BACK_AT_ONCE, packs.length) }, reader));
  return packs.length;
}

/** One pack: its records decoded all at once, so every chunk thread has work. */
async function readBackPack(to: Repository, backup: string, p: string): Promise<void> {
  let bytes: Buffer;
  try {
    bytes = await to.backend.get(packObjectName(p));
  } catch (err) {
    if (isObjectNotFound(err)) throw verifyFailed(to, backup, `pack ${p} is missing`);
    throw err;
  }
  const table = parsePack(bytes);
  if (typeof table === 'string') throw verifyFailed(to, backup, `pack ${p}: ${table}`);
  await Promise.all(
    table.map(async (e) => {
      try {
        await to.codec.decode(bytes.subarray(e.offset, e.offset + e.length), e.id);
      } catch (err) {
        if (!(err instanceof RepoIntegrityError)) throw err;
        throw verifyFailed(to, backup, `pack ${p}: ${err.message}`);
      }
    }),
  );
}

/** The fixed index as written: its SHA-256, and every chunk it names in the index and stored. */
async function checkFixedIndex(to: Repository, backup: string, disk: ManifestDisk): Promise<void> {
  let r: SlotReader;
  try {
    r = await SlotReader.open(to.backend, backup, disk);
    await r.verify();
  } catch (err) {
    if (!(err instanceof RepoIntegrityError)) throw err;
    throw verifyFailed(to, backup, err.message);
  }
  const packs = new Map<string, boolean>();
  for (let s = 0; s < r.slots; s++) {
    const id = await r.get(s);
    if (id.equals(ZERO_ID)) continue;
    const e = await to.index.lookup(id);
    if (!e) {
      throw verifyFailed(to, backup, `chunk ${id.toString('hex')} of ${disk.name} is not indexed`);
    }
    const pack = e.pack.toString('hex');
    let there = packs.get(pack);
    if (there === undefined) {
      there = (await to.backend.stat(packObjectName(pack))) !== undefined;
      packs.set(pack, there);
    }
    if (!there) throw verifyFailed(to, backup, `pack ${pack} of ${disk.name} is missing`);
  }
}
