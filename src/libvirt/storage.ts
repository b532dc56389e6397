/**
 * StoragePool and StorageVolume: handles on libvirt's storage objects, with
 * the volume data streams (upload and download) as async iteration.
 */
import * as C from './calls.js';
import type { Connection } from './connection.js';
import { uuidString } from './connection.js';
import { encode } from './xdr.js';
import type { PoolRef, VolRef } from './types.js';
import type { RpcStream } from './stream.js';
import { naming } from './errors.js';

const POOL_STATES = ['inactive', 'building', 'running', 'degraded', 'inaccessible'] as const;
const VOL_TYPES = ['file', 'block', 'dir', 'network', 'netdir', 'ploop'] as const;

export interface PoolInfo {
  state: (typeof POOL_STATES)[number] | 'unknown';
  capacity: bigint;
  allocation: bigint;
  available: bigint;
}

export interface VolumeInfo {
  type: (typeof VOL_TYPES)[number] | 'unknown';
  /** Bytes the volume offers (virtual size). */
  capacity: bigint;
  /** Bytes of host storage it occupies. */
  allocation: bigint;
}

export class StoragePool {
  constructor(
    readonly conn: Connection,
    readonly wire: PoolRef,
  ) {}

  get name(): string {
    return this.wire.name;
  }

  get uuid(): string {
    return uuidString(this.wire.uuid);
  }

  async xml(flags = 0): Promise<string> {
    return (await this.conn.call(C.STORAGE_POOL_GET_XML_DESC, { pool: this.wire, flags })).value;
  }

  async info(): Promise<PoolInfo> {
    const r = await this.conn.call(C.STORAGE_POOL_GET_INFO, { pool: this.wire });
    return {
      state: POOL_STATES[r.state] ?? 'unknown',
      capacity: r.capacity,
      allocation: r.allocation,
      available: r.available,
    };
  }

  async build(flags = 0): Promise<void> {
    await this.conn.call(C.STORAGE_POOL_BUILD, { pool: this.wire, flags });
  }

  /** Starts (activates) a defined pool. */
  async start(flags = 0): Promise<void> {
    await this.conn.call(C.STORAGE_POOL_CREATE, { pool: this.wire, flags });
  }

  /** Stops the pool (its volumes stay on disk). */
  async destroy(): Promise<void> {
    await this.conn.call(C.STORAGE_POOL_DESTROY, { pool: this.wire });
  }

  /** Deletes the pool's underlying storage (for a dir pool, the empty directory). */
  async delete(flags = 0): Promise<void> {
    await this.conn.call(C.STORAGE_POOL_DELETE, { pool: this.wire, flags });
  }

  async undefine(): Promise<void> {
    await this.conn.call(C.STORAGE_POOL_UNDEFINE, { pool: this.wire });
  }

  async refresh(): Promise<void> {
    await this.conn.call(C.STORAGE_POOL_REFRESH, { pool: this.wire, flags: 0 });
  }

  async listVolumes(): Promise<StorageVolume[]> {
    const { vols } = await this.conn.call(C.STORAGE_POOL_LIST_ALL_VOLUMES, {
      pool: this.wire,
      needResults: 1,
      flags: 0,
    });
    return vols.map((v) => new StorageVolume(this.conn, v));
  }

  async lookupVolume(name: string): Promise<StorageVolume> {
    const { vol } = await naming(
      `volume in pool ${this.name}`,
      name,
      this.conn.call(C.STORAGE_VOL_LOOKUP_BY_NAME, { pool: this.wire, name }),
    );
    return new StorageVolume(this.conn, vol);
  }

  /** Creates a volume from XML (VolCreate flags). */
  async createVolume(xml: string, flags = 0): Promise<StorageVolume> {
    const { vol } = await this.conn.call(C.STORAGE_VOL_CREATE_XML, { pool: this.wire, xml, flags });
    return new StorageVolume(this.conn, vol);
  }
}

export class StorageVolume {
  constructor(
    readonly conn: Connection,
    readonly wire: VolRef,
  ) {}

  get name(): string {
    return this.wire.name;
  }

  get key(): string {
    return this.wire.key;
  }

  get poolName(): string {
    return this.wire.pool;
  }

  async path(): Promise<string> {
    return (await this.conn.call(C.STORAGE_VOL_GET_PATH, { vol: this.wire })).value;
  }

  async info(): Promise<VolumeInfo> {
    const r = await this.conn.call(C.STORAGE_VOL_GET_INFO, { vol: this.wire });
    return {
      type: VOL_TYPES[r.type] ?? 'unknown',
      capacity: r.capacity,
      allocation: r.allocation,
    };
  }

  async xml(): Promise<string> {
    return (await this.conn.call(C.STORAGE_VOL_GET_XML_DESC, { vol: this.wire, flags: 0 })).value;
  }

  async pool(): Promise<StoragePool> {
    const { pool } = await this.conn.call(C.STORAGE_POOL_LOOKUP_BY_VOLUME, { vol: this.wire });
    return new StoragePool(this.conn, pool);
  }

  async delete(flags = 0): Promise<void> {
    await this.conn.call(C.STORAGE_VOL_DELETE, { vol: this.wire, flags });
  }

  async resize(capacity: bigint, flags = 0): Promise<void> {
    await this.conn.call(C.STORAGE_VOL_RESIZE, { vol: this.wire, capacity, flags });
  }

  /**
   * Streams the volume's bytes from `offset` (length 0 = to the end). Iterate
   * the result; with VolTransfer.SPARSE_STREAM, holes arrive as their own items.
   */
  async download(offset = 0n, length = 0n, flags = 0): Promise<RpcStream> {
    return this.openStream(C.STORAGE_VOL_DOWNLOAD, offset, length, flags);
  }

  /** Opens an upload: write() the bytes, then finish() (or abort()). */
  async upload(offset = 0n, length = 0n, flags = 0): Promise<RpcStream> {
    return this.openStream(C.STORAGE_VOL_UPLOAD, offset, length, flags);
  }

  private async openStream(
    def: typeof C.STORAGE_VOL_DOWNLOAD,
    offset: bigint,
    length: bigint,
    flags: number,
  ): Promise<RpcStream> {
    const payload = encode(def.args, { vol: this.wire, offset, length, flags });
    const { reply, stream } = this.conn.rpc.callStream(
      def.program,
      def.version,
      def.procedure,
      payload,
      { name: def.name },
    );
    await reply;
    return stream;
  }
}
