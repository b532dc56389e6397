import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DiskReader } from '../image/types.js';
import { slotKinds, type ExtentSource, type SourceExtent } from './source.js';

function src(size: number, extents: SourceExtent[]): ExtentSource {
  return {
    virtualSize: size,
    async *extents() {
      yield* extents;
    },
    read: async () => Buffer.alloc(0),
  };
}

async function kinds(s: ExtentSource, cs: number): Promise<string> {
  let out = '';
  for await (const k of slotKinds(s, cs)) out += k === 'data' ? 'D' : '.';
  return out;
}

describe('slot kinds from extents', () => {
  it('aligned extents map slot by slot', async () => {
    const s = src(40, [
      { offset: 0, length: 10, kind: 'data' },
      { offset: 10, length: 20, kind: 'hole' },
      { offset: 30, length: 10, kind: 'zero' },
    ]);
    assert.equal(await kinds(s, 10), 'D...');
  });

  it('a slot touched by one data byte is data; a short last slot counts', async () => {
    const s = src(35, [
      { offset: 0, length: 19, kind: 'hole' },
      { offset: 19, length: 2, kind: 'data' },
      { offset: 21, length: 14, kind: 'zero' },
    ]);
    assert.equal(await kinds(s, 10), '.DD.');
  });

  it('gaps and a missing tail count as data', async () => {
    const s = src(50, [
      { offset: 0, length: 10, kind: 'hole' },
      { offset: 25, length: 5, kind: 'hole' },
    ]);
    assert.equal(await kinds(s, 10), '.DDDD');
  });

  it('agrees with a byte map for random extents (property)', async () => {
    for (let t = 0; t < 300; t++) {
      const size = 1 + Math.floor(Math.random() * 200);
      const cs = 1 << Math.floor(Math.random() * 5);
      const ext: SourceExtent[] = [];
      const map: boolean[] = [];
      for (let o = 0; o < size;) {
        const len = Math.min(size - o, 1 + Math.floor(Math.random() * 20));
        const kind = (['data', 'zero', 'hole'] as const)[Math.floor(Math.random() * 3)]!;
        ext.push({ offset: o, length: len, kind });
        for (let i = o; i < o + len; i++) map[i] = kind === 'data';
        o += len;
      }
      let want = '';
      for (let s = 0; s * cs < size; s++)
        want += map.slice(s * cs, (s + 1) * cs).some(Boolean) ? 'D' : '.';
      assert.equal(await kinds(src(size, ext), cs), want);
    }
  });
});

// The data plane's DiskReader is an ExtentSource: the writer takes it as it is.
export const diskReaderIsAnExtentSource = (d: DiskReader): ExtentSource => d;
