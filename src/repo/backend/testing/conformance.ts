/**
 * The one conformance suite every storage backend must pass (docs/repository-format.md,
 * "Storage backend"). A backend's test file calls it with a factory.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isObjectNotFound } from '../../errors.js';
import type { Backend } from '../types.js';

export interface BackendFixture {
  backend: Backend;
  cleanup(): Promise<void>;
}

async function names(b: Backend, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of b.list(prefix)) out.push(o.name);
  return out.sort();
}

export function backendConformance(label: string, make: () => Promise<BackendFixture>): void {
  const withBackend = async (fn: (b: Backend) => Promise<void>): Promise<void> => {
    const f = await make();
    try {
      await fn(f.backend);
    } finally {
      await f.backend.close();
      await f.cleanup();
    }
  };

  describe(`${label} backend conformance`, () => {
    it('get returns what put stored, and a later put replaces it whole', () =>
      withBackend(async (b) => {
        await b.put('config', Buffer.from('one'));
        assert.equal((await b.get('config')).toString(), 'one');
        await b.put('config', Buffer.from('two, longer'));
        assert.equal((await b.get('config')).toString(), 'two, longer');
      }));

    it('a missing object is REPO_OBJECT_NOT_FOUND for get and getRange, undefined for stat', () =>
      withBackend(async (b) => {
        await assert.rejects(b.get('data/00/missing'), (e) => isObjectNotFound(e));
        await assert.rejects(b.getRange('data/00/missing', 0, 1), (e) => isObjectNotFound(e));
        assert.equal(await b.stat('data/00/missing'), undefined);
      }));

    it('getRange reads any part and is short only at the end', () =>
      withBackend(async (b) => {
        const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i & 255));
        await b.put('data/ab/pack', data);
        assert.deepEqual(await b.getRange('data/ab/pack', 10, 20), data.subarray(10, 30));
        assert.deepEqual(await b.getRange('data/ab/pack', 990, 50), data.subarray(990));
        assert.equal((await b.getRange('data/ab/pack', 1000, 5)).length, 0);
        assert.deepEqual(await b.stat('data/ab/pack'), { name: 'data/ab/pack', size: 1000 });
      }));

    it('getRange after a replacing put or upload reads the new object, after delete nothing', () =>
      withBackend(async (b) => {
        await b.put('data/ab/pack', Buffer.from('first version'));
        assert.equal((await b.getRange('data/ab/pack', 0, 5)).toString(), 'first');
        await b.put('data/ab/pack', Buffer.from('second'));
        assert.equal((await b.getRange('data/ab/pack', 0, 100)).toString(), 'second');
        const up = await b.upload('data/ab/pack');
        await up.write(Buffer.from('third'));
        await up.commit();
        assert.equal((await b.getRange('data/ab/pack', 0, 100)).toString(), 'third');
        await b.delete('data/ab/pack');
        await assert.rejects(b.getRange('data/ab/pack', 0, 1), (e) => isObjectNotFound(e));
        await b.put('data/ab/pack', Buffer.from('fourth'));
        assert.equal((await b.getRange('data/ab/pack', 0, 100)).toString(), 'fourth');
      }));

    it('an upload takes several parts at once, in order, empty ones and more than IOV_MAX too', () =>
      withBackend(async (b) => {
        const parts = Array.from({ length: 2500 }, (_, i) =>
          Buffer.alloc(i % 7 === 0 ? 0 : 1 + (i % 13), i % 251),
        );
        const up = await b.upload('data/cd/many');
        await up.write(Buffer.from('head'));
        await up.write(...parts);
        await up.write(...parts.slice(0, 3), Buffer.from('tail'));
        await up.commit();
        const want = Buffer.concat([
          Buffer.from('head'),
          ...parts,
          ...parts.slice(0, 3),
          Buffer.from('tail'),
        ]);
        assert.deepEqual(await b.get('data/cd/many'), want);
        // getRangeInto, where a backend has it, reads the same bytes into the caller's buffer.
        if (b.getRangeInto) {
          const into = Buffer.alloc(100);
          assert.equal(await b.getRangeInto('data/cd/many', want.length - 60, into), 60);
          assert.deepEqual(into.subarray(0, 60), want.subarray(want.length - 60));
        }
      }));

    it('concurrent getRange calls on one object each read their own range', () =>
      withBackend(async (b) => {
        const data = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) & 255));
        await b.put('data/ab/pack', data);
        const parts = await Promise.all(
          Array.from({ length: 64 }, (_, i) => b.getRange('data/ab/pack', i * 64, 64)),
        );
        assert.deepEqual(Buffer.concat(parts), data);
      }));

    it('a stored object does not change when the caller reuses its buffer', () =>
      withBackend(async (b) => {
        const buf = Buffer.from('abc');
        await b.put('keys/k', buf);
        buf.write('xyz');
        assert.equal((await b.get('keys/k')).toString(), 'abc');
      }));

    it('an upload is invisible until commit, and abort leaves nothing', () =>
      withBackend(async (b) => {
        const up = await b.upload('backups/b1/vda.fidx');
        await up.write(Buffer.from('part1-'));
        await up.write(Buffer.from('part2'));
        assert.equal(await b.stat('backups/b1/vda.fidx'), undefined);
        assert.deepEqual(await names(b, 'backups/'), []);
        await up.commit();
        assert.equal((await b.get('backups/b1/vda.fidx')).toString(), 'part1-part2');
        const aborted = await b.upload('backups/b1/vdb.fidx');
        await aborted.write(Buffer.from('x'));
        await aborted.abort();
        await aborted.abort();
        assert.deepEqual(await names(b, 'backups/'), ['backups/b1/vda.fidx']);
      }));

    it('list finds objects by prefix, across directories and inside names', () =>
      withBackend(async (b) => {
        for (const n of ['data/00/a', 'data/01/b', 'index/r1', 'index/r2', 'locks/l', 'config']) {
          await b.put(n, Buffer.from(n));
        }
        assert.deepEqual(await names(b, 'data/'), ['data/00/a', 'data/01/b']);
        assert.deepEqual(await names(b, 'index/r'), ['index/r1', 'index/r2']);
        assert.deepEqual(await names(b, 'nothing/'), []);
        assert.equal((await names(b, '')).length, 6);
        for await (const o of b.list('locks/')) assert.equal(o.size, 'locks/l'.length);
      }));

    it('delete removes an object and is quiet for a missing one', () =>
      withBackend(async (b) => {
        await b.put('locks/x', Buffer.from('1'));
        await b.delete('locks/x');
        await b.delete('locks/x');
        assert.equal(await b.stat('locks/x'), undefined);
      }));

    it('names with dot segments, empty segments or odd characters are refused', () =>
      withBackend(async (b) => {
        for (const bad of ['../x', 'a//b', '/abs', 'a/.hidden', 'sp ace', '']) {
          await assert.rejects(b.put(bad, Buffer.from('x')), /invalid object name/);
        }
      }));

    it('concurrent puts of different objects all land', () =>
      withBackend(async (b) => {
        await Promise.all(
          Array.from({ length: 50 }, (_, i) => b.put(`data/${i % 4}0/p${i}`, Buffer.from([i]))),
        );
        assert.equal((await names(b, 'data/')).length, 50);
      }));
  });
}
