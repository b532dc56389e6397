// Integration tests against the real qemu-nbd, qemu-img and qemu-io.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import { join } from 'node:path';
import type { Extent } from '../image/types.js';
import { NbdClient } from './client.js';
import {
  CONTEXT_ALLOCATION_DEPTH,
  CONTEXT_BASE_ALLOCATION,
  dirtyBitmapContext,
} from './constants.js';
import { openImageOverNbd } from './open-image.js';
import { QemuNbd } from './qemu-nbd.js';
import { NbdDiskReader, type Range } from './reader.js';
import { run, testDir } from './testing/index.js';

const MiB = 1024 * 1024;
const KiB = 1024;

function hasCode(code: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof Error, String(err));
    assert.equal((err as { code?: unknown }).code, code, err.message);
    return true;
  };
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

function merge(extents: Extent[]): Extent[] {
  const out: Extent[] = [];
  for (const e of extents) {
    const last = out.at(-1);
    if (last && last.kind === e.kind && last.offset + last.length === e.offset) {
      last.length += e.length;
    } else out.push({ ...e });
  }
  return out;
}

function clip(extents: Extent[], start: number, end: number): Extent[] {
  return extents
    .map((e) => {
      const from = Math.max(e.offset, start);
      const to = Math.min(e.offset + e.length, end);
      return { offset: from, length: to - from, kind: e.kind };
    })
    .filter((e) => e.length > 0);
}

interface MapEntry {
  start: number;
  length: number;
  data: boolean;
  zero: boolean;
  present?: boolean;
  depth: number;
}

/** `qemu-img map` as extents: data, zero where some layer allocates it, hole elsewhere. */
async function qemuImgMap(image: string): Promise<Extent[]> {
  const map = JSON.parse(await run('qemu-img', ['map', '--output=json', image])) as MapEntry[];
  return merge(
    map.map((m) => ({
      offset: m.start,
      length: m.length,
      kind: m.data ? 'data' : m.present ? 'zero' : 'hole',
    })),
  );
}

/** A 64 MiB qcow2 written by qemu-io, and the bytes it must read as. */
const WRITES: [string, number, number, number][] = [
  ['P', 0xab, 1 * MiB, 3 * MiB],
  ['P', 0xcd, 10 * MiB + 512, 1000],
  ['z', 0, 20 * MiB, 2 * MiB],
  ['P', 0x11, 30 * MiB, 5 * MiB],
  ['z', 0, 32 * MiB, 1 * MiB],
  ['P', 0x22, 63 * MiB, 1 * MiB],
];
const SIZE = 64 * MiB;

async function knownImage(dir: string): Promise<{ image: string; model: Buffer }> {
  const image = join(dir, 'known.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', image, String(SIZE)]);
  const model = Buffer.alloc(SIZE);
  const cmds: string[] = [];
  for (const [kind, pattern, off, len] of WRITES) {
    cmds.push('-c', kind === 'z' ? `write -z ${off} ${len}` : `write -P ${pattern} ${off} ${len}`);
    model.fill(pattern, off, off + len);
  }
  await run('qemu-io', ['-f', 'qcow2', ...cmds, image]);
  return { image, model };
}

describe('NbdDiskReader over qemu-nbd', () => {
  let dir: string;
  let image: string;
  let model: Buffer;
  let reader: NbdDiskReader;
  let socketPath: string;
  let target: { socketPath: string; exportName: string };
  const cleanups: (() => Promise<void>)[] = [];

  before(async () => {
    dir = await testDir((fn) => cleanups.push(fn));
    ({ image, model } = await knownImage(dir));
    const server = await QemuNbd.start({ image, format: 'qcow2', allocationDepth: true });
    cleanups.push(() => server.stop());
    socketPath = server.socketPath;
    target = server.target;
    reader = await NbdDiskReader.open(
      { ...server.target, metaContexts: [CONTEXT_ALLOCATION_DEPTH] },
      { format: 'qcow2' },
    );
    cleanups.push(() => reader.close());
  });

  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  test('reads the bytes qemu-io wrote, zeroes and holes included', async () => {
    assert.equal(reader.virtualSize, SIZE);
    for (let off = 0; off < SIZE; off += 8 * MiB) {
      const got = await reader.read(off, 8 * MiB);
      assert.ok(got.equals(model.subarray(off, off + 8 * MiB)), `8 MiB at ${off}`);
    }
    for (const [off, len] of [
      [10 * MiB + 500, 1100],
      [MiB - 3, 7],
      [SIZE - 1, 1],
      [0, 40 * MiB],
    ] as const) {
      assert.ok((await reader.read(off, len)).equals(model.subarray(off, off + len)), `${off}`);
    }
    // readInto has DiskReader's shape: into the middle of a caller's buffer, the rest untouched.
    const buf = Buffer.alloc(3000, 0xee);
    await reader.readInto(buf, 1000, 10 * MiB + 500, 1100);
    assert.ok(buf.subarray(1000, 2100).equals(model.subarray(10 * MiB + 500, 10 * MiB + 1600)));
    assert.ok(
      buf.subarray(0, 1000).every((b) => b === 0xee) && buf.subarray(2100).every((b) => b === 0xee),
    );
    await assert.rejects(reader.readInto(buf, 2000, 0, 1100), RangeError);
  });

  test('extents match qemu-img map', async () => {
    const expected = await qemuImgMap(image);
    assert.deepEqual(await collect(reader.extents()), expected);
    assert.ok(expected.some((e) => e.kind === 'zero') && expected.some((e) => e.kind === 'hole'));
  });

  test('extents of a range are clipped to it, and windows do not show in the result', async () => {
    const expected = await qemuImgMap(image);
    const start = MiB + 100;
    const end = 31 * MiB + 7;
    assert.deepEqual(await collect(reader.extents({ start, end })), clip(expected, start, end));
    const small = new NbdDiskReader(reader.client, { ownsClient: false, statusWindow: 3 * MiB });
    assert.deepEqual(await collect(small.extents()), expected);
    // The windows are asked ahead, several at once, not one round trip after another.
    const walk = small.statusExtents(CONTEXT_BASE_ALLOCATION)[Symbol.asyncIterator]();
    const first = walk.next();
    assert.ok(reader.client.outstanding >= 8, `outstanding ${reader.client.outstanding}`);
    await first;
    await walk.return(undefined);
  });

  test('without qemu:allocation-depth, zero clusters are holes', async (t) => {
    const server = await QemuNbd.start({ image, format: 'qcow2' });
    t.after(() => server.stop());
    const plain = await NbdDiskReader.open(server.target);
    const got = await collect(plain.extents());
    await plain.close();
    const expected = merge(
      (await qemuImgMap(image)).map((e) => ({ ...e, kind: e.kind === 'zero' ? 'hole' : e.kind })),
    );
    assert.deepEqual(got, expected);
  });

  test('keeps 64 and more reads in flight on one connection', async () => {
    const client = reader.client;
    const offsets = Array.from({ length: 128 }, (_, i) => ((i * 7919) % 255) * 256 * KiB);
    const reads = offsets.map((off) => client.read(off, 256 * KiB));
    assert.ok(client.outstanding >= 64, `outstanding ${client.outstanding}`);
    const bufs = await Promise.all(reads);
    bufs.forEach((b, i) => {
      const off = offsets[i]!;
      assert.ok(b.equals(model.subarray(off, off + 256 * KiB)), `read at ${off}`);
    });
  });

  test('reads are spread over the data connections, each read to the least busy one', async () => {
    const more = [await NbdClient.connect(target), await NbdClient.connect(target)];
    const spread = new NbdDiskReader(reader.client, { ownsClient: false, dataClients: more });
    const offsets = Array.from({ length: 30 }, (_, i) => ((i * 7919) % 255) * 256 * KiB);
    const bufs = offsets.map(() => Buffer.alloc(256 * KiB));
    const reads = offsets.map((off, i) => spread.readInto(bufs[i]!, 0, off, 256 * KiB));
    // Equal reads, so ten on each of the three connections.
    assert.deepEqual(
      [reader.client, ...more].map((c) => c.outstanding),
      [10, 10, 10],
    );
    await Promise.all(reads);
    bufs.forEach((b, i) => {
      const off = offsets[i]!;
      assert.ok(b.equals(model.subarray(off, off + 256 * KiB)), `read at ${off}`);
    });
    assert.ok((await spread.read(3 * MiB, 5 * MiB)).equals(model.subarray(3 * MiB, 8 * MiB)));
    // Closing the reader closes its data connections, not the client it does not own.
    await spread.close();
    for (const c of more) await assert.rejects(c.read(0, 512));
    assert.ok((await reader.read(0, 512)).equals(model.subarray(0, 512)));
  });

  test('lists the metadata contexts of the export', async () => {
    const contexts = await NbdClient.listMetaContexts({ socketPath });
    assert.ok(contexts.includes(CONTEXT_BASE_ALLOCATION), contexts.join());
    assert.ok(contexts.includes(CONTEXT_ALLOCATION_DEPTH), contexts.join());
  });

  test('an unknown export name is NBD_REP_ERR_UNKNOWN', async () => {
    await assert.rejects(
      NbdClient.connect({ socketPath: socketPath, exportName: 'nope' }),
      hasCode('NBD_REP_ERR_UNKNOWN'),
    );
  });

  test('reads over TCP as over the unix socket', async (t) => {
    const proxy = net.createServer((c) => {
      const u = net.connect(socketPath);
      c.pipe(u).pipe(c);
      c.on('error', () => u.destroy());
      u.on('error', () => c.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => proxy.close(() => r())));
    const { port } = proxy.address() as net.AddressInfo;
    const client = await NbdClient.connect({
      host: '127.0.0.1',
      port,
      metaContexts: [CONTEXT_BASE_ALLOCATION],
    });
    try {
      assert.ok((await client.read(30 * MiB, 4 * MiB)).equals(model.subarray(30 * MiB, 34 * MiB)));
      const status = await client.blockStatus(0, SIZE);
      assert.equal(status[0]!.offset, 0);
    } finally {
      await client.close();
    }
  });
});

describe('writing through qemu-nbd', () => {
  test('write, write-zeroes, trim and flush land in the image as qemu-img compare sees it', async (t) => {
    const dir = await testDir((fn) => t.after(fn));
    const image = join(dir, 'rw.qcow2');
    const size = 16 * MiB;
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', image, String(size)]);
    const model = Buffer.alloc(size);
    const server = await QemuNbd.start({ image, format: 'qcow2', readOnly: false });
    try {
      const client = await NbdClient.connect(server.target);
      assert.equal(client.readOnly, false);
      const a = randomBytes(MiB + 12345);
      const b = randomBytes(100 * KiB);
      await Promise.all([client.write(0, a), client.write(3 * MiB + 4096, b)]);
      a.copy(model, 0);
      b.copy(model, 3 * MiB + 4096);
      await client.writeZeroes(512 * KiB, 256 * KiB);
      model.fill(0, 512 * KiB, 768 * KiB);
      const big = randomBytes(6 * MiB);
      await client.write(8 * MiB, big, { fua: true });
      big.copy(model, 8 * MiB);
      await client.trim(8 * MiB, 2 * MiB);
      model.fill(0, 8 * MiB, 10 * MiB);
      await client.flush();
      assert.ok((await client.read(0, size)).equals(model), 'reads back what was written');
      await client.close();
    } finally {
      await server.stop();
    }
    const ref = join(dir, 'ref.raw');
    await writeFile(ref, model);
    await run('qemu-img', ['compare', '-q', '-f', 'raw', '-F', 'qcow2', ref, image]);
    const trimmed = (await qemuImgMap(image)).filter(
      (e) => e.kind === 'data' && e.offset < 10 * MiB && e.offset + e.length > 8 * MiB,
    );
    assert.deepEqual(trimmed, [], 'trimmed clusters are no longer data');
  });
});

describe('qemu metadata contexts', () => {
  test('qemu:allocation-depth tells which layer of a backing chain holds each range', async (t) => {
    const dir = await testDir((fn) => t.after(fn));
    const base = join(dir, 'base.qcow2');
    const top = join(dir, 'top.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', base, '8M']);
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xaa 0 1M', base]);
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', top]);
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xbb 2M 1M', top]);
    const reader = await openImageOverNbd(top, { format: 'qcow2' });
    try {
      const depth = await collect(reader.statusExtents(CONTEXT_ALLOCATION_DEPTH));
      assert.deepEqual(
        depth.map((d) => [d.offset / MiB, d.length / MiB, d.flags]),
        [
          [0, 1, 2],
          [1, 1, 0],
          [2, 1, 1],
          [3, 5, 0],
        ],
      );
      assert.deepEqual(await collect(reader.extents()), await qemuImgMap(top));
      assert.ok((await reader.read(0, MiB)).equals(Buffer.alloc(MiB, 0xaa)));
    } finally {
      await reader.close();
    }
  });

  test('dirtyExtents yields exactly the clusters written while the bitmap was enabled', async (t) => {
    const dir = await testDir((fn) => t.after(fn));
    const image = join(dir, 'dirty.qcow2');
    const cluster = 64 * KiB;
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', image, '32M']);
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 0 4M', image]); // before: not dirty
    await run('qemu-img', ['bitmap', '--add', '--enable', image, 'bm0']);
    const writes: [number, number][] = [
      [1 * MiB, 4 * KiB],
      [5 * MiB + 100 * KiB, 200 * KiB],
      [5 * MiB + 300 * KiB, 10 * KiB], // overlaps the previous one's last cluster
      [20 * MiB - 1, 2],
      [32 * MiB - cluster, cluster],
    ];
    await run('qemu-io', [
      '-f',
      'qcow2',
      ...writes.flatMap(([off, len]) => ['-c', `write -P 2 ${off} ${len}`]),
      image,
    ]);
    const expected: Range[] = [];
    for (const [off, len] of [...writes].sort((x, y) => x[0] - y[0])) {
      const start = Math.floor(off / cluster) * cluster;
      const end = Math.ceil((off + len) / cluster) * cluster;
      const last = expected.at(-1);
      if (last && last.offset + last.length >= start) {
        last.length = Math.max(last.length, end - last.offset);
      } else expected.push({ offset: start, length: end - start });
    }
    const reader = await openImageOverNbd(image, { format: 'qcow2', bitmaps: ['bm0'] });
    try {
      assert.deepEqual(await collect(reader.dirtyExtents(dirtyBitmapContext('bm0'))), expected);
      const part = await collect(
        reader.dirtyExtents(dirtyBitmapContext('bm0'), {
          start: 5 * MiB + cluster * 2,
          end: 20 * MiB,
        }),
      );
      assert.deepEqual(part, [
        { offset: 5 * MiB + 2 * cluster, length: 3 * cluster },
        { offset: 20 * MiB - cluster, length: cluster },
      ]);
    } finally {
      await reader.close();
    }
  });
});
