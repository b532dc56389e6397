// Benchmark: reading every allocated byte of a qcow2 image with brankas's native reader
// (src/image/) versus `qemu-img convert -O raw` of the same image, side by side in one run.
//
//   npx tsc -p tsconfig.json && node dist/bench/image-read.js [options]
//
// For each virtual size it creates a qcow2 (cluster size --cluster) under --dir, writes --data
// bytes into it with qemu-io in 64 MiB writes of non-zero patterns spread evenly over the disk,
// then times, best of --runs after one warm-up (the image sits in the page cache, as a freshly
// written or often-read image does):
//   - map:      brankas: walking the extent map only
//   - brankas:  map + read every data extent in 8 MiB reads, 4 in flight (bytes discarded)
//   - qemu-img: `qemu-img convert -O raw` of the image to a sparse file in /dev/shm
// Time must follow the data written, not the virtual size. Prints a markdown table on stdout
// (progress on stderr). Every file it created is removed at the end, also on error or SIGINT.
//
// This is a measurement, not a test: nothing here asserts a speed.

import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs, promisify } from 'node:util';
import { openImage } from '../src/image/index.js';
import { formatSize, parseSize } from './stats.js';

const exec = promisify(execFile);

const USAGE = `usage: node dist/bench/image-read.js [options]

  --sizes LIST     virtual sizes, comma separated   (default 10G,1T, $BENCH_IMAGE_SIZES)
  --data SIZE      bytes written into each image     (default 1G, $BENCH_IMAGE_DATA)
  --cluster SIZE   qcow2 cluster size                (default 64K, $BENCH_IMAGE_CLUSTER)
  --runs N         timed runs per tool, best counts  (default 3, $BENCH_IMAGE_RUNS)
  --dir DIR        where the images go               (default /var/tmp, $BENCH_IMAGE_DIR)
  --out DIR        where qemu-img writes its copy    (default /dev/shm, $BENCH_IMAGE_OUT)
`;

const READ_PIECE = 8 * 2 ** 20;
const IN_FLIGHT = 4;
const WRITE_PIECE = 64 * 2 ** 20;

type Mode = 'map' | 'read' | 'readInto';

/**
 * Maps the image and reads every data byte; returns the bytes read. `read` allocates a buffer
 * per call (DiskReader.read); `readInto` reuses IN_FLIGHT buffers, as a backup engine that
 * hashes and compresses each chunk before the next would.
 */
async function readWithBrankas(file: string, mode: Mode): Promise<number> {
  const reader = await openImage(file, { format: 'qcow2' });
  const buffers = Array.from({ length: IN_FLIGHT }, () => Buffer.allocUnsafe(READ_PIECE));
  let total = 0;
  let next = 0;
  try {
    const pending: Promise<unknown>[] = [];
    for await (const e of reader.extents()) {
      if (e.kind !== 'data' || mode === 'map') continue;
      for (let at = e.offset; at < e.offset + e.length; at += READ_PIECE) {
        const n = Math.min(READ_PIECE, e.offset + e.length - at);
        const buf = buffers[next++ % IN_FLIGHT] as Buffer;
        pending.push(mode === 'read' ? reader.read(at, n) : reader.readInto(buf, 0, at, n));
        total += n;
        if (pending.length >= IN_FLIGHT) await pending.shift();
      }
    }
    await Promise.all(pending);
  } finally {
    await reader.close();
  }
  return total;
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return (performance.now() - start) / 1000;
}

async function best(runs: number, fn: () => Promise<unknown>): Promise<number> {
  await fn(); // warm-up
  let min = Infinity;
  for (let i = 0; i < runs; i++) min = Math.min(min, await time(fn));
  return min;
}

async function makeImage(file: string, virtual: number, data: number, cluster: number) {
  await exec('qemu-img', [
    'create',
    '-q',
    '-f',
    'qcow2',
    '-o',
    `cluster_size=${cluster}`,
    file,
    String(virtual),
  ]);
  const pieces = Math.ceil(data / WRITE_PIECE);
  const stride = Math.floor(virtual / pieces / WRITE_PIECE) * WRITE_PIECE;
  if (stride < WRITE_PIECE)
    throw new Error(`cannot fit ${formatSize(data)} into ${formatSize(virtual)}`);
  const commands: string[] = [];
  for (let i = 0; i < pieces; i++) {
    const length = Math.min(WRITE_PIECE, data - i * WRITE_PIECE);
    commands.push('-c', `write -P ${(i % 254) + 1} ${i * stride} ${length}`);
  }
  await exec('qemu-io', ['-f', 'qcow2', ...commands, file], { maxBuffer: 64 << 20 });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: process.env.BENCH_IMAGE_SIZES ?? '10G,1T' },
      data: { type: 'string', default: process.env.BENCH_IMAGE_DATA ?? '1G' },
      cluster: { type: 'string', default: process.env.BENCH_IMAGE_CLUSTER ?? '64K' },
      runs: { type: 'string', default: process.env.BENCH_IMAGE_RUNS ?? '3' },
      dir: { type: 'string', default: process.env.BENCH_IMAGE_DIR ?? '/var/tmp' },
      out: { type: 'string', default: process.env.BENCH_IMAGE_OUT ?? '/dev/shm' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const sizes = values.sizes.split(',').map(parseSize);
  const data = parseSize(values.data);
  const cluster = parseSize(values.cluster);
  const runs = Number(values.runs);

  const work = await mkdtemp(join(values.dir, 'brankas-bench-image-'));
  const outDir = await mkdtemp(join(values.out, 'brankas-bench-image-'));
  const cleanup = async () => {
    await rm(work, { recursive: true, force: true });
    await rm(outDir, { recursive: true, force: true });
  };
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const rows: string[][] = [];
  try {
    for (const virtual of sizes) {
      const file = join(work, `disk-${virtual}.qcow2`);
      console.error(`writing ${formatSize(data)} into a ${formatSize(virtual)} qcow2...`);
      await makeImage(file, virtual, data, cluster);
      const read = await readWithBrankas(file, 'read');
      if (read !== data) throw new Error(`brankas read ${read} bytes, ${data} were written`);

      console.error('timing...');
      const copy = join(outDir, 'copy.raw');
      const qemu = await best(runs, async () => {
        await exec('qemu-img', ['convert', '-O', 'raw', file, copy]);
        await rm(copy);
      });
      const map = await best(runs, () => readWithBrankas(file, 'map'));
      const ours = await best(runs, () => readWithBrankas(file, 'read'));
      const into = await best(runs, () => readWithBrankas(file, 'readInto'));
      const rate = (s: number) => `${Math.round(data / 2 ** 20 / s)} MiB/s`;
      const label = `${formatSize(virtual)} (${formatSize(data)} data)`;
      rows.push([label, 'brankas map only', map.toFixed(3), '']);
      rows.push([label, 'brankas map + read() (new buffers)', ours.toFixed(3), rate(ours)]);
      rows.push([label, 'brankas map + readInto() (reused)', into.toFixed(3), rate(into)]);
      rows.push([label, 'qemu-img convert -O raw', qemu.toFixed(3), rate(qemu)]);
      await rm(file);
    }
  } finally {
    await cleanup();
  }

  const header = ['image', 'reader', 'seconds (best)', 'data rate'];
  const lines = [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`);
  console.log(`qcow2, ${formatSize(cluster)} clusters, best of ${runs} after a warm-up\n`);
  console.log(lines.join('\n'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
