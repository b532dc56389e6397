// Benchmark: reading every allocated byte of a qcow2 image over NBD with brankas's client
// (src/nbd/, from a private qemu-nbd) versus `qemu-img convert -O raw` of the same image,
// side by side in one run.
//
//   npx tsc -p tsconfig.json && node dist/bench/nbd-read.js [options]
//
// It creates a qcow2 of --size under --dir and writes --data bytes into it *through the NBD
// client* (a read-write qemu-nbd export, 32 MiB writes spread evenly over the disk), then times,
// best of --runs after one warm-up (the image sits in the page cache, as a freshly written image
// does):
//   - brankas: NbdDiskReader.extents() over base:allocation, then every data extent read in
//     --read-size pieces with --depth reads in flight (bytes discarded), for each qemu-nbd
//     --cache mode, read size and depth asked for, into fresh buffers (read) and into buffers
//     reused from a pool (readInto)
//   - qemu-img: `qemu-img convert -O raw` of the image to a sparse file in --out
// Prints a markdown table on stdout (progress on stderr). Everything it created is removed at the
// end, also on error or SIGINT/SIGTERM.
//
// This is a measurement, not a test: nothing here asserts a speed.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs, promisify } from 'node:util';
import { NbdClient, NbdDiskReader, QemuNbd, type QemuNbdOptions } from '../src/nbd/index.js';
import { formatSize, parseSize } from './stats.js';

const exec = promisify(execFile);

const USAGE = `usage: node dist/bench/nbd-read.js [options]

  --size SIZE        virtual size of the image                (default 10G, $BENCH_NBD_SIZE)
  --data SIZE        bytes written into it through NBD        (default 1G, $BENCH_NBD_DATA)
  --read-size LIST   brankas read sizes, comma separated      (default 4M,16M, $BENCH_NBD_READ_SIZE)
  --depth LIST       reads in flight, comma separated         (default 8,32, $BENCH_NBD_DEPTH)
  --cache LIST       qemu-nbd cache modes, comma separated    (default writeback,none, $BENCH_NBD_CACHE)
  --runs N           timed runs per variant, best counts      (default 3, $BENCH_NBD_RUNS)
  --dir DIR          where the image goes                     (default /var/tmp, $BENCH_NBD_DIR)
  --out DIR          where qemu-img writes its copy           (default /dev/shm, $BENCH_NBD_OUT)
`;

const MiB = 2 ** 20;
const WRITE_PIECE = 32 * MiB;
const WRITE_DEPTH = 8;

interface Config {
  size: number;
  data: number;
  readSizes: number[];
  depths: number[];
  caches: NonNullable<QemuNbdOptions['cache']>[];
  runs: number;
  dir: string;
  out: string;
}

function readConfig(): Config | null {
  const { values } = parseArgs({
    options: {
      size: { type: 'string' },
      data: { type: 'string' },
      'read-size': { type: 'string' },
      depth: { type: 'string' },
      cache: { type: 'string' },
      runs: { type: 'string' },
      dir: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return null;
  }
  const env = process.env;
  const list = (v: string | undefined, fallback: string): string[] =>
    (v ?? fallback).split(',').map((s) => s.trim());
  const runs = Number(values.runs ?? env.BENCH_NBD_RUNS ?? 3);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
  return {
    size: parseSize(values.size ?? env.BENCH_NBD_SIZE ?? '10G'),
    data: parseSize(values.data ?? env.BENCH_NBD_DATA ?? '1G'),
    readSizes: list(values['read-size'] ?? env.BENCH_NBD_READ_SIZE, '4M,16M').map(parseSize),
    depths: list(values.depth ?? env.BENCH_NBD_DEPTH, '8,32').map(Number),
    caches: list(values.cache ?? env.BENCH_NBD_CACHE, 'writeback,none') as Config['caches'],
    runs,
    dir: values.dir ?? env.BENCH_NBD_DIR ?? '/var/tmp',
    out: values.out ?? env.BENCH_NBD_OUT ?? '/dev/shm',
  };
}

/** A markdown table; the numeric columns (all but the first two) right-aligned. */
function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const cell = (t: string, i: number): string =>
    i < 2 ? t.padEnd(widths[i]!) : t.padStart(widths[i]!);
  const line = (cells: string[]): string => `| ${cells.map(cell).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (i < 2 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`;
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

const log = (msg: string): void => void process.stderr.write(`${msg}\n`);

/** Writes `data` bytes of incompressible content in 32 MiB pieces spread over the disk. */
async function fill(
  image: string,
  size: number,
  data: number,
  signal: AbortSignal,
): Promise<number> {
  const server = await QemuNbd.start({ image, format: 'qcow2', readOnly: false, signal });
  try {
    const client = await NbdClient.connect(server.target);
    const pieces = Math.max(1, Math.floor(data / WRITE_PIECE));
    const stride = Math.floor(size / pieces / MiB) * MiB;
    const buf = randomBytes(WRITE_PIECE);
    const t0 = performance.now();
    const inflight = new Set<Promise<void>>();
    for (let i = 0; i < pieces; i++) {
      const piece = Buffer.from(buf); // each write its own bytes (the client does not copy)
      piece.writeUInt32BE(i, 0);
      const p: Promise<void> = client.write(i * stride, piece).then(() => void inflight.delete(p));
      inflight.add(p);
      if (inflight.size >= WRITE_DEPTH) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    await client.flush();
    const seconds = (performance.now() - t0) / 1000;
    await client.close();
    return seconds;
  } finally {
    await server.stop();
  }
}

/**
 * Reads every data extent; returns the bytes read. With `reuse`, reads go into
 * `depth` buffers allocated once (readInto) instead of a fresh buffer each.
 */
async function readAll(
  reader: NbdDiskReader,
  readSize: number,
  depth: number,
  reuse: boolean,
): Promise<number> {
  let bytes = 0;
  const inflight = new Set<Promise<void>>();
  const free = reuse ? Array.from({ length: depth }, () => Buffer.allocUnsafe(readSize)) : [];
  for await (const e of reader.extents()) {
    if (e.kind !== 'data') continue;
    for (let off = e.offset; off < e.offset + e.length; off += readSize) {
      const n = Math.min(readSize, e.offset + e.length - off);
      let p: Promise<void>;
      if (reuse) {
        const buf = free.pop()!;
        p = reader.readInto(buf, 0, off, n).then(() => {
          bytes += n;
          free.push(buf);
          inflight.delete(p);
        });
      } else {
        p = reader.read(off, n).then((b) => {
          bytes += b.length;
          inflight.delete(p);
        });
      }
      inflight.add(p);
      if (inflight.size >= depth) await Promise.race(inflight);
    }
  }
  await Promise.all(inflight);
  return bytes;
}

async function best(
  runs: number,
  fn: () => Promise<number>,
): Promise<{ s: number; bytes: number }> {
  await fn(); // warm-up
  let s = Infinity;
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    bytes = await fn();
    s = Math.min(s, (performance.now() - t0) / 1000);
  }
  return { s, bytes };
}

async function main(): Promise<void> {
  const config = readConfig();
  if (!config) return;
  const dir = await mkdtemp(join(config.dir, 'brankas-bench-nbd-'));
  const copy = join(config.out, `brankas-bench-nbd-${process.pid}.raw`);
  const cleanup = async (): Promise<void> => {
    await rm(copy, { force: true });
    await rm(dir, { recursive: true, force: true });
  };
  // qemu-nbd stops through this signal, at once, whatever the benchmark is doing.
  const stopping = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    stopping.abort();
    void cleanup().finally(() => process.kill(process.pid, signal));
  };
  process.once('exit', () => stopping.abort());
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const image = join(dir, 'disk.qcow2');
    await exec('qemu-img', ['create', '-q', '-f', 'qcow2', image, String(config.size)]);
    log(`writing ${formatSize(config.data)} into a ${formatSize(config.size)} qcow2 through NBD`);
    const writeSeconds = await fill(image, config.size, config.data, stopping.signal);
    const rows: string[][] = [];
    const row = (tool: string, variant: string, bytes: number, s: number): void => {
      rows.push([tool, variant, formatSize(bytes), s.toFixed(2), (bytes / MiB / s).toFixed(0)]);
    };
    row(
      'brankas NbdClient.write',
      'qemu-nbd rw, 32M writes, 8 in flight',
      config.data,
      writeSeconds,
    );
    for (const cache of config.caches) {
      const server = await QemuNbd.start({
        image,
        format: 'qcow2',
        cache,
        signal: stopping.signal,
      });
      try {
        const reader = await NbdDiskReader.open(server.target, { format: 'qcow2' });
        try {
          for (const readSize of config.readSizes) {
            for (const depth of config.depths) {
              for (const reuse of [false, true]) {
                const buffers = reuse ? 'reused buffers' : 'fresh buffers';
                log(
                  `brankas: cache=${cache} read=${formatSize(readSize)} depth=${depth} ${buffers}`,
                );
                const r = await best(config.runs, () => readAll(reader, readSize, depth, reuse));
                const variant = `cache=${cache}, ${formatSize(readSize)} reads, ${depth} in flight, ${buffers}`;
                row('brankas NbdDiskReader', variant, r.bytes, r.s);
              }
            }
          }
        } finally {
          await reader.close();
        }
      } finally {
        await server.stop();
      }
    }
    log('qemu-img convert -O raw');
    const q = await best(config.runs, async () => {
      await rm(copy, { force: true });
      await exec('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', image, copy]);
      return config.data;
    });
    row('qemu-img convert -O raw', `to ${config.out}`, q.bytes, q.s);
    process.stdout.write(
      `\nImage: ${formatSize(config.size)} virtual qcow2, ${formatSize(config.data)} written; ` +
        `best of ${config.runs} after a warm-up\n\n` +
        table(['tool', 'variant', 'data', 'seconds', 'MiB/s'], rows) +
        '\n',
    );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
