import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  array,
  bool,
  decode,
  double,
  encode,
  fixedOpaque,
  hyper,
  int,
  opaque,
  optional,
  string,
  struct,
  uhyper,
  uint,
  union,
  XdrError,
  XdrReader,
  XdrWriter,
  type Codec,
} from './xdr.js';
import {
  decodeRemoteError,
  domainRef,
  remoteError,
  snapshotRef,
  typedParams,
  typedParamsToRecord,
  type TypedParams,
} from './types.js';
import { CONNECT_GET_VERSION, CONNECT_OPEN, DOMAIN_LOOKUP_BY_NAME } from './calls.js';
import { LibvirtError } from './errors.js';
import { prng } from '../util/testing/index.js';

/** Bytes from hex, spaces allowed for readability. */
function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

function ascii(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

function isMalformed(err: unknown): boolean {
  return err instanceof XdrError && err.code === 'XDR_MALFORMED';
}

function assertMalformed(fn: () => unknown, message?: string): void {
  assert.throws(fn, isMalformed, message);
}

function randomUint32(rand: () => number): number {
  return Math.floor(rand() * 0x100000000) >>> 0;
}

function randomUint64(rand: () => number): bigint {
  return (BigInt(randomUint32(rand)) << 32n) | BigInt(randomUint32(rand));
}

function randomBytes(rand: () => number, n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

const ALPHABET = ['a', 'z', '0', ' ', '/', ':', 'é', 'ß', '€', '日', '😀', '\u0000', '\n'];

function randomString(rand: () => number, maxLength: number): string {
  const n = Math.floor(rand() * (maxLength + 1));
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(rand() * ALPHABET.length)];
  return s;
}

/** A few edge values always tried, then random ones. */
function edgeThenRandom<T>(edges: T[], gen: () => T, n: number): T[] {
  const out = [...edges];
  while (out.length < n) out.push(gen());
  return out;
}

describe('xdr golden bytes', () => {
  test('an int encodes as four big-endian two’s-complement bytes', () => {
    const cases: [number, string][] = [
      [0, '00000000'],
      [1, '00000001'],
      [-1, 'ffffffff'],
      [42, '0000002a'],
      [0x7fffffff, '7fffffff'],
      [-0x80000000, '80000000'],
    ];
    for (const [v, bytes] of cases) {
      assert.deepEqual(encode(int, v), hex(bytes), `int ${v}`);
      assert.equal(decode(int, hex(bytes)), v);
    }
  });

  test('an unsigned int encodes as four big-endian bytes up to 2^32-1', () => {
    const cases: [number, string][] = [
      [0, '00000000'],
      [1, '00000001'],
      [0x80000000, '80000000'],
      [0xffffffff, 'ffffffff'],
    ];
    for (const [v, bytes] of cases) {
      assert.deepEqual(encode(uint, v), hex(bytes), `uint ${v}`);
      assert.equal(decode(uint, hex(bytes)), v);
    }
  });

  test('ints and unsigned ints outside their range or not integral refuse to encode', () => {
    for (const v of [0x80000000, -0x80000001, 1.5, Number.NaN, Infinity]) {
      assertMalformed(() => encode(int, v), `int ${v}`);
    }
    for (const v of [-1, 0x100000000, 0.5, Number.NaN]) {
      assertMalformed(() => encode(uint, v), `uint ${v}`);
    }
  });

  test('a hyper encodes as eight big-endian two’s-complement bytes, as a bigint', () => {
    const cases: [bigint, string][] = [
      [0n, '0000000000000000'],
      [1n, '0000000000000001'],
      [-1n, 'ffffffffffffffff'],
      [-2n, 'fffffffffffffffe'],
      [0x0102030405060708n, '0102030405060708'],
      [2n ** 63n - 1n, '7fffffffffffffff'],
      [-(2n ** 63n), '8000000000000000'],
    ];
    for (const [v, bytes] of cases) {
      assert.deepEqual(encode(hyper, v), hex(bytes), `hyper ${v}`);
      assert.equal(decode(hyper, hex(bytes)), v);
    }
  });

  test('an unsigned hyper encodes as eight big-endian bytes up to 2^64-1', () => {
    const cases: [bigint, string][] = [
      [0n, '0000000000000000'],
      [1n, '0000000000000001'],
      [2n ** 32n, '0000000100000000'],
      [2n ** 63n, '8000000000000000'],
      [2n ** 64n - 1n, 'ffffffffffffffff'],
    ];
    for (const [v, bytes] of cases) {
      assert.deepEqual(encode(uhyper, v), hex(bytes), `uhyper ${v}`);
      assert.equal(decode(uhyper, hex(bytes)), v);
    }
  });

  test('a negative unsigned hyper refuses to encode', () => {
    assertMalformed(() => encode(uhyper, -1n));
  });

  test('an unsigned hyper above 2^64-1 refuses to encode instead of wrapping', () => {
    assertMalformed(() => encode(uhyper, 2n ** 64n));
    assertMalformed(() => encode(uhyper, 2n ** 64n + 5n));
  });

  test('a hyper outside the signed 64-bit range refuses to encode instead of wrapping', () => {
    assertMalformed(() => encode(hyper, 2n ** 63n));
    assertMalformed(() => encode(hyper, -(2n ** 63n) - 1n));
  });

  test('a double encodes as an IEEE 754 big-endian double', () => {
    assert.deepEqual(encode(double, 1.5), hex('3ff8000000000000'));
    assert.deepEqual(encode(double, -2), hex('c000000000000000'));
    assert.equal(decode(double, hex('3ff8000000000000')), 1.5);
  });

  test('a bool encodes as the int 0 or 1', () => {
    assert.deepEqual(encode(bool, false), hex('00000000'));
    assert.deepEqual(encode(bool, true), hex('00000001'));
    assert.equal(decode(bool, hex('00000000')), false);
    assert.equal(decode(bool, hex('00000001')), true);
  });

  test('a string is its length then its UTF-8 bytes zero-padded to a multiple of four', () => {
    const s = string(100);
    const cases: [string, string][] = [
      ['', '00000000'],
      ['a', '00000001 61000000'],
      ['ab', '00000002 61620000'],
      ['abc', '00000003 61626300'],
      ['abcd', '00000004 61626364'],
      ['abcde', '00000005 61626364 65000000'],
      ['é', '00000002 c3a90000'],
      ['😀', '00000004 f09f9880'],
    ];
    for (const [v, bytes] of cases) {
      assert.deepEqual(encode(s, v), hex(bytes), `string ${JSON.stringify(v)}`);
      assert.equal(decode(s, hex(bytes)), v);
    }
  });

  test('a string longer than its bound in UTF-8 bytes refuses to encode', () => {
    assertMalformed(() => encode(string(3), 'abcd'));
    // Two characters but four bytes.
    assertMalformed(() => encode(string(3), 'éé'));
    assert.deepEqual(encode(string(4), 'éé'), hex('00000004 c3a9c3a9'));
  });

  test('a fixed opaque is its bytes zero-padded, with no length', () => {
    assert.deepEqual(encode(fixedOpaque(0), Buffer.alloc(0)), Buffer.alloc(0));
    assert.deepEqual(encode(fixedOpaque(3), hex('010203')), hex('01020300'));
    assert.deepEqual(encode(fixedOpaque(4), hex('01020304')), hex('01020304'));
    assert.deepEqual(encode(fixedOpaque(5), hex('0102030405')), hex('01020304 05000000'));
    assert.deepEqual(decode(fixedOpaque(3), hex('01020300')), hex('010203'));
  });

  test('a fixed opaque of the wrong size refuses to encode', () => {
    assertMalformed(() => encode(fixedOpaque(4), hex('010203')));
    assertMalformed(() => encode(fixedOpaque(2), hex('010203')));
  });

  test('a variable opaque is its length then its padded bytes', () => {
    const o = opaque(16);
    assert.deepEqual(encode(o, Buffer.alloc(0)), hex('00000000'));
    assert.deepEqual(encode(o, hex('ff')), hex('00000001 ff000000'));
    assert.deepEqual(encode(o, hex('deadbeef')), hex('00000004 deadbeef'));
    assert.deepEqual(decode(o, hex('00000002 abcd0000')), hex('abcd'));
    assertMalformed(() => encode(opaque(2), hex('010203')));
  });

  test('an optional is 0 for null, or 1 followed by the value', () => {
    const o = optional(int);
    assert.deepEqual(encode(o, null), hex('00000000'));
    assert.deepEqual(encode(o, 5), hex('00000001 00000005'));
    assert.equal(decode(o, hex('00000000')), null);
    assert.equal(decode(o, hex('00000001 00000005')), 5);
    const os = optional(string(10));
    assert.deepEqual(encode(os, ''), hex('00000001 00000000'));
    assert.equal(decode(os, hex('00000001 00000000')), '');
  });

  test('an array is its element count then each element', () => {
    const a = array(uint, 10);
    assert.deepEqual(encode(a, []), hex('00000000'));
    assert.deepEqual(encode(a, [1, 2, 3]), hex('00000003 00000001 00000002 00000003'));
    assert.deepEqual(decode(a, hex('00000002 0000000a 0000000b')), [10, 11]);
    const strings = array(string(10), 10);
    assert.deepEqual(
      encode(strings, ['a', 'bcde']),
      hex('00000002 00000001 61000000 00000004 62636465'),
    );
  });

  test('an array longer than its bound refuses to encode', () => {
    assertMalformed(() => encode(array(int, 2), [1, 2, 3]));
  });

  test('a struct encodes its fields in declaration order, nesting included', () => {
    const uuid = hex('000102030405060708090a0b0c0d0e0f');
    const dom = { name: 'vm1', uuid, id: -1 };
    const domBytes = hex('00000003 766d3100 000102030405060708090a0b0c0d0e0f ffffffff');
    assert.deepEqual(encode(domainRef, dom), domBytes);
    assert.deepEqual(decode(domainRef, domBytes), dom);

    const snap = { name: 's1', dom };
    const snapBytes = Buffer.concat([hex('00000002 73310000'), domBytes]);
    assert.deepEqual(encode(snapshotRef, snap), snapBytes);
    assert.deepEqual(decode(snapshotRef, snapBytes), snap);

    const nested = struct({ a: int, inner: struct({ b: optional(uhyper), c: bool }), d: uint });
    const v = { a: -2, inner: { b: 7n, c: true }, d: 9 };
    const bytes = hex('fffffffe 00000001 0000000000000007 00000001 00000009');
    assert.deepEqual(encode(nested, v), bytes);
    assert.deepEqual(decode(nested, bytes), v);
  });

  test('a union is its int discriminant then the value of that arm', () => {
    const u = union<number | string>(
      { 1: int as Codec<number | string>, 2: string(8) as Codec<number | string> },
      'u',
    );
    assert.deepEqual(encode(u, { type: 1, value: 5 }), hex('00000001 00000005'));
    assert.deepEqual(encode(u, { type: 2, value: 'hi' }), hex('00000002 00000002 68690000'));
    assert.deepEqual(decode(u, hex('00000002 00000002 68690000')), { type: 2, value: 'hi' });
    assertMalformed(() => encode(u, { type: 3, value: 1 }));
    assertMalformed(() => decode(u, hex('00000003 00000000')));
  });

  test('XdrWriter grows past its initial size without losing bytes', () => {
    const w = new XdrWriter(4);
    for (let i = 0; i < 100; i++) w.uint(i);
    assert.equal(w.length, 400);
    const r = new XdrReader(Buffer.from(w.bytes()));
    for (let i = 0; i < 100; i++) assert.equal(r.uint(), i);
    r.end();
  });
});

describe('xdr golden bytes of real libvirt messages', () => {
  test('CONNECT_OPEN arguments for "qemu:///system" with flags 0', () => {
    const expected = Buffer.concat([
      hex('00000001 0000000e'),
      ascii('qemu:///system'),
      hex('0000'),
      hex('00000000'),
    ]);
    assert.equal(expected.length, 28);
    assert.deepEqual(encode(CONNECT_OPEN.args, { name: 'qemu:///system', flags: 0 }), expected);
    assert.deepEqual(decode(CONNECT_OPEN.args, expected), { name: 'qemu:///system', flags: 0 });
  });

  test('CONNECT_OPEN arguments with no name (the default URI) are a null pointer and flags', () => {
    assert.deepEqual(encode(CONNECT_OPEN.args, { name: null, flags: 1 }), hex('00000000 00000001'));
  });

  test('DOMAIN_LOOKUP_BY_NAME arguments are the padded name', () => {
    assert.deepEqual(
      encode(DOMAIN_LOOKUP_BY_NAME.args, { name: 'web-01' }),
      Buffer.concat([hex('00000006'), ascii('web-01'), hex('0000')]),
    );
  });

  test('a CONNECT_GET_VERSION reply decodes its unsigned hyper', () => {
    // libvirt 9.0.0 is version 9000000 = 0x895440.
    assert.deepEqual(decode(CONNECT_GET_VERSION.ret, hex('0000000000895440')), {
      version: 9000000n,
    });
  });

  test('typed parameters encode as field, type tag and value', () => {
    const params: TypedParams = [
      { field: 'bytes', value: { type: 'ullong', value: 2n ** 64n - 1n } },
      { field: 'ok', value: { type: 'boolean', value: true } },
      { field: 's', value: { type: 'string', value: 'x' } },
      { field: 'n', value: { type: 'int', value: -3 } },
    ];
    const bytes = Buffer.concat([
      hex('00000004'),
      hex('00000005'),
      ascii('bytes'),
      hex('000000 00000004 ffffffffffffffff'),
      hex('00000002'),
      ascii('ok'),
      hex('0000 00000006 00000001'),
      hex('00000001 73000000 00000007 00000001 78000000'),
      hex('00000001 6e000000 00000001 fffffffd'),
    ]);
    assert.deepEqual(encode(typedParams, params), bytes);
    const back = decode(typedParams, bytes);
    assert.deepEqual(back, params);
    assert.deepEqual(typedParamsToRecord(back), { bytes: 2n ** 64n - 1n, ok: true, s: 'x', n: -3 });
  });

  test('a typed parameter with an unknown type tag is malformed', () => {
    const bytes = Buffer.concat([hex('00000001 00000001 61000000 00000009 00000000')]);
    assertMalformed(() => decode(typedParams, bytes));
  });

  test('a remote_error payload decodes to code, domain and message', () => {
    const message = "Domain not found: no domain with matching name 'vm1'";
    const msgBytes = ascii(message);
    const pad = (4 - (msgBytes.length % 4)) % 4;
    const payload = Buffer.concat([
      hex('0000002a'), // code 42 VIR_ERR_NO_DOMAIN
      hex('0000000a'), // domain 10 VIR_FROM_QEMU
      hex('00000001'),
      hex(msgBytes.length.toString(16).padStart(8, '0')),
      msgBytes,
      Buffer.alloc(pad),
      hex('00000002'), // level VIR_ERR_ERROR
      hex('00000000'), // dom: null
      hex('00000001 00000003 766d3100'), // str1 "vm1"
      hex('00000000'), // str2: null
      hex('00000000'), // str3: null
      hex('ffffffff'), // int1 -1
      hex('00000000'), // int2 0
      hex('00000000'), // net: null
    ]);
    const info = decodeRemoteError(payload);
    assert.equal(info.code, 42);
    assert.equal(info.domain, 10);
    assert.equal(info.message, message);
    assert.equal(info.level, 2);
    assert.equal(info.str1, 'vm1');
    assert.equal(info.str2, null);
    assert.equal(info.int1, -1);
    // Round trip through the codec gives the same bytes.
    assert.deepEqual(encode(remoteError, decode(remoteError, payload)), payload);

    const err = new LibvirtError(info, 'DOMAIN_LOOKUP_BY_NAME');
    assert.equal(err.code, 'LIBVIRT_NO_DOMAIN');
    assert.equal(err.message, message);
    assert.equal(err.libvirtCode, 42);
  });

  test('a remote_error payload with trailing bytes is malformed', () => {
    const payload = encode(remoteError, {
      code: 1,
      domain: 0,
      message: null,
      level: 2,
      dom: null,
      str1: null,
      str2: null,
      str3: null,
      int1: 0,
      int2: 0,
      net: null,
    });
    assert.equal(decodeRemoteError(payload).message, null);
    assertMalformed(() => decodeRemoteError(Buffer.concat([payload, hex('00000000')])));
    assertMalformed(() => decodeRemoteError(payload.subarray(0, payload.length - 4)));
  });
});

describe('xdr decode errors', () => {
  test('truncated input is malformed for every primitive', () => {
    assertMalformed(() => decode(int, hex('000000')));
    assertMalformed(() => decode(uint, hex('')));
    assertMalformed(() => decode(hyper, hex('00000000000000')));
    assertMalformed(() => decode(uhyper, hex('00000000')));
    assertMalformed(() => decode(double, hex('3ff80000')));
    assertMalformed(() => decode(bool, hex('0000')));
  });

  test('a string or opaque whose bytes or padding are cut off is malformed', () => {
    assertMalformed(() => decode(string(10), hex('00000005 61626364')));
    // Data present, padding missing.
    assertMalformed(() => decode(string(10), hex('00000001 61')));
    assertMalformed(() => decode(opaque(10), hex('00000003 010203')));
    assertMalformed(() => decode(fixedOpaque(3), hex('010203')));
    // Length word itself cut off.
    assertMalformed(() => decode(string(10), hex('000000')));
  });

  test('non-zero padding is malformed', () => {
    assertMalformed(() => decode(string(10), hex('00000001 61000100')));
    assertMalformed(() => decode(string(10), hex('00000003 616263ff')));
    assertMalformed(() => decode(opaque(10), hex('00000002 01020001')));
    assertMalformed(() => decode(fixedOpaque(1), hex('01800000')));
  });

  test('a bool that is not 0 or 1 is malformed', () => {
    assertMalformed(() => decode(bool, hex('00000002')));
    assertMalformed(() => decode(bool, hex('ffffffff')));
    assertMalformed(() => decode(bool, hex('00000100')));
  });

  test('an optional whose discriminant is not 0 or 1 is malformed', () => {
    assertMalformed(() => decode(optional(int), hex('00000002 00000005')));
  });

  test('a length over the declared bound is malformed', () => {
    assertMalformed(() => decode(string(3), hex('00000004 61626364')));
    assertMalformed(() => decode(opaque(2), hex('00000003 01020300')));
    assertMalformed(() => decode(array(uint, 2), hex('00000003 00000001 00000002 00000003')));
    // A hostile length: far over the bound, nothing behind it.
    assertMalformed(() => decode(string(4194304), hex('ffffffff')));
  });

  test('trailing bytes after a whole value are malformed', () => {
    assertMalformed(() => decode(int, hex('00000001 00000000')));
    assertMalformed(() => decode(string(10), hex('00000001 61000000 00')));
    assertMalformed(() => decode(struct({ a: int }), hex('00000001 00000002')));
  });

  test('an array length larger than the payload is malformed before decoding elements', () => {
    assertMalformed(() => decode(array(uint, 1_000_000), hex('000f4240')));
    assertMalformed(() => decode(array(uint, 1_000_000), hex('00000003 00000001 00000002')));
    assertMalformed(() => decode(array(domainRef, 65536), hex('00010000 00000000')));
  });

  test('XdrReader.end accepts exactly consumed input and refuses leftovers', () => {
    const r = new XdrReader(hex('00000001 00000002'));
    assert.equal(r.int(), 1);
    assert.equal(r.remaining, 4);
    assertMalformed(() => r.end());
    assert.equal(r.int(), 2);
    r.end();
    assert.equal(r.offset, 8);
  });
});

describe('xdr round-trip properties', () => {
  const N = 500;

  function roundTrip<T>(codec: Codec<T>, values: T[], what: string): void {
    for (const v of values) {
      const bytes = encode(codec, v);
      assert.equal(bytes.length % 4, 0, `${what}: ${String(v)} encodes to a multiple of 4`);
      assert.deepEqual(decode(codec, bytes), v, `${what} round trip`);
    }
  }

  test('random ints and unsigned ints survive encode then decode', () => {
    const rand = prng(1);
    roundTrip(
      int,
      edgeThenRandom([0, -1, 1, 0x7fffffff, -0x80000000], () => randomUint32(rand) | 0, N),
      'int',
    );
    roundTrip(
      uint,
      edgeThenRandom([0, 1, 0xffffffff], () => randomUint32(rand), N),
      'uint',
    );
  });

  test('random hypers and unsigned hypers survive encode then decode', () => {
    const rand = prng(2);
    roundTrip(
      hyper,
      edgeThenRandom(
        [0n, -1n, 2n ** 63n - 1n, -(2n ** 63n)],
        () => BigInt.asIntN(64, randomUint64(rand)),
        N,
      ),
      'hyper',
    );
    roundTrip(
      uhyper,
      edgeThenRandom([0n, 2n ** 64n - 1n, 2n ** 63n], () => randomUint64(rand), N),
      'uhyper',
    );
  });

  test('random doubles survive encode then decode bit for bit', () => {
    const rand = prng(3);
    for (let i = 0; i < N; i++) {
      const bits = randomBytes(rand, 8);
      const v = bits.readDoubleBE(0);
      const back = decode(double, encode(double, v));
      if (Number.isNaN(v)) assert.ok(Number.isNaN(back));
      else assert.equal(Object.is(back, v), true, `double ${v}`);
    }
  });

  test('random strings and opaques of every padding length survive encode then decode', () => {
    const rand = prng(4);
    const s = string(1000);
    const o = opaque(64);
    for (let i = 0; i < N; i++) {
      const str = randomString(rand, 40);
      const bytes = encode(s, str);
      const utf8 = Buffer.byteLength(str, 'utf8');
      assert.equal(bytes.length, 4 + ((utf8 + 3) & ~3));
      assert.equal(decode(s, bytes), str);

      const data = randomBytes(rand, Math.floor(rand() * 65));
      const ob = encode(o, data);
      assert.equal(ob.length % 4, 0);
      assert.deepEqual(decode(o, ob), data);
    }
  });

  const record = struct({
    id: int,
    size: uhyper,
    offset: hyper,
    name: string(64),
    tag: optional(string(16)),
    active: bool,
    uuid: fixedOpaque(16),
    blob: opaque(32),
    disks: array(struct({ path: string(64), bytes: uhyper, readonly: bool }), 8),
    parent: optional(struct({ name: string(64), id: int })),
  });
  type Rec = ReturnType<typeof record.decode>;

  function randomRecord(rand: () => number): Rec {
    const disks = Array.from({ length: Math.floor(rand() * 5) }, () => ({
      path: randomString(rand, 20),
      bytes: randomUint64(rand),
      readonly: rand() < 0.5,
    }));
    return {
      id: randomUint32(rand) | 0,
      size: randomUint64(rand),
      offset: BigInt.asIntN(64, randomUint64(rand)),
      name: randomString(rand, 16),
      tag: rand() < 0.5 ? null : randomString(rand, 4),
      active: rand() < 0.5,
      uuid: randomBytes(rand, 16),
      blob: randomBytes(rand, Math.floor(rand() * 33)),
      disks,
      parent: rand() < 0.5 ? null : { name: randomString(rand, 10), id: randomUint32(rand) | 0 },
    };
  }

  test('random nested structs survive encode then decode', () => {
    const rand = prng(5);
    for (let i = 0; i < N; i++) {
      const v = randomRecord(rand);
      const bytes = encode(record, v);
      assert.equal(bytes.length % 4, 0);
      assert.deepEqual(decode(record, bytes), v);
    }
  });

  test('every strict prefix of a valid encoding is malformed, never a wrong value', () => {
    const rand = prng(6);
    for (let i = 0; i < 60; i++) {
      const bytes = encode(record, randomRecord(rand));
      for (let cut = 0; cut < bytes.length; cut++) {
        assertMalformed(() => decode(record, bytes.subarray(0, cut)), `prefix of ${cut} bytes`);
      }
    }
  });

  test('random typed parameter lists survive encode then decode', () => {
    const rand = prng(7);
    for (let i = 0; i < 200; i++) {
      const params: TypedParams = Array.from({ length: Math.floor(rand() * 6) }, () => {
        const field = randomString(rand, 12);
        switch (Math.floor(rand() * 7)) {
          case 0:
            return { field, value: { type: 'int', value: randomUint32(rand) | 0 } };
          case 1:
            return { field, value: { type: 'uint', value: randomUint32(rand) } };
          case 2:
            return {
              field,
              value: { type: 'llong', value: BigInt.asIntN(64, randomUint64(rand)) },
            };
          case 3:
            return { field, value: { type: 'ullong', value: randomUint64(rand) } };
          case 4:
            return { field, value: { type: 'double', value: rand() * 1e6 } };
          case 5:
            return { field, value: { type: 'boolean', value: rand() < 0.5 } };
          default:
            return { field, value: { type: 'string', value: randomString(rand, 30) } };
        }
      });
      assert.deepEqual(decode(typedParams, encode(typedParams, params)), params);
    }
  });
});
