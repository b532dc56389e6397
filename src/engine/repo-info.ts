/**
 * What a repository is, as every face shows it (`brankas repo info`, the API's GET
 * /api/v1/repo, the dashboard's repository page): where it is, its format and the compression
 * new data gets, its keys (never their secrets), its backups in brief (each with whether its
 * manifest's signature was verified) and the manifests that are damaged; or one backup in full.
 * Decided here once, so the faces only render it.
 */
import { writeLevel, type RepoConfig } from '../repo/config.js';
import type { KeySummary } from '../repo/keyring.js';
import type { Manifest } from '../repo/manifest.js';
import type { Repository } from '../repo/repository.js';

export interface BackupBrief {
  id: string;
  vm: Manifest['vm'];
  method: Manifest['method'];
  parent: string | null;
  startedAt: string;
  finishedAt: string;
  disks: { name: string; virtualSize: number; dataBytes: number }[];
  /** False when the MAC could not be checked (an encrypted repository opened without password). */
  verified: boolean;
}

export interface RepoInfo {
  location: string;
  config: RepoConfig;
  /** The zstd level new chunks are written with; 0 when stored uncompressed. */
  compressionLevel: number;
  keys: KeySummary[];
  /** Oldest first. */
  backups: BackupBrief[];
  /** Manifests that cannot be read or checked: each its error's code, message and details. */
  damaged: Record<string, unknown>[];
}

export type BackupInfo = Manifest & { verified: boolean };

export function backupBrief(m: Manifest, verified: boolean): BackupBrief {
  return {
    id: m.id,
    vm: m.vm,
    method: m.method,
    parent: m.parent,
    startedAt: m.startedAt,
    finishedAt: m.finishedAt,
    disks: m.disks.map((d) => ({
      name: d.name,
      virtualSize: d.virtualSize,
      dataBytes: d.dataBytes,
    })),
    verified,
  };
}

export async function repositoryInfo(repo: Repository): Promise<RepoInfo> {
  const { backups, damaged } = await repo.listBackups();
  return {
    location: repo.location,
    config: repo.config,
    compressionLevel: writeLevel(repo.config),
    keys: await repo.listKeys(),
    backups: backups.map((b) => backupBrief(b.manifest, b.verified)),
    damaged: damaged.map((e) => e.toJSON()),
  };
}

/** One backup in full: its manifest and whether its signature was verified. */
export async function backupInfo(repo: Repository, id: string): Promise<BackupInfo> {
  const { manifest, verified } = await repo.manifest(id);
  return { ...manifest, verified };
}
