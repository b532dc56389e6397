/**
 * DomainSnapshot: a handle on one snapshot of a domain (virDomainSnapshot).
 */
import * as C from './calls.js';
import type { Domain } from './domain.js';
import type { SnapshotRef } from './types.js';

export class DomainSnapshot {
  constructor(
    readonly domain: Domain,
    readonly wire: SnapshotRef,
  ) {}

  get name(): string {
    return this.wire.name;
  }

  async xml(flags = 0): Promise<string> {
    return (await this.domain.conn.call(C.DOMAIN_SNAPSHOT_GET_XML_DESC, { snap: this.wire, flags }))
      .value;
  }

  /** The parent snapshot, or null for a root. */
  async parent(): Promise<DomainSnapshot | null> {
    try {
      const { snap } = await this.domain.conn.call(C.DOMAIN_SNAPSHOT_GET_PARENT, {
        snap: this.wire,
        flags: 0,
      });
      return new DomainSnapshot(this.domain, snap);
    } catch (err) {
      // libvirt reports "no parent" as a missing snapshot.
      if ((err as { code?: string }).code === 'LIBVIRT_NO_DOMAIN_SNAPSHOT') return null;
      throw err;
    }
  }

  async children(flags = 0): Promise<DomainSnapshot[]> {
    const { snapshots } = await this.domain.conn.call(C.DOMAIN_SNAPSHOT_LIST_ALL_CHILDREN, {
      snap: this.wire,
      needResults: 1,
      flags,
    });
    return snapshots.map((s) => new DomainSnapshot(this.domain, s));
  }

  async isCurrent(): Promise<boolean> {
    return (
      (await this.domain.conn.call(C.DOMAIN_SNAPSHOT_IS_CURRENT, { snap: this.wire, flags: 0 }))
        .value !== 0
    );
  }

  async hasMetadata(): Promise<boolean> {
    return (
      (await this.domain.conn.call(C.DOMAIN_SNAPSHOT_HAS_METADATA, { snap: this.wire, flags: 0 }))
        .value !== 0
    );
  }

  /** Reverts the domain to this snapshot (SnapshotRevert flags). */
  async revert(flags = 0, timeoutMs?: number): Promise<void> {
    await this.domain.conn.call(
      C.DOMAIN_REVERT_TO_SNAPSHOT,
      { snap: this.wire, flags },
      timeoutMs === undefined ? {} : { timeoutMs },
    );
  }

  /** Deletes this snapshot (SnapshotDelete flags). */
  async delete(flags = 0): Promise<void> {
    await this.domain.conn.call(C.DOMAIN_SNAPSHOT_DELETE, { snap: this.wire, flags });
  }
}
