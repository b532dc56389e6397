/**
 * `repo upgrade` (docs/repository-format.md, "Upgrading an older unencrypted
 * repository"): gives an unencrypted repository of version 1 or 2 an auth key,
 * re-signs its manifests under it and writes its config as version 3, last, so
 * that an interrupted upgrade leaves the older format and is completed by
 * running it again. It runs alone: every other lock holder might have read the
 * old config and would write unsigned manifests.
 */
import type { Backend } from './backend/types.js';
import {
  AUTH_KEY_OBJECT,
  authMacKey,
  newAuthKey,
  parseAuthKey,
  readExternalKey,
  writeExternalKey,
} from './auth-key.js';
import {
  authenticated,
  checkConfigMac,
  peekConfig,
  sealConfig,
  type AuthKeyPlace,
  type RepoConfig,
} from './config.js';
import { unseal } from './envelope.js';
import { isObjectNotFound, RepoError, RepoIntegrityError, RepoKeyError } from './errors.js';
import { readKeyFiles } from './keyring.js';
import { listLocks, RepoLock } from './lock.js';
import {
  BACKUP_ID,
  MANIFEST_FORMAT,
  manifestObjectName,
  openManifest,
  sealManifest,
} from './manifest.js';
import { stat } from 'node:fs/promises';

export interface UpgradeOptions {
  /** Keep the new auth key in this new file outside the repository (else in keys/auth). */
  authKeyFile?: string;
}

export interface UpgradeResult {
  /** False when the repository was already of version 3 (nothing was changed). */
  upgraded: boolean;
  version: RepoConfig['version'];
  authentication: AuthKeyPlace;
  /** Backups whose manifests were signed now. */
  signed: string[];
  /** Backups whose manifests an interrupted upgrade had signed already. */
  alreadySigned: string[];
  /** Backups whose manifests are damaged: left as they are (verify reports them). */
  damaged: string[];
}

export async function upgradeRepository(
  backend: Backend,
  o: UpgradeOptions = {},
): Promise<UpgradeResult> {
  const configBytes = await backend.get('config').catch((err: unknown) => {
    if (!isObjectNotFound(err)) throw err;
    throw new RepoError('REPO_NOT_FOUND', `no repository at ${backend.location}`, {
      cause: err,
      details: { location: backend.location },
    });
  });
  const config = peekConfig(configBytes);
  if (config.encryption !== 'none' || (await readKeyFiles(backend)).length > 0) {
    throw new RepoError(
      'REPO_INVALID_ARGUMENT',
      'the repository is encrypted: its password authenticates it already',
    );
  }
  const place: AuthKeyPlace = o.authKeyFile !== undefined ? 'external' : 'repository';
  if (config.authentication !== undefined) {
    return {
      upgraded: false,
      version: config.version,
      authentication: config.authentication,
      signed: [],
      alreadySigned: [],
      damaged: [],
    };
  }
  checkConfigMac(configBytes, undefined);
  const lock = await RepoLock.acquire(backend, 'exclusive', 'upgrade');
  try {
    const other = (await listLocks(backend)).find((l) => l.id !== lock.id && !l.stale);
    if (other) {
      const h = other.info;
      throw new RepoError(
        'REPO_LOCKED',
        `the repository is in use${h ? ` by ${h.purpose} (pid ${h.pid} on ${h.host})` : ''}: ` +
          'upgrade it when no other brankas uses it',
        { details: { lock: other.id, ...(h ? { holder: h } : {}) } },
      );
    }
    const mac = authMacKey(await authKeyFor(backend, config.id, o.authKeyFile), config.id);
    const result: UpgradeResult = {
      upgraded: true,
      version: 3,
      authentication: place,
      signed: [],
      alreadySigned: [],
      damaged: [],
    };
    for (const id of await backupIds(backend)) {
      const name = manifestObjectName(id);
      let bytes: Buffer;
      try {
        bytes = await backend.get(name);
      } catch (err) {
        if (isObjectNotFound(err)) continue; // forgotten meanwhile
        throw err;
      }
      if (unseal(bytes, MANIFEST_FORMAT, mac).ok) {
        result.alreadySigned.push(id);
        continue;
      }
      let manifest;
      try {
        manifest = openManifest(bytes, id, config.id, undefined, false).manifest;
      } catch (err) {
        if (!(err instanceof RepoIntegrityError)) throw err;
        result.damaged.push(id);
        continue;
      }
      await backend.put(name, sealManifest(manifest, mac));
      result.signed.push(id);
    }
    // Last: until now the repository is of its older version, its manifests readable as such.
    await backend.put('config', sealConfig(authenticated(config, place), mac));
    return result;
  } finally {
    await lock.release();
  }
}

/** The auth key to upgrade with: one an interrupted upgrade left, else a new one. */
async function authKeyFor(
  backend: Backend,
  repositoryId: string,
  file: string | undefined,
): Promise<Buffer> {
  const mine = (where: string, repository: string): void => {
    if (repository !== repositoryId) {
      throw new RepoKeyError(
        'REPO_AUTH_FAILED',
        `${where} is the auth key of repository ${repository}, not of this one`,
        { details: { file: where, location: backend.location } },
      );
    }
  };
  if (file !== undefined) {
    if (
      await stat(file).then(
        () => true,
        () => false,
      )
    ) {
      const k = await readExternalKey(file);
      mine(file, k.repository);
      return k.key;
    }
    const k = newAuthKey(repositoryId);
    await writeExternalKey(file, k.bytes);
    return k.key;
  }
  try {
    const k = parseAuthKey(await backend.get(AUTH_KEY_OBJECT), AUTH_KEY_OBJECT);
    mine(AUTH_KEY_OBJECT, k.repository);
    return k.key;
  } catch (err) {
    if (!isObjectNotFound(err)) throw err;
  }
  const k = newAuthKey(repositoryId);
  await backend.put(AUTH_KEY_OBJECT, k.bytes);
  return k.key;
}

async function backupIds(backend: Backend): Promise<string[]> {
  const ids: string[] = [];
  for await (const o of backend.list('backups/')) {
    const m = /^backups\/([^/]+)\/manifest\.json$/.exec(o.name);
    if (m && BACKUP_ID.test(m[1]!)) ids.push(m[1]!);
  }
  return ids.sort();
}
