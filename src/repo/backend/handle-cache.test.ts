import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitUntil } from '../../util/testing/index.js';
import { HandleCache, type HandleCacheOptions } from './handle-cache.js';

/** Fake handles that record every open and close. */
function counted(options: Partial<HandleCacheOptions> = {}, fail = new Set<string>()) {
  const opened: string[] = [];
  const closed: string[] = [];
  const cache = new HandleCache(
    async (key) => {
      await Promise.resolve();
      if (fail.has(key)) throw new Error(`cannot open ${key}`);
      opened.push(key);
      let open = true;
      return {
        key,
        get open() {
          return open;
        },
        async close() {
          assert.ok(open, `${key} closed twice`);
          open = false;
          closed.push(key);
        },
      };
    },
    { max: 3, idleMs: 60_000, ...options },
  );
  return { cache, opened, closed };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('HandleCache', () => {
  it('opens a key once for many uses, one after another and all at once', async () => {
    const { cache, opened, closed } = counted();
    for (let i = 0; i < 100; i++) await cache.use('a', async (h) => assert.ok(h.open));
    await Promise.all(Array.from({ length: 50 }, () => cache.use('a', async (h) => h.key)));
    assert.deepEqual(opened, ['a']);
    assert.deepEqual(closed, []);
    await cache.close();
    assert.deepEqual(closed, ['a']);
  });

  it('keeps at most max handles and closes the least recently used', async () => {
    const { cache, opened, closed } = counted({ max: 3 });
    for (const k of ['a', 'b', 'c', 'a', 'd']) await cache.use(k, async () => {});
    assert.deepEqual(opened, ['a', 'b', 'c', 'd']);
    assert.deepEqual(closed, ['b'], 'a was used after b, so b goes first');
    assert.equal(cache.size, 3);
    await cache.use('b', async () => {});
    assert.deepEqual(closed, ['b', 'c']);
    for (let i = 0; i < 20; i++) await cache.use(`k${i}`, async () => {});
    assert.equal(cache.size, 3);
    assert.equal(opened.length - closed.length, 3);
    await cache.close();
    assert.equal(cache.size, 0);
    assert.deepEqual([...closed].sort(), [...opened].sort());
  });

  it('a handle evicted while in use closes only when that use ends', async () => {
    const { cache, closed } = counted({ max: 1 });
    const gate = deferred();
    let during: boolean | undefined;
    const reading = cache.use('a', async (h) => {
      await gate.promise;
      during = h.open;
    });
    await sleep(1);
    await cache.use('b', async () => {});
    assert.deepEqual(closed, [], 'a is still being read');
    gate.resolve();
    await reading;
    assert.equal(during, true);
    assert.deepEqual(closed, ['a']);
    await cache.close();
    assert.deepEqual(closed, ['a', 'b']);
  });

  it('a failed open is not cached: every use tries again, and nothing is left open', async () => {
    const fail = new Set(['gone']);
    const { cache, opened } = counted({}, fail);
    await assert.rejects(
      cache.use('gone', async () => {}),
      /cannot open gone/,
    );
    const all = await Promise.allSettled(
      Array.from({ length: 5 }, () => cache.use('gone', async () => {})),
    );
    assert.ok(all.every((r) => r.status === 'rejected'));
    assert.equal(cache.size, 0);
    fail.delete('gone');
    await cache.use('gone', async () => {});
    assert.deepEqual(opened, ['gone']);
    await cache.close();
  });

  it('invalidate makes the next use open afresh and closes the old handle once idle', async () => {
    const { cache, opened, closed } = counted();
    await cache.use('a', async () => {});
    cache.invalidate('a');
    cache.invalidate('never-opened');
    await sleep(1);
    assert.deepEqual(closed, ['a']);
    await cache.use('a', async () => {});
    assert.deepEqual(opened, ['a', 'a']);
    await cache.close();
    assert.deepEqual(closed, ['a', 'a']);
  });

  it('invalidate while an open is under way keeps that handle out of the cache', async () => {
    const { cache, opened, closed } = counted();
    const first = cache.use('a', async () => {});
    cache.invalidate('a');
    await first;
    assert.equal(cache.size, 0);
    await cache.use('a', async () => {});
    assert.deepEqual(opened, ['a', 'a']);
    await sleep(1);
    assert.deepEqual(closed, ['a']);
    await cache.close();
  });

  it('closes handles left unused for idleMs', async () => {
    const { cache, closed } = counted({ idleMs: 20 });
    await cache.use('a', async () => {});
    await cache.use('b', async () => {});
    // The idle timers fire on their own; how soon after 20 ms depends on the machine.
    await waitUntil(() => closed.length === 2, 'both idle handles closed');
    assert.deepEqual(closed.sort(), ['a', 'b']);
    assert.equal(cache.size, 0);
    await cache.close();
  });

  it('after close, and with max 0, each use opens and closes its own handle', async () => {
    for (const options of [{ max: 0 }, {}]) {
      const { cache, opened, closed } = counted(options);
      if (options.max === undefined) await cache.close();
      await cache.use('a', async () => {});
      await cache.use('a', async () => {});
      assert.deepEqual(opened, ['a', 'a']);
      assert.deepEqual(closed, ['a', 'a']);
      assert.equal(cache.size, 0);
      await cache.close();
    }
  });
});
