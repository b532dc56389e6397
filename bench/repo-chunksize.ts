/**
 * Measures what the default chunk size of the repository costs and saves, to choose it by
 * measurement (issue 5): for each power-of-two size, the stored size of a first ingest (fixed
 * aligned chunks, zstd level 1 kept only when smaller, deduplicated within the data), the bytes
 * a later backup adds after scattered 256 KiB writes (changed chunks plus the per-backup fixed
 * index), the metadata a repository of 10 TiB would carry, and the single-core time spent per
 * GiB hashing and compressing.
 *
 *   node dist/bench/repo-chunksize.js [FILE]    (default: a 1 GiB tar of /usr made on demand)
 *   BENCH_WRITES=200 BENCH_WRITE_SIZE=262144 BENCH_SEED=1
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { compress } from 'zstd-napi';
import { prng as rng } from '../src/util/testing/index.js';
import { numbersTable } from './stats.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const SIZES = [64, 128, 256, 512, 1024, 2048, 4096].map((k) => k * KiB);
const WRITES = Number(process.env['BENCH_WRITES'] ?? 200);
const WRITE_SIZE = Number(process.env['BENCH_WRITE_SIZE'] ?? 256 * KiB);
const INDEX_ENTRY = 48; // bytes per chunk in the repository index (docs/repository-format.md)
const RECORD_OVERHEAD = 48 + 28; // chunk record header + GCM nonce and tag
const SLOT = 32; // bytes per chunk slot in a per-disk fixed index
const BLOOM_BYTES_PER_CHUNK = 10 / 8;

function dataFile(): string {
  const arg = process.argv[2];
  if (arg !== undefined) {
    if (arg.startsWith('-') || !existsSync(arg)) {
      process.stderr.write('usage: node dist/bench/repo-chunksize.js [FILE]: FILE must exist\n');
      process.exit(2);
    }
    return arg;
  }
  const path = '/tmp/brankas-bench/usr.tar';
  if (!existsSync(path)) {
    execFileSync('bash', [
      '-c',
      `mkdir -p /tmp/brankas-bench && tar cf - /usr 2>/dev/null | head -c ${GiB} > ${path}`,
    ]);
  }
  return path;
}

function storedSize(chunk: Buffer): number {
  const z = compress(chunk, { compressionLevel: 1 });
  return Math.min(z.length, chunk.length) + RECORD_OVERHEAD;
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i += 8) if (b.readBigUInt64LE(i) !== 0n) return false;
  return true;
}

const path = dataFile();
const fd = openSync(path, 'r');
const size = fstatSync(fd).size - (fstatSync(fd).size % (4 * MiB));
const data = Buffer.allocUnsafe(size);
for (let off = 0; off < size;) off += readSync(fd, data, off, size - off, off);
closeSync(fd);

// The scattered writes: 4 KiB-aligned offsets (as a guest filesystem writes), content taken
// from elsewhere in the same data so it compresses like the rest and matches no chunk.
const random = rng(Number(process.env['BENCH_SEED'] ?? 1));
const writes: { at: number; from: number }[] = [];
for (let i = 0; i < WRITES; i++) {
  const at = Math.floor((random() * (size - WRITE_SIZE)) / 4096) * 4096;
  const from = Math.floor((random() * (size - WRITE_SIZE)) / 4096) * 4096 + 512;
  writes.push({ at, from });
}
const changed = Buffer.from(data);
for (const w of writes) data.copy(changed, w.at, w.from, w.from + WRITE_SIZE);

const rows: string[][] = [];
for (const cs of SIZES) {
  const seen = new Set<string>();
  let stored = 0;
  let chunks = 0;
  let zero = 0;
  let hashNs = 0n;
  let zstdNs = 0n;
  for (let off = 0; off < size; off += cs) {
    const c = data.subarray(off, off + cs);
    if (isZero(c)) {
      zero++;
      continue;
    }
    let t = process.hrtime.bigint();
    const id = createHash('sha256').update(c).digest('hex');
    hashNs += process.hrtime.bigint() - t;
    if (seen.has(id)) continue;
    seen.add(id);
    t = process.hrtime.bigint();
    stored += storedSize(c);
    zstdNs += process.hrtime.bigint() - t;
    chunks++;
  }
  // Second backup: only chunks whose content changed are new.
  const touched = new Set<number>();
  for (const w of writes) {
    for (let s = Math.floor(w.at / cs); s * cs < w.at + WRITE_SIZE; s++) touched.add(s);
  }
  let added = 0;
  let addedChunks = 0;
  for (const s of touched) {
    const c = changed.subarray(s * cs, s * cs + cs);
    const id = createHash('sha256').update(c).digest('hex');
    if (seen.has(id) || isZero(c)) continue;
    seen.add(id);
    added += storedSize(c) + INDEX_ENTRY;
    addedChunks++;
  }
  const fidx = (size / cs) * SLOT;
  const tib10Chunks = (10 * 1024 * GiB) / cs;
  rows.push([
    `${cs / KiB} KiB`,
    String(chunks),
    (stored / MiB).toFixed(1),
    String(addedChunks),
    (added / MiB).toFixed(1),
    (fidx / KiB).toFixed(0),
    ((added + fidx) / MiB).toFixed(1),
    ((tib10Chunks * INDEX_ENTRY) / GiB).toFixed(2),
    ((tib10Chunks * BLOOM_BYTES_PER_CHUNK) / MiB).toFixed(0),
    ((Number(hashNs) / 1e9) * (GiB / size)).toFixed(2),
    ((Number(zstdNs) / 1e9) * (GiB / size)).toFixed(2),
  ]);
  void zero;
}

console.log(
  `data: ${path}, ${(size / MiB).toFixed(0)} MiB; ${WRITES} writes of ${WRITE_SIZE / KiB} KiB at 4 KiB-aligned random offsets`,
);
console.log(
  numbersTable(
    [
      'chunk',
      'chunks',
      'stored MiB',
      'changed chunks',
      'added MiB (chunks+index entries)',
      'fixed index KiB/backup',
      'added MiB total',
      '10 TiB: index GiB',
      '10 TiB: filter MiB',
      'sha256 s/GiB',
      'zstd s/GiB',
    ],
    rows,
  ),
);
