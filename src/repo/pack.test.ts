import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { PackBuilder, parsePack } from './pack.js';

function records(n: number, seed: number): Buffer[] {
  // Odd sizes around 300 KiB, more than 4 MiB of them.
  return Array.from({ length: n }, (_, i) => {
    const r = randomBytes(300 * 1024 + ((i * 7919 + seed) % 4099));
    r[5] = i % 4; // the flags byte, which the table repeats
    return r;
  });
}

describe('pack builder', () => {
  it('lays records back to back, table and all', () => {
    for (let round = 0; round < 3; round++) {
      const recs = records(30, round);
      const b = new PackBuilder();
      const ids = recs.map(() => randomBytes(32));
      recs.forEach((r, i) => b.add(r, ids[i]!, r.length + 1));
      const pack = b.finish();
      const entries = parsePack(pack);
      assert.ok(Array.isArray(entries), String(entries));
      assert.equal(entries.length, recs.length);
      entries.forEach((e, i) => {
        assert.deepEqual(e.id, ids[i]);
        assert.equal(e.flags, i % 4);
        assert.equal(e.plainLength, recs[i]!.length + 1);
        assert.deepEqual(pack.subarray(e.offset, e.offset + e.length), recs[i]);
      });
    }
  });
});
