import { test } from 'node:test';
import assert from 'node:assert/strict';
import { untilAborted } from './abort.js';

test('resolves with the promise, or rejects as soon as the signal fires', async () => {
  assert.equal(await untilAborted(Promise.resolve(7), new AbortController().signal), 7);
  const c = new AbortController();
  const never = new Promise<never>(() => undefined);
  const waiting = untilAborted(never, c.signal);
  c.abort(new Error('stop'));
  await assert.rejects(waiting, /stop/);
  await assert.rejects(untilAborted(Promise.resolve(1), c.signal), /stop/);
});
