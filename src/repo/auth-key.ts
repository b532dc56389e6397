/**
 * The auth key of an unencrypted repository (docs/repository-format.md,
 * "Authentication of unencrypted repositories"): 32 random bytes whose HKDF
 * sub-key signs the config and the manifests, kept in the repository
 * (keys/auth) or in a file outside it. authenticate() decides, when a
 * repository is opened, which MAC key (if any) its envelopes are checked with.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Backend } from './backend/types.js';
import { checkConfigMac, type RepoConfig } from './config.js';
import { unseal } from './envelope.js';
import { isObjectNotFound, RepoError, RepoIntegrityError, RepoKeyError } from './errors.js';

export const AUTH_KEY_OBJECT = 'keys/auth';

export interface AuthKeyFile {
  format: 'brankas-auth-key';
  version: 1;
  repository: string;
  key: string;
  created: string;
}

/** A new auth key for repository `repositoryId`, and the bytes of its file. */
export function newAuthKey(repositoryId: string): { key: Buffer; bytes: Buffer } {
  const key = randomBytes(32);
  const file: AuthKeyFile = {
    format: 'brankas-auth-key',
    version: 1,
    repository: repositoryId,
    key: key.toString('base64'),
    created: new Date().toISOString(),
  };
  return { key, bytes: Buffer.from(JSON.stringify(file, null, 2) + '\n') };
}

/** The key and the repository it belongs to; REPO_BAD_FORMAT when it is not an auth key. */
export function parseAuthKey(bytes: Buffer, where: string): { repository: string; key: Buffer } {
  let f: AuthKeyFile;
  try {
    f = JSON.parse(bytes.toString('utf8')) as AuthKeyFile;
  } catch (err) {
    throw new RepoError('REPO_BAD_FORMAT', `${where} is not an auth key (not JSON)`, {
      cause: err,
    });
  }
  const key = typeof f?.key === 'string' ? Buffer.from(f.key, 'base64') : Buffer.alloc(0);
  if (
    f?.format !== 'brankas-auth-key' ||
    f.version !== 1 ||
    typeof f.repository !== 'string' ||
    key.length !== 32
  ) {
    throw new RepoError('REPO_BAD_FORMAT', `${where} is not a brankas auth key`);
  }
  return { repository: f.repository, key };
}

/** K_mac of an authenticated repository: derived from the auth key as from a master key. */
export function authMacKey(key: Buffer, repositoryId: string): Buffer {
  return Buffer.from(
    hkdfSync('sha256', key, Buffer.from(repositoryId, 'hex'), Buffer.from('brankas/1 mac'), 32),
  );
}

/** Writes a new key file outside the repository: never over an existing file, mode 0600, synced. */
export async function writeExternalKey(path: string, bytes: Buffer): Promise<void> {
  const fh = await open(path, 'wx', 0o600).catch((err: unknown) => {
    throw new RepoError('REPO_IO', `cannot create the auth key file ${path}: ${String(err)}`, {
      cause: err,
      details: { file: path },
    });
  });
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Reads and parses a key file outside the repository. */
export async function readExternalKey(path: string): Promise<{ repository: string; key: Buffer }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new RepoError('REPO_IO', `cannot read the auth key file ${path}: ${String(err)}`, {
      cause: err,
      details: { file: path },
    });
  }
  return parseAuthKey(bytes, path);
}

/**
 * The MAC key the config and manifests of an unencrypted repository are checked with, the
 * config checked under it: from `keyFile` (outside the repository) when given, which must then
 * authenticate this very repository; else from keys/auth when the config says it is there;
 * undefined for an older, unauthenticated repository (its SHA-256 checked) and for one whose
 * key is kept outside (nothing can be checked: reading it needs the key).
 */
export async function authenticate(
  backend: Backend,
  config: RepoConfig,
  configBytes: Buffer,
  keyFile: string | undefined,
): Promise<Buffer | undefined> {
  if (keyFile !== undefined) {
    const failed = (why: string): RepoKeyError =>
      new RepoKeyError(
        'REPO_AUTH_FAILED',
        `the auth key in ${keyFile} does not authenticate the repository at ${backend.location}: ${why}`,
        { details: { file: keyFile, location: backend.location } },
      );
    const { repository, key } = await readExternalKey(keyFile);
    if (config.authentication === undefined) {
      throw failed(`the repository is not authenticated (format version ${config.version})`);
    }
    if (repository !== config.id) throw failed(`the key belongs to repository ${repository}`);
    const mac = authMacKey(key, config.id);
    if (!unseal(configBytes, 'brankas-config', mac).ok) {
      throw failed('its config does not verify under the key: it was changed or replaced');
    }
    return mac;
  }
  if (config.authentication === undefined) {
    checkConfigMac(configBytes, undefined);
    return undefined;
  }
  if (config.authentication === 'external') return undefined;
  let bytes: Buffer;
  try {
    bytes = await backend.get(AUTH_KEY_OBJECT);
  } catch (err) {
    if (!isObjectNotFound(err)) throw err;
    throw new RepoKeyError(
      'REPO_AUTH_KEY_REQUIRED',
      `the auth key of the repository at ${backend.location} (${AUTH_KEY_OBJECT}) is missing: ` +
        'give a copy of it with BRANKAS_AUTH_KEY_FILE',
      { details: { location: backend.location } },
    );
  }
  const { repository, key } = parseAuthKey(bytes, AUTH_KEY_OBJECT);
  const mac = authMacKey(key, config.id);
  if (repository !== config.id) {
    throw new RepoIntegrityError(
      'REPO_CONFIG_CORRUPT',
      `${AUTH_KEY_OBJECT} belongs to repository ${repository}, not to this one`,
    );
  }
  checkConfigMac(configBytes, mac);
  return mac;
}
