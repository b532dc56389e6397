/**
 * Keys of an encrypted repository (docs/repository-format.md, "Keys and
 * encryption"): a random master key, wrapped in one key file per password by
 * an scrypt-derived key; HKDF sub-keys for chunk ids, chunk encryption and
 * MACs. The master key never changes, so passwords change without
 * re-encrypting anything.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  hkdfSync,
  randomBytes,
  scrypt,
  type ScryptOptions,
} from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { RepoError, RepoKeyError } from './errors.js';

export interface KdfParams {
  N: number;
  r: number;
  p: number;
}

/** About half a second and 128 MiB: the production setting. */
export const DEFAULT_KDF: KdfParams = { N: 2 ** 17, r: 8, p: 1 };
/** Cheap on purpose: tests only, never production. */
export const TEST_KDF: KdfParams = { N: 2 ** 10, r: 8, p: 1 };

/** What is derived from the master key. */
export interface RepoKeys {
  /** Chunk ids: BLAKE3 keyed_hash(idKey, plaintext), or HMAC-SHA-256 in version 1. */
  readonly idKey: Buffer;
  /** AES-256-GCM of chunk payloads. */
  readonly encKey: Buffer;
  /** Envelope MACs (config, manifests). */
  readonly macKey: Buffer;
}

export interface KeyFile {
  format: 'brankas-key';
  version: 1;
  repository: string;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  cipher: 'aes-256-gcm';
  nonce: string;
  wrapped: string;
  tag: string;
  created: string;
  host: string;
  user: string;
  label: string;
}

export function deriveKeys(master: Buffer, repositoryId: string): RepoKeys {
  const salt = Buffer.from(repositoryId, 'hex');
  const sub = (info: string): Buffer =>
    Buffer.from(hkdfSync('sha256', master, salt, Buffer.from(info), 32));
  return {
    idKey: sub('brankas/1 chunk-id'),
    encKey: sub('brankas/1 chunk-enc'),
    macKey: sub('brankas/1 mac'),
  };
}

export function newMasterKey(): Buffer {
  return randomBytes(32);
}

function kek(password: string, salt: Buffer, p: KdfParams): Promise<Buffer> {
  if (!(p.N <= 2 ** 22 && p.r <= 32 && p.p <= 16 && p.N >= 2 && (p.N & (p.N - 1)) === 0)) {
    throw new RepoError('REPO_BAD_FORMAT', `key file has unacceptable scrypt parameters`);
  }
  const opts: ScryptOptions = { N: p.N, r: p.r, p: p.p, maxmem: 128 * p.N * p.r * 2 + (1 << 20) };
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, 32, opts, (err, key) =>
      err ? reject(new RepoError('REPO_IO', `scrypt failed: ${err.message}`)) : resolve(key),
    ),
  );
}

function aad(repositoryId: string): Buffer {
  return Buffer.from(`brankas/1 key ${repositoryId}`);
}

/** A key file wrapping master under password, and its id (SHA-256 of its bytes). */
export async function wrapMasterKey(
  master: Buffer,
  password: string,
  repositoryId: string,
  kdf: KdfParams,
  label: string,
): Promise<{ id: string; bytes: Buffer; file: KeyFile }> {
  if (password.length === 0) throw new RepoKeyError('REPO_PASSWORD_REQUIRED', 'empty password');
  const salt = randomBytes(32);
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', await kek(password, salt, kdf), nonce);
  cipher.setAAD(aad(repositoryId));
  const wrapped = Buffer.concat([cipher.update(master), cipher.final()]);
  const file: KeyFile = {
    format: 'brankas-key',
    version: 1,
    repository: repositoryId,
    kdf: { name: 'scrypt', N: kdf.N, r: kdf.r, p: kdf.p, salt: salt.toString('base64') },
    cipher: 'aes-256-gcm',
    nonce: nonce.toString('base64'),
    wrapped: wrapped.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    created: new Date().toISOString(),
    host: hostname(),
    user: safeUser(),
    label,
  };
  const bytes = Buffer.from(JSON.stringify(file, null, 2) + '\n');
  return { id: createHash('sha256').update(bytes).digest('hex'), bytes, file };
}

export function parseKeyFile(bytes: Buffer, name: string): KeyFile {
  let f: KeyFile;
  try {
    f = JSON.parse(bytes.toString('utf8')) as KeyFile;
  } catch (err) {
    throw new RepoError('REPO_BAD_FORMAT', `key file ${name} is not JSON`, { cause: err });
  }
  if (f.format !== 'brankas-key' || f.kdf?.name !== 'scrypt' || f.cipher !== 'aes-256-gcm') {
    throw new RepoError('REPO_BAD_FORMAT', `key file ${name} is not a brankas key file`);
  }
  if (f.version !== 1) {
    throw new RepoError('REPO_UNSUPPORTED_VERSION', `key file ${name} has version ${f.version}`);
  }
  return f;
}

/** The master key if password opens this key file, undefined if it does not. */
export async function unwrapMasterKey(
  file: KeyFile,
  password: string,
): Promise<Buffer | undefined> {
  const key = await kek(password, Buffer.from(file.kdf.salt, 'base64'), file.kdf);
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(file.nonce, 'base64'));
  decipher.setAAD(aad(file.repository));
  decipher.setAuthTag(Buffer.from(file.tag, 'base64'));
  try {
    const master = Buffer.concat([
      decipher.update(Buffer.from(file.wrapped, 'base64')),
      decipher.final(),
    ]);
    return master.length === 32 ? master : undefined;
  } catch {
    return undefined;
  }
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return '';
  }
}
