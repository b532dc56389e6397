/**
 * Storage volumes through brankas's own libvirt client: the tutorial's
 * `virsh vol-create-as POOL NAME 10G --format qcow2`, plus listing and
 * deleting (planned first, so the face can ask before anything is lost).
 * libvirt's errors become typed ones that name the pool and the volume.
 */
import {
  isAlreadyExists,
  isNotFound,
  type Connection,
  type StoragePool,
  type StorageVolume,
} from '../../libvirt/index.js';
import { escapeXml, parseXml, path as xmlPath, attr } from '../../util/xml.js';
import { DiskError } from './errors.js';

export const VOLUME_FORMATS = ['qcow2', 'raw'] as const;
export type VolumeFormat = (typeof VOLUME_FORMATS)[number];

export interface VolumeSummary {
  pool: string;
  name: string;
  path: string;
  type: string;
  /** The format libvirt records for the volume (qcow2, raw...). */
  format: string | undefined;
  /** Bytes the guest sees. */
  capacity: bigint;
  /** Bytes taken on the host. */
  allocation: bigint;
}

export async function findPool(conn: Connection, name: string): Promise<StoragePool> {
  let pool: StoragePool;
  try {
    pool = await conn.lookupStoragePool(name);
  } catch (err) {
    if (isNotFound(err)) {
      throw new DiskError('POOL_NOT_FOUND', `no storage pool named '${name}'`, {
        cause: err,
        details: { pool: name },
      });
    }
    throw err;
  }
  if ((await pool.info()).state !== 'running') {
    throw new DiskError(
      'POOL_INACTIVE',
      `storage pool '${name}' is not active: start it first (virsh pool-start ${name})`,
      { details: { pool: name } },
    );
  }
  return pool;
}

export async function findVolume(pool: StoragePool, name: string): Promise<StorageVolume> {
  try {
    return await pool.lookupVolume(name);
  } catch (err) {
    if (isNotFound(err)) {
      throw new DiskError(
        'VOLUME_NOT_FOUND',
        `storage pool '${pool.name}' has no volume named '${name}'`,
        { cause: err, details: { pool: pool.name, volume: name } },
      );
    }
    throw err;
  }
}

export async function describeVolume(vol: StorageVolume): Promise<VolumeSummary> {
  const [info, path, xml] = await Promise.all([vol.info(), vol.path(), vol.xml()]);
  const root = parseXml(xml, 'volume XML').documentElement!;
  return {
    pool: vol.poolName,
    name: vol.name,
    path,
    type: info.type,
    format: attr(xmlPath(root, 'target', 'format'), 'type'),
    capacity: info.capacity,
    allocation: info.allocation,
  };
}

export interface CreateVolumeOptions {
  pool: string;
  name: string;
  /** Bytes. */
  capacity: bigint;
  format: string;
  /**
   * Bytes to reserve on the host. Omitted, libvirt's default (as with virsh
   * vol-create-as without --allocation): a raw volume gets its whole capacity
   * reserved; 0 makes a sparse raw file.
   */
  allocation?: bigint;
  /** Owner of the new file (dir pools), e.g. so an unprivileged user can write into it. */
  owner?: { uid: number; gid: number };
}

export function volumeXml(o: CreateVolumeOptions): string {
  const allocation =
    o.allocation === undefined ? '' : `<allocation unit='bytes'>${o.allocation}</allocation>`;
  const owner = o.owner
    ? `<permissions><mode>0600</mode><owner>${o.owner.uid}</owner><group>${o.owner.gid}</group></permissions>`
    : '';
  return (
    `<volume><name>${escapeXml(o.name)}</name>` +
    `<capacity unit='bytes'>${o.capacity}</capacity>${allocation}` +
    `<target><format type='${escapeXml(o.format)}'/>${owner}</target></volume>`
  );
}

export async function createVolume(
  conn: Connection,
  o: CreateVolumeOptions,
): Promise<VolumeSummary> {
  if (!(VOLUME_FORMATS as readonly string[]).includes(o.format)) {
    throw new DiskError(
      'VOLUME_BAD_FORMAT',
      `volume format '${o.format}' is not one of ${VOLUME_FORMATS.join(', ')}`,
      { details: { format: o.format, formats: [...VOLUME_FORMATS] } },
    );
  }
  if (o.name === '' || o.name.includes('/') || o.name === '.' || o.name === '..') {
    throw new DiskError('VOLUME_BAD_NAME', `'${o.name}' cannot be a volume name`, {
      details: { volume: o.name },
    });
  }
  if (o.capacity <= 0n) {
    throw new DiskError('VOLUME_BAD_SIZE', `a volume needs a size above 0 bytes`, {
      details: { size: String(o.capacity) },
    });
  }
  const pool = await findPool(conn, o.pool);
  const exists = (): DiskError =>
    new DiskError(
      'VOLUME_EXISTS',
      `storage pool '${o.pool}' already has a volume named '${o.name}'`,
      {
        details: { pool: o.pool, volume: o.name },
      },
    );
  try {
    await pool.lookupVolume(o.name);
    throw exists();
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  try {
    return await describeVolume(await pool.createVolume(volumeXml(o)));
  } catch (err) {
    if (isAlreadyExists(err)) throw exists();
    throw err;
  }
}

export async function listVolumes(conn: Connection, poolName: string): Promise<VolumeSummary[]> {
  const pool = await findPool(conn, poolName);
  const vols = await pool.listVolumes();
  const out = await Promise.all(vols.map((v) => describeVolume(v)));
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** What deleting a volume would remove, for the face to show before it asks. */
export type VolumeDeletePlan = VolumeSummary;

export async function planVolumeDelete(
  conn: Connection,
  poolName: string,
  name: string,
): Promise<VolumeDeletePlan> {
  return describeVolume(await findVolume(await findPool(conn, poolName), name));
}

export async function executeVolumeDelete(conn: Connection, plan: VolumeDeletePlan): Promise<void> {
  const vol = await findVolume(await findPool(conn, plan.pool), plan.name);
  // The name may have been reused since the plan: delete only the file that was shown.
  if ((await vol.path()) !== plan.path) {
    throw new DiskError(
      'VOLUME_NOT_FOUND',
      `volume '${plan.name}' in pool '${plan.pool}' is no longer ${plan.path}`,
      { details: { pool: plan.pool, volume: plan.name } },
    );
  }
  await vol.delete();
}
