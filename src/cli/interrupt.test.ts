import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Interrupt } from './interrupt.js';

test('a command that has not taken the signal is stopped at once', () => {
  assert.equal(new Interrupt().fire(), 'now');
});

test('a command that took it is told once; a second signal stops at once', () => {
  const i = new Interrupt();
  const signal = i.take();
  assert.equal(signal.aborted, false);
  assert.equal(i.fire(), 'graceful');
  assert.equal(signal.aborted, true);
  assert.equal(i.fire(), 'now');
});
