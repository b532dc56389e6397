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

test('the signal the library tidies up on fires on a signal to a command that did not take it', () => {
  const i = new Interrupt();
  const lifetime = i.signal;
  assert.equal(lifetime.aborted, false);
  assert.equal(i.fire(), 'now', 'still stopped at once: reading the signal does not take it');
  assert.equal(lifetime.aborted, true, 'fired before the executable exits');
});

test('end() fires the signal when the process ends, at the latest, and only once', () => {
  const i = new Interrupt();
  let fired = 0;
  i.signal.addEventListener('abort', () => fired++);
  i.end();
  assert.equal(i.signal.aborted, true);
  i.end();
  assert.equal(fired, 1);
  const taken = new Interrupt();
  const signal = taken.take();
  assert.equal(taken.fire(), 'graceful');
  taken.end();
  assert.equal((signal.reason as Error).message, 'interrupted', 'an abort already told stays');
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
