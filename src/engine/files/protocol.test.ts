import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseListing, parseStatus, ReplyScanner, requestLine } from './protocol.js';

const END = 'e'.repeat(8) + '0123456789abcdef0123456789ab';
const SEP = 's'.repeat(32);

function scanAll(stream: Buffer, cuts: number[]): { payload: Buffer; status: string | undefined } {
  const s = new ReplyScanner(END);
  const parts: Buffer[] = [];
  let at = 0;
  for (const c of [...cuts, stream.length]) {
    parts.push(s.push(stream.subarray(at, c)));
    at = c;
  }
  return { payload: Buffer.concat(parts), status: s.status };
}

test('the reply scanner finds the payload and the status wherever the stream is cut', () => {
  // A payload holding most of the end token (all but its last byte) and a newline.
  const payload = Buffer.concat([
    Buffer.from('abc\n'),
    Buffer.from(END.slice(0, -1)),
    Buffer.from('xyz'),
  ]);
  const stream = Buffer.concat([
    payload,
    Buffer.from(`${END}ERR NOT_FOUND 2f61\n`),
    Buffer.from('ignored'),
  ]);
  for (let a = 0; a <= stream.length; a++) {
    for (const b of [a, Math.min(stream.length, a + 1), Math.min(stream.length, a + 7)]) {
      const r = scanAll(stream, [a, b]);
      assert.ok(r.payload.equals(payload), `cut at ${a},${b}`);
      assert.equal(r.status, 'ERR NOT_FOUND 2f61');
    }
  }
});

test('the reply scanner holds no status until its newline has come', () => {
  const s = new ReplyScanner(END);
  assert.equal(s.push(Buffer.from(`data${END}OK`)).toString(), 'data');
  assert.equal(s.status, undefined);
  s.push(Buffer.from('\n'));
  assert.equal(s.status, 'OK');
});

test('statuses decode their hex argument; an unknown line is a protocol error', () => {
  assert.deepEqual(parseStatus('OK'), { ok: true });
  assert.deepEqual(parseStatus('ERR OUTSIDE 612f62'), { ok: false, code: 'OUTSIDE', arg: 'a/b' });
  assert.equal((parseStatus('garbage') as { code: string }).code, 'PROTOCOL');
});

test('a request line carries every path as hex, so spaces and newlines pass', () => {
  const line = requestLine(
    { op: 'get', device: 'vda1', fs: 'ext4', paths: ['a b', 'new\nline'] },
    { end: END, sep: SEP },
  );
  assert.equal(line, `BRANKAS-FILES 1 ${END} ${SEP} get vda1 ext4 612062 6e65770a6c696e65\n`);
});

test('a listing parses names with newlines and spaces, link targets, types and modes', () => {
  const payload = Buffer.from(
    `${SEP}E 81a4 0 0 6 1614834368 a b.txt\n` +
      `${SEP}E a1ff 1 2 5 1614834368 link\n${SEP}L a b.txt\n` +
      `${SEP}E 41ed 0 0 4096 0 new\nline\n`,
  );
  const entries = parseListing(payload, SEP);
  assert.deepEqual(
    entries.map((e) => [e.name, e.type, e.mode.toString(8), e.size, e.target]),
    [
      ['a b.txt', 'file', '644', 6, undefined],
      ['link', 'symlink', '777', 5, 'a b.txt'],
      ['new\nline', 'dir', '755', 4096, undefined],
    ],
  );
  assert.equal(entries[0]!.mtime, '2021-03-04T05:06:08.000Z');
  assert.deepEqual([entries[1]!.uid, entries[1]!.gid], [1, 2]);
});

test('a malformed listing is refused, not half-read', () => {
  assert.throws(() => parseListing(Buffer.from(`junk${SEP}E 81a4 0 0 1 0 a\n`), SEP), {
    code: 'FILES_HELPER_FAILED',
  });
  assert.throws(() => parseListing(Buffer.from(`${SEP}L target\n`), SEP), {
    code: 'FILES_HELPER_FAILED',
  });
});
