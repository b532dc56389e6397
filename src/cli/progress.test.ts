import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSeconds, ProgressMeter, progressLine } from './progress.js';

const MiB = 1024 * 1024;

test('the line gives percentage, rate and time left', () => {
  const line = progressLine(
    { disk: 'vda', doneBytes: 256 * MiB, totalBytes: 1024 * MiB, extra: 'new 3 MiB' },
    0,
    2000,
  );
  assert.equal(line, 'vda: 25% of 1.0 GiB, 128 MiB/s, ETA 6s, new 3 MiB');
});

test('no rate yet means no ETA; durations read naturally', () => {
  assert.match(progressLine({ disk: 'vdb', doneBytes: 0, totalBytes: MiB }, 5, 5), /ETA \?/);
  assert.equal(formatSeconds(0.2), '1s');
  assert.equal(formatSeconds(125), '2m05s');
  assert.equal(formatSeconds(3 * 3600 + 7 * 60), '3h07m');
  assert.equal(formatSeconds(Infinity), '?');
});

test('the meter redraws at most five times a second, always at completion, and ends the line', () => {
  let t = 0;
  const out: string[] = [];
  const m = new ProgressMeter({ write: (s: string) => out.push(s) }, () => t);
  m.update({ disk: 'vda', doneBytes: 1, totalBytes: 10 });
  t = 100;
  m.update({ disk: 'vda', doneBytes: 2, totalBytes: 10 });
  t = 150;
  m.update({ disk: 'vda', doneBytes: 10, totalBytes: 10 });
  m.end();
  assert.equal(out.length, 3);
  assert.match(out[1]!, /100% of/);
  assert.equal(out[2], '\n');
});
