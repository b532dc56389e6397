import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { geometry, header, planTail, putEntry, refcountBlocks } from './qcow2-writer-layout.js';

describe('qcow2 writer layout', () => {
  it('sizes the refcount structures to count every cluster, themselves included, and no more', () => {
    for (const clusterSize of [512, 4096, 65536]) {
      const g = geometry(2 ** 40, clusterSize);
      const perBlock = clusterSize / 2;
      for (const used of [1, 2, perBlock - 3, perBlock, perBlock * 8 + 1, 123457, 4_000_000]) {
        const tail = planTail(used, g);
        assert.equal(tail.l1Offset, used * clusterSize);
        assert.equal(
          tail.totalClusters,
          used + tail.l1Clusters + tail.refBlocks + tail.refTableClusters,
        );
        assert.ok(tail.refBlocks * perBlock >= tail.totalClusters);
        assert.ok((tail.refBlocks - 1) * perBlock < tail.totalClusters);
        assert.ok(tail.refTableClusters * (clusterSize / 8) >= tail.refBlocks);
        assert.equal(tail.refTableOffset, tail.refBlocksOffset + tail.refBlocks * clusterSize);
      }
    }
  });

  it('counts each cluster once and sets OFLAG_COPIED on table entries', () => {
    const g = geometry(10 * 2 ** 30, 65536);
    const tail = planTail(40, g);
    const blocks = refcountBlocks(tail, 65536);
    assert.equal(blocks.readUInt16BE(0), 1);
    assert.equal(blocks.readUInt16BE((tail.totalClusters - 1) * 2), 1);
    assert.equal(blocks.readUInt16BE(tail.totalClusters * 2), 0);
    const table = Buffer.alloc(16);
    putEntry(table, 1, 2 ** 40 + 65536);
    assert.equal(table.readBigUInt64BE(8), (1n << 63n) | (2n ** 40n + 65536n));
  });

  it('writes a v2 header without v3 fields and a v3 header of 104 bytes', () => {
    const g = geometry(2 ** 30, 65536);
    const tail = planTail(3, g);
    const v2 = header(2 ** 30, '0.10', g, tail);
    assert.equal(v2.readUInt32BE(4), 2);
    assert.equal(v2.readUInt32BE(20), 16);
    assert.equal(v2.readBigUInt64BE(24), 2n ** 30n);
    assert.equal(v2.readUInt32BE(100), 0);
    const v3 = header(2 ** 30, '1.1', g, tail);
    assert.equal(v3.readUInt32BE(4), 3);
    assert.equal(v3.readUInt32BE(96), 4);
    assert.equal(v3.readUInt32BE(100), 104);
    assert.equal(v3.readBigUInt64BE(48), BigInt(tail.refTableOffset));
  });
});
