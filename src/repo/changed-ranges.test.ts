import assert from 'node:assert/strict';
import { it } from 'node:test';
import { prng } from '../util/testing/index.js';
import { advance, nextTouched, normalize, touches } from './changed-ranges.js';

/** The slots the writer reads when it walks by runs (as writer.ts does). */
function walkByRuns(ranges: ReturnType<typeof normalize>, slots: number, cs: number): number[] {
  const read: number[] = [];
  let at = 0;
  for (let slot = 0; slot < slots;) {
    if (touches(ranges, slot * cs, cs, at)) read.push(slot++);
    else {
      const end = Math.min(slots, nextTouched(ranges, slot, cs, at));
      assert.ok(end > slot, 'a run covers at least the slot it starts at');
      slot = end;
    }
    at = advance(ranges, (slot - 1) * cs, at);
  }
  return read;
}

it('walking by runs reads exactly the slots some changed range touches', () => {
  const random = prng(42);
  const cs = 4096;
  for (let round = 0; round < 300; round++) {
    const slots = 1 + Math.floor(random() * 200);
    const size = slots * cs;
    const raw = Array.from({ length: Math.floor(random() * 12) }, () => {
      const offset = Math.floor(random() * size);
      // Any alignment, overlapping, empty, or reaching past the disk's end.
      return { offset, length: Math.floor(random() * (random() < 0.2 ? size : 3 * cs)) };
    });
    const ranges = normalize(raw);
    const expected: number[] = [];
    for (let s = 0; s < slots; s++) {
      if (raw.some((r) => r.length > 0 && r.offset < (s + 1) * cs && r.offset + r.length > s * cs))
        expected.push(s);
    }
    assert.deepEqual(walkByRuns(ranges, slots, cs), expected, JSON.stringify(raw));
  }
});
