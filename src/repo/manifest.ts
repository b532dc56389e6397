/**
 * Manifests (docs/repository-format.md, "Manifest"): what a backup is, signed
 * with the repository's MAC key. A backup exists if and only if its manifest
 * does; the manifest authenticates each fixed index by its SHA-256.
 */
import { randomBytes } from 'node:crypto';
import { RepoError, RepoIntegrityError } from './errors.js';
import { seal, unseal } from './envelope.js';

export const MANIFEST_FORMAT = 'brankas-manifest';
export const BACKUP_ID = /^\d{8}T\d{6}Z-[0-9a-f]{8}$/;
export const DISK_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface ManifestDisk {
  name: string;
  index: string;
  indexSha256: string;
  virtualSize: number;
  format: string | null;
  formatOptions: Record<string, unknown> | null;
  dataBytes: number;
  zeroBytes: number;
  newChunks: number;
  newPlainBytes: number;
  newStoredBytes: number;
}

export interface Manifest {
  id: string;
  repository: string;
  vm: { name: string; uuid: string | null };
  domainXml: string | null;
  method: string;
  parent: string | null;
  host: string;
  startedAt: string;
  finishedAt: string;
  chunkSize: number;
  disks: ManifestDisk[];
  verify: unknown;
  labels: Record<string, string>;
  [extra: string]: unknown;
}

export function newBackupId(at = new Date()): string {
  const t = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${t}-${randomBytes(4).toString('hex')}`;
}

/**
 * What a manifest that failed its checks still seems to say, unauthenticated: the VM's name and
 * the start time (from the backup id when the body is unreadable). Only to tell a user which
 * backup is damaged; never to restore from.
 */
export function peekManifest(
  bytes: Buffer | undefined,
  backupId: string,
): { vm: string | null; startedAt: string } {
  const t = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(backupId);
  const fromId = t ? `${t[1]}-${t[2]}-${t[3]}T${t[4]}:${t[5]}:${t[6]}.000Z` : '';
  try {
    const env = JSON.parse(bytes!.toString('utf8')) as { body?: unknown };
    const body = JSON.parse(env.body as string) as { vm?: { name?: unknown }; startedAt?: unknown };
    return {
      vm: typeof body.vm?.name === 'string' ? body.vm.name : null,
      startedAt: typeof body.startedAt === 'string' ? body.startedAt : fromId,
    };
  } catch {
    return { vm: null, startedAt: fromId };
  }
}

export function manifestObjectName(backupId: string): string {
  return `backups/${backupId}/manifest.json`;
}

export function fidxObjectName(backupId: string, disk: string): string {
  return `backups/${backupId}/${disk}.fidx`;
}

export function checkDiskName(name: string): void {
  if (!DISK_NAME.test(name)) {
    throw new RepoError('REPO_INVALID_ARGUMENT', `invalid disk name ${JSON.stringify(name)}`);
  }
}

export function sealManifest(m: Manifest, macKey: Buffer | undefined): Buffer {
  return seal(MANIFEST_FORMAT, m, macKey);
}

/**
 * Parses and authenticates a manifest. In a repository whose manifests are `signed`
 * (encrypted, or authenticated by an auth key) but without macKey, the MAC cannot be
 * checked; `verified` says whether it was. An unsigned one must have a plain SHA-256.
 */
export function openManifest(
  bytes: Buffer,
  backupId: string,
  repositoryId: string,
  macKey: Buffer | undefined,
  signed: boolean,
): { manifest: Manifest; verified: boolean } {
  const r = unseal(bytes, MANIFEST_FORMAT, macKey, signed && !macKey);
  const bad = (why: string): RepoIntegrityError =>
    new RepoIntegrityError(
      'REPO_MANIFEST_CORRUPT',
      `manifest is damaged or tampered with: ${why}`,
      {
        backup: backupId,
      },
    );
  if (!r.ok) {
    if (r.reason === 'version') {
      throw new RepoError(
        'REPO_UNSUPPORTED_VERSION',
        `manifest of ${backupId} has an unknown version`,
      );
    }
    throw bad(r.reason === 'mac' ? 'signature does not verify' : r.reason);
  }
  const m = r.body as Manifest;
  if (m.id !== backupId) throw bad(`it names backup ${m.id}`);
  if (m.repository !== repositoryId) throw bad('it belongs to another repository');
  if (!Array.isArray(m.disks) || typeof m.vm?.name !== 'string') throw bad('missing fields');
  for (const d of m.disks) {
    if (!DISK_NAME.test(d.name) || !/^[0-9a-f]{64}$/.test(d.indexSha256))
      throw bad('bad disk entry');
  }
  return { manifest: m, verified: !signed || macKey !== undefined };
}
