import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSize } from './size.js';
import { volumeXml } from './volume.js';

test('sizes read as virsh reads them: K/M/G/T binary, KB/MB/GB decimal, bare numbers bytes', () => {
  assert.equal(parseSize('10G'), 10n * 1024n ** 3n);
  assert.equal(parseSize('10GiB'), 10n * 1024n ** 3n);
  assert.equal(parseSize('10gb'), 10n * 1000n ** 3n);
  assert.equal(parseSize('512M'), 512n * 1024n ** 2n);
  assert.equal(parseSize('1T'), 1024n ** 4n);
  assert.equal(parseSize('4096'), 4096n);
  assert.equal(parseSize('4096B'), 4096n);
  assert.equal(parseSize('1.5K'), 1536n);
  assert.equal(parseSize(' 2 m '), 2n * 1024n ** 2n);
  assert.equal(parseSize('0', { allowZero: true }), 0n);
});

test('anything else is VOLUME_BAD_SIZE, naming what was typed', () => {
  for (const bad of ['', 'G', '10Q', '-1G', '1,5G', '10 G B', '0', '0.0001K']) {
    assert.throws(
      () => parseSize(bad),
      (err: { code?: string; details?: { size?: string } }) =>
        err.code === 'VOLUME_BAD_SIZE' && err.details?.size === bad,
      bad,
    );
  }
});

test('volume XML escapes the name and leaves allocation to libvirt unless asked', () => {
  const xml = volumeXml({ pool: 'p', name: "a'<b>", capacity: 1024n, format: 'raw' });
  assert.match(xml, /<name>a&apos;&lt;b&gt;<\/name>/);
  assert.doesNotMatch(xml, /allocation/);
  assert.match(
    volumeXml({ pool: 'p', name: 'x', capacity: 1n, format: 'raw', allocation: 0n }),
    /<allocation unit='bytes'>0<\/allocation>/,
  );
});
