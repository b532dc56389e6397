import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compress } from 'zstd-napi';
import { deflateRawSync } from 'node:zlib';
import { decompressCluster } from './qcow2-compress.js';
import { ImageCorruptError } from './errors.js';

const CLUSTER = 65536;
const cluster = Buffer.alloc(CLUSTER, 'brankas ');

test('a zstd cluster inflates; the sector padding after the frame is ignored', () => {
  const frame = compress(cluster);
  const padded = Buffer.concat([frame, Buffer.alloc(512 - (frame.length % 512), 0xee)]);
  assert.ok(decompressCluster('zstd', padded, CLUSTER, 'x.qcow2', 'cluster 0').equals(cluster));
});

test('a zstd frame declaring another size is corruption, refused before inflating', () => {
  const frame = compress(Buffer.alloc(CLUSTER * 4, 1));
  assert.throws(
    () => decompressCluster('zstd', frame, CLUSTER, 'x.qcow2', 'cluster 7'),
    (e: unknown) =>
      e instanceof ImageCorruptError && /cluster 7/.test(e.message) && /x\.qcow2/.test(e.message),
  );
});

test('garbage and a short zlib stream are corruption', () => {
  for (const [type, data] of [
    ['zstd', Buffer.from('not zstd at all')],
    ['zlib', deflateRawSync(cluster.subarray(0, 100))],
  ] as const) {
    assert.throws(
      () => decompressCluster(type, data, CLUSTER, 'x.qcow2', 'cluster 1'),
      ImageCorruptError,
    );
  }
});
