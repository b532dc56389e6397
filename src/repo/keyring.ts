/**
 * The key files of a repository: unlock with a password, add, remove and
 * change passwords. Every change writes a new key file before it deletes an
 * old one, so a crash never leaves a repository without a way in.
 */
import type { Backend } from './backend/types.js';
import { isObjectNotFound, RepoKeyError } from './errors.js';
import {
  parseKeyFile,
  unwrapMasterKey,
  wrapMasterKey,
  type KdfParams,
  type KeyFile,
} from './keys.js';

export interface KeySummary {
  id: string;
  label: string;
  created: string;
  host: string;
  user: string;
  kdf: { N: number; r: number; p: number };
}

export async function readKeyFiles(backend: Backend): Promise<{ id: string; file: KeyFile }[]> {
  const out: { id: string; file: KeyFile }[] = [];
  for await (const o of backend.list('keys/')) {
    const id = o.name.slice('keys/'.length);
    if (!/^[0-9a-f]{64}$/.test(id)) continue;
    try {
      out.push({ id, file: parseKeyFile(await backend.get(o.name), o.name) });
    } catch (err) {
      if (!isObjectNotFound(err)) throw err;
    }
  }
  return out.sort((a, b) => a.file.created.localeCompare(b.file.created));
}

/** The master key and the id of the key file the password opened. */
export async function unlock(
  backend: Backend,
  password: string,
): Promise<{ master: Buffer; keyId: string }> {
  const files = await readKeyFiles(backend);
  for (const { id, file } of files) {
    const master = await unwrapMasterKey(file, password);
    if (master) return { master, keyId: id };
  }
  throw new RepoKeyError(
    'REPO_WRONG_PASSWORD',
    files.length
      ? 'wrong password: no key file of the repository opens with it'
      : 'the repository has no key files',
  );
}

export async function addKey(
  backend: Backend,
  master: Buffer,
  repositoryId: string,
  password: string,
  kdf: KdfParams,
  label: string,
): Promise<string> {
  const k = await wrapMasterKey(master, password, repositoryId, kdf, label);
  await backend.put(`keys/${k.id}`, k.bytes);
  return k.id;
}

/** Removes a key file (a unique prefix of its id is enough); never the last one. */
export async function removeKey(backend: Backend, idOrPrefix: string): Promise<string> {
  const files = await readKeyFiles(backend);
  const matches = files.filter((f) => f.id.startsWith(idOrPrefix));
  if (matches.length !== 1 || idOrPrefix.length < 4) {
    throw new RepoKeyError(
      'REPO_KEY_NOT_FOUND',
      matches.length > 1 ? `key id ${idOrPrefix} is ambiguous` : `no key ${idOrPrefix}`,
    );
  }
  if (files.length === 1) {
    throw new RepoKeyError(
      'REPO_LAST_KEY',
      'refusing to remove the last key: the data would be lost',
    );
  }
  await backend.delete(`keys/${matches[0]!.id}`);
  return matches[0]!.id;
}

export function summarizeKeys(files: { id: string; file: KeyFile }[]): KeySummary[] {
  return files.map(({ id, file }) => ({
    id,
    label: file.label,
    created: file.created,
    host: file.host,
    user: file.user,
    kdf: { N: file.kdf.N, r: file.kdf.r, p: file.kdf.p },
  }));
}
