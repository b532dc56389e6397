/**
 * The repository config (docs/repository-format.md, "Config"): chunk size,
 * pack size, encryption; sealed in an envelope so that, once keys exist,
 * nobody can turn encryption off by editing it.
 */
import { randomBytes } from 'node:crypto';
import { RepoError, RepoIntegrityError } from './errors.js';
import { seal, unseal } from './envelope.js';

export const CONFIG_FORMAT = 'brankas-config';
export const DEFAULT_CHUNK_SIZE = 256 * 1024;
export const DEFAULT_PACK_SIZE = 16 * 1024 * 1024;
export const MIN_CHUNK_SIZE = 64 * 1024;
export const MAX_CHUNK_SIZE = 4 * 1024 * 1024;

export interface RepoConfig {
  id: string;
  version: 1;
  chunkSize: number;
  packSize: number;
  compression: 'zstd';
  encryption: 'aes-256-gcm' | 'none';
  created: string;
}

export function newConfig(opts: {
  chunkSize?: number;
  packSize?: number;
  encrypted: boolean;
}): RepoConfig {
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (
    !Number.isInteger(chunkSize) ||
    chunkSize < MIN_CHUNK_SIZE ||
    chunkSize > MAX_CHUNK_SIZE ||
    (chunkSize & (chunkSize - 1)) !== 0
  ) {
    throw new RepoError(
      'REPO_INVALID_ARGUMENT',
      `chunk size must be a power of two from 64 KiB to 4 MiB, not ${chunkSize}`,
    );
  }
  const packSize = opts.packSize ?? DEFAULT_PACK_SIZE;
  if (!Number.isInteger(packSize) || packSize < chunkSize || packSize > 1024 * 1024 * 1024) {
    throw new RepoError('REPO_INVALID_ARGUMENT', `pack size ${packSize} is out of range`);
  }
  return {
    id: randomBytes(16).toString('hex'),
    version: 1,
    chunkSize,
    packSize,
    compression: 'zstd',
    encryption: opts.encrypted ? 'aes-256-gcm' : 'none',
    created: new Date().toISOString(),
  };
}

export function sealConfig(c: RepoConfig, macKey: Buffer | undefined): Buffer {
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
  if (c.version !== 1) {
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
    (c.encryption !== 'none' && c.encryption !== 'aes-256-gcm')
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
