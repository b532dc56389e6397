/**
 * The repository config (docs/repository-format.md, "Config"): chunk size,
 * pack size, chunk-id hash, encryption or authentication; sealed in an envelope so that,
 * once keys exist, nobody can turn encryption off by editing it.
 */
import { randomBytes } from 'node:crypto';
import { RepoError, RepoIntegrityError } from './errors.js';
import { seal, unseal } from './envelope.js';

export const CONFIG_FORMAT = 'brankas-config';
export const DEFAULT_CHUNK_SIZE = 256 * 1024;
export const DEFAULT_PACK_SIZE = 16 * 1024 * 1024;
export const MIN_CHUNK_SIZE = 64 * 1024;
export const MAX_CHUNK_SIZE = 4 * 1024 * 1024;

/** The hash that names chunks: BLAKE3 since config version 2, SHA-256 in version 1. */
export type ChunkHash = 'blake3' | 'sha256';
export const DEFAULT_CHUNK_HASH: ChunkHash = 'blake3';

/** zstd levels a repository may ask for (above 19 zstd needs far more memory per thread). */
export const MIN_ZSTD_LEVEL = 1;
export const MAX_ZSTD_LEVEL = 19;
export const DEFAULT_ZSTD_LEVEL = 1;

/** Throws REPO_BAD_LEVEL unless `level` is a zstd level brankas writes with (`shown`: as typed). */
export function checkCompressionLevel(level: number, shown: string = String(level)): void {
  if (!validLevel(level)) {
    throw new RepoError(
      'REPO_BAD_LEVEL',
      `zstd level must be an integer from ${MIN_ZSTD_LEVEL} to ${MAX_ZSTD_LEVEL}, not ${shown}`,
      { details: { min: MIN_ZSTD_LEVEL, max: MAX_ZSTD_LEVEL, value: shown } },
    );
  }
}

/** Throws REPO_BAD_CHUNK_SIZE unless `chunkSize` is a power of two in the allowed range. */
export function checkChunkSize(chunkSize: number): void {
  if (
    !Number.isInteger(chunkSize) ||
    chunkSize < MIN_CHUNK_SIZE ||
    chunkSize > MAX_CHUNK_SIZE ||
    (chunkSize & (chunkSize - 1)) !== 0
  ) {
    throw new RepoError(
      'REPO_BAD_CHUNK_SIZE',
      `chunk size must be a power of two from 64 KiB to 4 MiB, not ${chunkSize}`,
      { details: { min: '64 KiB', max: '4 MiB', value: chunkSize } },
    );
  }
}

/** Where the auth key of an unencrypted, authenticated (version 3) repository is kept. */
export type AuthKeyPlace = 'repository' | 'external';

export interface RepoConfig {
  id: string;
  /**
   * 1: chunk ids are SHA-256 (no `chunkHash` field on disk); 2: `chunkHash` says; 3: like 2,
   * unencrypted and authenticated by an auth key (`authentication` says where it is).
   */
  version: 1 | 2 | 3;
  chunkSize: number;
  chunkHash: ChunkHash;
  packSize: number;
  /** How writers store new chunks; readers decode whatever each record says. */
  compression: 'zstd' | 'none';
  /** The zstd level writers use (absent: DEFAULT_ZSTD_LEVEL). */
  compressionLevel?: number;
  encryption: 'aes-256-gcm' | 'none';
  /** Version 3 only. */
  authentication?: AuthKeyPlace;
  created: string;
}

/** The zstd level new chunks are written with; 0 when the repository stores them uncompressed. */
export function writeLevel(c: RepoConfig): number {
  return c.compression === 'none' ? 0 : (c.compressionLevel ?? DEFAULT_ZSTD_LEVEL);
}

function validLevel(level: unknown): boolean {
  return (
    Number.isInteger(level) &&
    (level as number) >= MIN_ZSTD_LEVEL &&
    (level as number) <= MAX_ZSTD_LEVEL
  );
}

export function newConfig(opts: {
  chunkSize?: number;
  packSize?: number;
  encrypted: boolean;
  chunkHash?: ChunkHash;
  compression?: 'zstd' | 'none';
  compressionLevel?: number;
  /** For an unencrypted repository: authenticate it (version 3) with a key kept there. */
  authentication?: AuthKeyPlace;
}): RepoConfig {
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  checkChunkSize(chunkSize);
  const packSize = opts.packSize ?? DEFAULT_PACK_SIZE;
  if (!Number.isInteger(packSize) || packSize < chunkSize || packSize > 1024 * 1024 * 1024) {
    throw new RepoError('REPO_INVALID_ARGUMENT', `pack size ${packSize} is out of range`);
  }
  const chunkHash = opts.chunkHash ?? DEFAULT_CHUNK_HASH;
  if (chunkHash !== 'blake3' && chunkHash !== 'sha256') {
    throw new RepoError(
      'REPO_INVALID_ARGUMENT',
      `chunk hash must be blake3 or sha256, not ${String(chunkHash)}`,
    );
  }
  const fields = compressionFields(opts.compression ?? 'zstd', opts.compressionLevel);
  if (opts.authentication !== undefined && opts.encrypted) {
    throw new RepoError(
      'REPO_INVALID_ARGUMENT',
      'an encrypted repository is authenticated by its password, not an auth key',
    );
  }
  const base = {
    id: randomBytes(16).toString('hex'),
    // An encrypted SHA-256 repository is written as version 1, readable by every brankas.
    version: chunkHash === 'sha256' ? 1 : 2,
    chunkSize,
    chunkHash,
    packSize,
    ...fields,
    encryption: opts.encrypted ? 'aes-256-gcm' : 'none',
    created: new Date().toISOString(),
  } as const;
  return opts.authentication === undefined ? base : authenticated(base, opts.authentication);
}

/** The config of an unencrypted repository as version 3, authenticated by a key kept at place. */
export function authenticated(c: RepoConfig, place: AuthKeyPlace): RepoConfig {
  // The field order is the body's order on disk: authentication after encryption.
  const { created, ...rest } = c;
  return { ...rest, version: 3, authentication: place, created };
}

/**
 * The config's compression fields, checked: zstd at a level from 1 to 19, or none (no level).
 * The level is written only when not the default, so a default config stays byte for byte what
 * it was.
 */
function compressionFields(
  compression: string,
  level: number | undefined,
): Pick<RepoConfig, 'compression' | 'compressionLevel'> {
  if (compression !== 'zstd' && compression !== 'none') {
    throw new RepoError(
      'REPO_INVALID_ARGUMENT',
      `compression must be zstd or none, not ${compression}`,
    );
  }
  if (level !== undefined && compression === 'none') {
    throw new RepoError('REPO_INVALID_ARGUMENT', 'a compression level needs zstd compression');
  }
  if (level !== undefined) checkCompressionLevel(level);
  return level !== undefined && level !== DEFAULT_ZSTD_LEVEL
    ? { compression, compressionLevel: level }
    : { compression };
}

/** The same config with other compression fields (for writers from now on). */
export function withCompression(
  c: RepoConfig,
  compression: 'zstd' | 'none',
  level?: number,
): RepoConfig {
  const rest: RepoConfig = { ...c };
  delete rest.compressionLevel;
  return { ...rest, ...compressionFields(compression, level) };
}

export function sealConfig(c: RepoConfig, macKey: Buffer | undefined): Buffer {
  if (c.version === 1) {
    const v1: Partial<RepoConfig> = { ...c };
    delete v1.chunkHash;
    return seal(CONFIG_FORMAT, v1, macKey);
  }
  return seal(CONFIG_FORMAT, c, macKey);
}

/** The config without checking an HMAC (the keys need the id first). */
export function peekConfig(bytes: Buffer): RepoConfig {
  const r = unseal(bytes, CONFIG_FORMAT, undefined, true);
  if (!r.ok) {
    if (r.reason === 'version') {
      throw new RepoError('REPO_UNSUPPORTED_VERSION', 'config has an unknown envelope version');
    }
    throw new RepoIntegrityError('REPO_CONFIG_CORRUPT', `config is damaged (${r.reason})`);
  }
  const c = r.body as RepoConfig;
  if (c.version === 1) c.chunkHash = 'sha256';
  if (c.version !== 1 && c.version !== 2 && c.version !== 3) {
    throw new RepoError(
      'REPO_UNSUPPORTED_VERSION',
      `repository format version ${c.version} is not supported`,
    );
  }
  if (
    typeof c.id !== 'string' ||
    !/^[0-9a-f]{32}$/.test(c.id) ||
    !Number.isInteger(c.chunkSize) ||
    !Number.isInteger(c.packSize) ||
    (c.chunkHash !== 'blake3' && c.chunkHash !== 'sha256') ||
    (c.compression !== 'zstd' && c.compression !== 'none') ||
    (c.compressionLevel !== undefined && !validLevel(c.compressionLevel)) ||
    (c.encryption !== 'none' && c.encryption !== 'aes-256-gcm') ||
    // Version 3, and only it, is unencrypted and says where its auth key is.
    (c.version === 3
      ? c.encryption !== 'none' ||
        (c.authentication !== 'repository' && c.authentication !== 'external')
      : c.authentication !== undefined)
  ) {
    throw new RepoIntegrityError('REPO_CONFIG_CORRUPT', 'config has invalid fields');
  }
  return c;
}

/** Checks the config's MAC under the repository's MAC key (or its SHA-256 when none). */
export function checkConfigMac(bytes: Buffer, macKey: Buffer | undefined): void {
  const r = unseal(bytes, CONFIG_FORMAT, macKey);
  if (!r.ok) {
    throw new RepoIntegrityError(
      'REPO_CONFIG_CORRUPT',
      macKey
        ? 'config does not verify under the repository key: it was changed or replaced'
        : 'config checksum mismatch',
    );
  }
}
