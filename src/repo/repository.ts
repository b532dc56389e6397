/**
 * The repository: init and open, keys, backups and their manifests, locks,
 * GC plans, and verified chunk reads. Writing (writer.ts), reading disks
 * (reader.ts), verify, prune, gc and stats build on it.
 */
import type { Backend } from './backend/types.js';
import {
  checkConfigMac,
  newConfig,
  peekConfig,
  sealConfig,
  withCompression,
  writeLevel,
  type ChunkHash,
  type RepoConfig,
} from './config.js';
import { prepareBlake3 } from '../util/blake3.js';
import {
  isObjectNotFound,
  RepoError,
  RepoIntegrityError,
  RepoKeyError,
  type IntegrityWhere,
} from './errors.js';
import { RepoIndex, DEFAULT_FILTER_BUDGET } from './chunk-index.js';
import {
  addKey,
  readKeyFiles,
  removeKey,
  summarizeKeys,
  unlock,
  type KeySummary,
} from './keyring.js';
import { DEFAULT_KDF, deriveKeys, newMasterKey, type KdfParams, type RepoKeys } from './keys.js';
import { RepoLock, type LockKind, type ReadHold } from './lock.js';
import type { RepoWarning } from './warnings.js';
import {
  BACKUP_ID,
  manifestObjectName,
  openManifest,
  peekManifest,
  sealManifest,
  type Manifest,
} from './manifest.js';
import { packObjectName } from './pack.js';
import type { Slot } from './workers/arena.js';
import {
  createCodec,
  defaultWorkerCount,
  type ChunkCodec,
  type CodecArena,
} from './workers/pool.js';
import { readPlans, type GcPlan } from './gc-plan.js';
import {
  AUTH_KEY_OBJECT,
  authenticate,
  authMacKey,
  newAuthKey,
  writeExternalKey,
} from './auth-key.js';

export interface InitOptions {
  /** undefined: no encryption (the caller has said so loudly). */
  password: string | undefined;
  chunkSize?: number;
  packSize?: number;
  /** The chunk-id hash (default blake3; sha256 writes a version 1 repository). */
  chunkHash?: ChunkHash;
  /** How new chunks are stored (default zstd at level 1). */
  compression?: 'zstd' | 'none';
  compressionLevel?: number;
  kdf?: KdfParams;
  label?: string;
  /**
   * Unencrypted only: keep the auth key in this new file outside the repository (and not in
   * it), so that only its holders can write what readers accept.
   */
  authKeyFile?: string;
}

export interface OpenOptions {
  /** Required for an encrypted repository, except to list backups (unverified). */
  password?: string | undefined;
  /** Worker threads for hashing, compression, encryption (default: one per core; 0 inline). */
  workers?: number;
  /**
   * Chunk work done on the caller's thread before the worker threads start, in milliseconds
   * (default DEFAULT_INLINE_MS in workers/pool.ts; 0: the threads take the first chunk).
   */
  inlineMs?: number;
  /** Memory for index filters (default 128 MiB). */
  filterBudget?: number;
  /**
   * The auth key file kept outside an unencrypted repository: required for one whose key is
   * kept outside, and, when given, the repository must be authenticated by it.
   */
  authKeyFile?: string | undefined;
  /** Told each kind of warning once (reading without a lock, no authentication). */
  onWarning?: (w: RepoWarning) => void;
}

/** The objects Repository.peek read (config and key files), as it read them. */
export interface PeekedObjects {
  readonly configBytes: Buffer;
  readonly keyFiles: Awaited<ReturnType<typeof readKeyFiles>>;
}

export interface BackupListing {
  id: string;
  manifest: Manifest;
  /** False when the MAC could not be checked (encrypted repository opened without password). */
  verified: boolean;
}

export class Repository {
  readonly index: RepoIndex;
  private codecInstance: ChunkCodec | undefined;
  private closed = false;
  /** The warnings given so far, each kind once. */
  readonly warnings: RepoWarning[] = [];

  private constructor(
    readonly backend: Backend,
    readonly config: RepoConfig,
    readonly keys: RepoKeys | undefined,
    private readonly master: Buffer | undefined,
    readonly keyId: string | undefined,
    private readonly opts: OpenOptions,
    /** The MAC key of an unencrypted, authenticated repository, when its auth key is at hand. */
    private readonly authMac: Buffer | undefined = undefined,
  ) {
    this.index = new RepoIndex(backend, opts.filterBudget ?? DEFAULT_FILTER_BUDGET);
  }

  get encrypted(): boolean {
    return this.config.encryption !== 'none';
  }

  get location(): string {
    return this.backend.location;
  }

  /** Whether the config and manifests are signed (encrypted, or unencrypted of version 3). */
  get authenticated(): boolean {
    return this.encrypted || this.config.authentication !== undefined;
  }

  /** The key envelopes are signed with; undefined when not authenticated or not at hand. */
  get macKey(): Buffer | undefined {
    return this.keys?.macKey ?? this.authMac;
  }

  /** Throws REPO_EXISTS when a repository is already there (init checks it too). */
  static async checkAbsent(backend: Backend): Promise<void> {
    if (await backend.stat('config')) {
      throw new RepoError('REPO_EXISTS', `a repository already exists at ${backend.location}`, {
        details: { location: backend.location },
      });
    }
  }

  static async init(backend: Backend, o: InitOptions): Promise<RepoConfig> {
    await Repository.checkAbsent(backend);
    const encrypted = o.password !== undefined;
    if (encrypted && o.authKeyFile !== undefined) {
      throw new RepoError(
        'REPO_INVALID_ARGUMENT',
        'an encrypted repository is authenticated by its password: it takes no auth key file',
      );
    }
    const config = newConfig({
      chunkSize: o.chunkSize,
      packSize: o.packSize,
      chunkHash: o.chunkHash,
      compression: o.compression,
      compressionLevel: o.compressionLevel,
      encrypted,
      ...(encrypted ? {} : { authentication: o.authKeyFile ? 'external' : 'repository' }),
    });
    let macKey: Buffer | undefined;
    if (!encrypted) {
      // The key first: a config naming a key that is nowhere would be a locked door.
      const { key, bytes } = newAuthKey(config.id);
      if (o.authKeyFile) await writeExternalKey(o.authKeyFile, bytes);
      else await backend.put(AUTH_KEY_OBJECT, bytes);
      macKey = authMacKey(key, config.id);
    } else {
      const master = newMasterKey();
      macKey = deriveKeys(master, config.id).macKey;
      // The key first: a config naming encryption with no key would be a locked door.
      await addKey(
        backend,
        master,
        config.id,
        o.password!,
        o.kdf ?? DEFAULT_KDF,
        o.label ?? 'initial',
      );
    }
    await backend.put('config', sealConfig(config, macKey));
    return config;
  }

  /**
   * The config, unauthenticated, and the number of key files: what needs no password. `read`
   * is what was read, for open() on the same backend not to read it again (on S3, four
   * requests and their round trips before every command).
   */
  static async peek(
    backend: Backend,
  ): Promise<{ config: RepoConfig; keys: KeySummary[]; read: PeekedObjects }> {
    const configBytes = await getConfig(backend);
    const config = peekConfig(configBytes);
    const keyFiles = await readKeyFiles(backend);
    return { config, keys: summarizeKeys(keyFiles), read: { configBytes, keyFiles } };
  }

  static async open(
    backend: Backend,
    o: OpenOptions & { peeked?: PeekedObjects } = {},
  ): Promise<Repository> {
    const bytes = o.peeked?.configBytes ?? (await getConfig(backend));
    const config = peekConfig(bytes);
    const keyFiles = o.peeked?.keyFiles ?? (await readKeyFiles(backend));
    const encrypted = config.encryption !== 'none' || keyFiles.length > 0;
    let repo: Repository;
    if (encrypted && o.authKeyFile !== undefined) {
      throw new RepoKeyError(
        'REPO_AUTH_FAILED',
        `the auth key in ${o.authKeyFile} does not authenticate the repository at ` +
          `${backend.location}: it is encrypted (its password authenticates it)`,
        { details: { file: o.authKeyFile, location: backend.location } },
      );
    }
    if (!encrypted) {
      const mac = await authenticate(backend, config, bytes, o.authKeyFile);
      repo = new Repository(backend, config, undefined, undefined, undefined, o, mac);
      if (config.authentication === undefined) {
        repo.warn({
          code: 'REPO_UNAUTHENTICATED',
          message:
            `the repository at ${backend.location} is not authenticated (format version ` +
            `${config.version}): anyone who can write its files can change what its backups ` +
            'restore; run repo upgrade',
          details: { location: backend.location },
        });
      }
    } else if (o.password === undefined) {
      repo = new Repository(
        backend,
        { ...config, encryption: 'aes-256-gcm' },
        undefined,
        undefined,
        undefined,
        o,
      );
    } else {
      const { master, keyId } = await unlock(backend, o.password);
      const keys = deriveKeys(master, config.id);
      checkConfigMac(bytes, keys.macKey);
      repo = new Repository(backend, config, keys, master, keyId, o);
    }
    // Without the native addon, BLAKE3 needs its WebAssembly module loaded first.
    if (config.chunkHash === 'blake3') await prepareBlake3(repo.keys?.idKey);
    await repo.index.refresh();
    return repo;
  }

  /**
   * Changes how writers store new chunks from now on: the config is rewritten (under the
   * repository's MAC key); stored chunks stay as they are. Returns the new config; this
   * instance goes on with the old one (reopen to write with the new).
   */
  async setCompression(compression: 'zstd' | 'none', level?: number): Promise<RepoConfig> {
    this.requireKeys();
    const next = withCompression(this.config, compression, level);
    await this.backend.put('config', sealConfig(next, this.macKey));
    return next;
  }

  /** Throws unless the keys are known (or not needed): the password, or the auth key. */
  requireKeys(): void {
    if (this.encrypted && !this.keys) {
      throw new RepoKeyError('REPO_PASSWORD_REQUIRED', 'this needs the repository password');
    }
    if (!this.encrypted && this.config.authentication !== undefined && !this.authMac) {
      throw new RepoKeyError(
        'REPO_AUTH_KEY_REQUIRED',
        `this needs the auth key of the repository at ${this.location}, kept outside it: ` +
          'set BRANKAS_AUTH_KEY_FILE',
        { details: { location: this.location } },
      );
    }
  }

  get codec(): ChunkCodec {
    this.requireKeys();
    if (this.closed) throw new RepoError('REPO_CLOSED', 'repository is closed');
    this.codecInstance ??= createCodec(
      this.opts.workers ?? defaultWorkerCount(),
      {
        idHash: this.config.chunkHash,
        idKey: this.keys?.idKey,
        encKey: this.keys?.encKey,
        zstdLevel: writeLevel(this.config),
      },
      this.opts.inlineMs !== undefined ? { inlineMs: this.opts.inlineMs } : {},
    );
    return this.codecInstance;
  }

  lock(kind: LockKind, purpose: string): Promise<RepoLock> {
    return RepoLock.acquire(this.backend, kind, purpose);
  }

  /**
   * A reader's shared lock; when the repository cannot be written (read-only, full), none,
   * with the warning REPO_READ_WITHOUT_LOCK, so that a read-only copy stays readable.
   */
  async readLock(purpose: string): Promise<ReadHold> {
    const { hold, refused } = await RepoLock.acquireForRead(this.backend, purpose);
    if (refused !== undefined) {
      this.warn({
        code: 'REPO_READ_WITHOUT_LOCK',
        message:
          `the repository at ${this.location} cannot be written (${refused}): reading without ` +
          'a lock, so a garbage collection running now could remove what is being read',
        details: { location: this.location, errno: refused, purpose },
      });
    }
    return hold;
  }

  private warn(w: RepoWarning): void {
    if (this.warnings.some((x) => x.code === w.code)) return;
    this.warnings.push(w);
    this.opts.onWarning?.(w);
  }

  async backupIds(): Promise<string[]> {
    const ids: string[] = [];
    for await (const o of this.backend.list('backups/')) {
      const m = /^backups\/([^/]+)\/manifest\.json$/.exec(o.name);
      if (m && BACKUP_ID.test(m[1]!)) ids.push(m[1]!);
    }
    return ids.sort();
  }

  async manifest(id: string): Promise<{ manifest: Manifest; verified: boolean }> {
    if (!BACKUP_ID.test(id)) {
      throw new RepoError('REPO_BACKUP_NOT_FOUND', `no backup ${id}`, { details: { backup: id } });
    }
    let bytes: Buffer;
    try {
      bytes = await this.backend.get(manifestObjectName(id));
    } catch (err) {
      if (isObjectNotFound(err)) {
        throw new RepoError('REPO_BACKUP_NOT_FOUND', `no backup ${id}`, {
          details: { backup: id },
        });
      }
      throw err;
    }
    return openManifest(bytes, id, this.config.id, this.macKey, this.authenticated);
  }

  /**
   * Every backup, oldest first (by start time). A damaged manifest is reported in `damaged`,
   * not thrown, so one bad backup does not hide the others.
   */
  async listBackups(): Promise<{ backups: BackupListing[]; damaged: RepoIntegrityError[] }> {
    const backups: BackupListing[] = [];
    const damaged: RepoIntegrityError[] = [];
    for (const id of await this.backupIds()) {
      try {
        const { manifest, verified } = await this.manifest(id);
        backups.push({ id, manifest, verified });
      } catch (err) {
        if (err instanceof RepoIntegrityError) damaged.push(err);
        else if (!(err instanceof RepoError && err.code === 'REPO_BACKUP_NOT_FOUND')) throw err;
      }
    }
    // Ids have one-second resolution; the manifests' times order backups within a second.
    backups.sort(
      (a, b) =>
        a.manifest.startedAt.localeCompare(b.manifest.startedAt) || a.id.localeCompare(b.id),
    );
    return { backups, damaged };
  }

  /**
   * What a damaged manifest still seems to say (unauthenticated): its VM's name when readable
   * and its start time, so that a listing can say which backup of which VM is damaged.
   */
  async peekDamaged(id: string): Promise<{ vm: string | null; startedAt: string }> {
    const bytes = await this.backend.get(manifestObjectName(id)).catch(() => undefined);
    return peekManifest(bytes, id);
  }

  /** Replaces a manifest whole (to record verify results); the id and disks cannot change. */
  async updateManifest(id: string, change: (m: Manifest) => void): Promise<Manifest> {
    this.requireKeys();
    const { manifest } = await this.manifest(id);
    const disks = JSON.stringify(manifest.disks);
    change(manifest);
    if (manifest.id !== id || JSON.stringify(manifest.disks) !== disks) {
      throw new RepoError(
        'REPO_INVALID_ARGUMENT',
        'a manifest update may not change its id or disks',
      );
    }
    await this.backend.put(manifestObjectName(id), sealManifest(manifest, this.macKey));
    return manifest;
  }

  async gcPlans(): Promise<GcPlan[]> {
    return readPlans(this.backend);
  }

  /** Packs that garbage collection has marked: writers must not deduplicate against them. */
  async doomedPacks(): Promise<Set<string>> {
    const s = new Set<string>();
    for (const p of await this.gcPlans()) {
      for (const pack of [...p.deletePacks, ...(p.repackPacks ?? [])]) s.add(pack);
    }
    return s;
  }

  /**
   * The plaintext of a chunk, verified. Tries every location the index knows;
   * the error names the chunk and whatever the caller knows (backup, disk).
   */
  async loadChunk(id: Buffer, where: IntegrityWhere = {}): Promise<Buffer> {
    return this.fromAnyCopy(id, where, async (name, loc) =>
      this.codec.decode(await this.backend.getRange(name, loc.offset, loc.length), id),
    );
  }

  /**
   * Like loadChunk, into the arena slot `to` (the record passes through a slot of `records`,
   * an arena of the same codec): nothing is allocated per chunk. Returns the plaintext length.
   */
  async loadChunkInto(
    id: Buffer,
    where: IntegrityWhere,
    to: Slot,
    into: CodecArena,
    records: CodecArena,
  ): Promise<number> {
    return this.fromAnyCopy(id, where, async (name, loc) => {
      if (loc.length > records.slotSize) {
        throw new RepoIntegrityError(
          'REPO_CHUNK_CORRUPT',
          `chunk is damaged: the index gives it ${loc.length} bytes, more than a record can have`,
          { chunk: id.toString('hex') },
        );
      }
      const rec = await records.acquire();
      try {
        const view = rec.buf.subarray(0, loc.length);
        const got = this.backend.getRangeInto
          ? await this.backend.getRangeInto(name, loc.offset, view)
          : (await this.backend.getRange(name, loc.offset, loc.length)).copy(view);
        return await records.decode(rec, got, id, to, into);
      } finally {
        records.release(rec);
      }
    });
  }

  private async fromAnyCopy<T>(
    id: Buffer,
    where: IntegrityWhere,
    load: (pack: string, loc: { offset: number; length: number }) => Promise<T>,
  ): Promise<T> {
    try {
      return await this.tryLoadChunk(id, where, load);
    } catch (err) {
      // A garbage collector may have moved on since the index was loaded: look once more.
      if (!(err instanceof RepoIntegrityError && err.code === 'REPO_CHUNK_MISSING')) throw err;
      await this.index.refresh();
      return this.tryLoadChunk(id, where, load);
    }
  }

  private async tryLoadChunk<T>(
    id: Buffer,
    where: IntegrityWhere,
    load: (pack: string, loc: { offset: number; length: number }) => Promise<T>,
  ): Promise<T> {
    const chunk = id.toString('hex');
    let lastError: unknown;
    for (const loc of await this.index.lookupAll(id)) {
      const pack = loc.pack.toString('hex');
      try {
        return await load(packObjectName(pack), loc);
      } catch (err) {
        if (isObjectNotFound(err)) {
          lastError ??= new RepoIntegrityError(
            'REPO_CHUNK_MISSING',
            'chunk is missing: its pack is gone',
            {
              ...where,
              chunk,
              pack,
            },
          );
        } else if (err instanceof RepoIntegrityError) {
          lastError = err.within({ ...where, pack });
        } else {
          throw err;
        }
      }
    }
    throw (
      lastError ??
      new RepoIntegrityError(
        'REPO_CHUNK_MISSING',
        this.index.damaged.size
          ? "chunk is missing from the index (an index run is damaged: 'brankas repo repair' rebuilds it from the packs)"
          : 'chunk is missing from the index',
        { ...where, chunk },
      )
    );
  }

  async listKeys(): Promise<KeySummary[]> {
    return summarizeKeys(await readKeyFiles(this.backend));
  }

  async addPassword(
    password: string,
    o: { kdf?: KdfParams; label?: string } = {},
  ): Promise<string> {
    return addKey(
      this.backend,
      this.requireMaster(),
      this.config.id,
      password,
      o.kdf ?? DEFAULT_KDF,
      o.label ?? '',
    );
  }

  async removePassword(keyId: string): Promise<string> {
    this.requireMaster();
    return removeKey(this.backend, keyId);
  }

  /** Replaces the key file this repository was opened with by one for the new password. */
  async changePassword(
    password: string,
    o: { kdf?: KdfParams; label?: string } = {},
  ): Promise<string> {
    const master = this.requireMaster();
    const id = await addKey(
      this.backend,
      master,
      this.config.id,
      password,
      o.kdf ?? DEFAULT_KDF,
      o.label ?? 'changed',
    );
    await this.backend.delete(`keys/${this.keyId!}`);
    return id;
  }

  private requireMaster(): Buffer {
    if (!this.encrypted)
      throw new RepoKeyError(
        'REPO_KEY_NOT_FOUND',
        'the repository is not encrypted: it has no keys',
      );
    if (!this.master)
      throw new RepoKeyError('REPO_PASSWORD_REQUIRED', 'this needs the repository password');
    return this.master;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.codecInstance?.close();
    await this.backend.close();
  }
}

async function getConfig(backend: Backend): Promise<Buffer> {
  try {
    return await backend.get('config');
  } catch (err) {
    if (isObjectNotFound(err)) {
      throw new RepoError('REPO_NOT_FOUND', `no repository at ${backend.location}`, {
        cause: err,
        details: { location: backend.location },
      });
    }
    throw err;
  }
}
