/**
 * DomainCheckpoint: a handle on one checkpoint (virDomainCheckpoint), the
 * point from which an incremental backup counts changed blocks.
 */
import * as C from './calls.js';
import type { Domain } from './domain.js';
import type { CheckpointRef } from './types.js';

export class DomainCheckpoint {
  constructor(
    readonly domain: Domain,
    readonly wire: CheckpointRef,
  ) {}

  get name(): string {
    return this.wire.name;
  }

  async xml(flags = 0): Promise<string> {
    return (
      await this.domain.conn.call(C.DOMAIN_CHECKPOINT_GET_XML_DESC, {
        checkpoint: this.wire,
        flags,
      })
    ).value;
  }

  async delete(flags = 0): Promise<void> {
    await this.domain.conn.call(C.DOMAIN_CHECKPOINT_DELETE, { checkpoint: this.wire, flags });
  }
}
