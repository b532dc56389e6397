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

test('a stop nobody insisted on (SIGHUP, a closed stdout) never cuts a cleanup short', () => {
  const i = new Interrupt();
  const signal = i.take();
  assert.equal(i.request(), 'graceful');
  assert.equal(signal.aborted, true);
  assert.equal(i.request(), 'ignored');
  assert.equal(i.fire(), 'now', 'a second Ctrl-C still stops at once');
  assert.equal(new Interrupt().request(), 'now', 'a command that did not take it stops at once');
});
