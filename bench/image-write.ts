// Benchmark: restoring a disk into a fresh image with brankas's native writers (src/image/)
// versus `qemu-img convert` of the same source, side by side in one run.
//
//   npx tsc -p tsconfig.json && node dist/bench/image-write.js [options]
//
// It creates a qcow2 of --size virtual bytes (cluster --cluster) under --dir and writes --data
// bytes into it with qemu-io, in 64 MiB writes of non-zero patterns spread evenly over the disk.
// Then it times, best of --runs after one warm-up (the source sits in the page cache):
//   - brankas qcow2: openImage (native reader) -> copyDisk -> Qcow2Writer
//   - qemu-img convert -O qcow2 (same cluster size, compat 1.1)
//   - brankas raw:   openImage -> copyDisk -> RawWriter (sparse)
//   - qemu-img convert -O raw
// Every output goes to --dir and is removed after each run (outside the timed part, after a
// sync(1), so writeback of one run does not land in the next). qemu-img convert does not
// fdatasync its output (strace shows none after the data), so the brankas rows that compare with
// it use { sync: false }; one more row shows the writers' durable default ({ sync: true }), timed
// in a race of its own. The tools take turns run by run, in an order that rotates, so drift in
// the host's disk speed hits all of them alike. Before
// timing, the brankas outputs are checked once with `qemu-img check` and `qemu-img compare`. Prints a markdown table on stdout (progress on
// stderr). Every file it created is removed at the end, also on error or SIGINT.
//
// This is a measurement, not a test: nothing here asserts a speed.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs, promisify } from 'node:util';
import { copyDisk, createWriter, openImage, type CreateWriterOptions } from '../src/image/index.js';
import { formatSize, parseSize } from './stats.js';

const exec = promisify(execFile);

const USAGE = `usage: node dist/bench/image-write.js [options]

  --size SIZE      virtual size of the source        (default 10G, $BENCH_WRITE_SIZE)
  --data SIZE      bytes written into the source     (default 1G, $BENCH_WRITE_DATA)
  --cluster SIZE   qcow2 cluster size, both sides    (default 64K, $BENCH_WRITE_CLUSTER)
  --runs N         timed runs per tool               (default 5, $BENCH_WRITE_RUNS)
  --dir DIR        where source and outputs go       (default /var/tmp, $BENCH_WRITE_DIR)
`;

const WRITE_PIECE = 64 * 2 ** 20;

async function makeSource(file: string, virtual: number, data: number, cluster: number) {
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
  if (stride < WRITE_PIECE) {
    throw new Error(`cannot fit ${formatSize(data)} into ${formatSize(virtual)}`);
  }
  const commands: string[] = [];
  for (let i = 0; i < pieces; i++) {
    const length = Math.min(WRITE_PIECE, data - i * WRITE_PIECE);
    commands.push('-c', `write -P ${(i % 254) + 1} ${i * stride} ${length}`);
  }
  await exec('qemu-io', ['-f', 'qcow2', ...commands, file], { maxBuffer: 64 << 20 });
}

type WriterChoice = { format: 'raw' } | { format: 'qcow2'; clusterSize: number };

async function writeWithBrankas(
  source: string,
  target: string,
  choice: WriterChoice,
  sync = false,
) {
  const reader = await openImage(source, { format: 'qcow2' });
  try {
    const options = { ...choice, sync, virtualSize: reader.virtualSize } as CreateWriterOptions;
    return await copyDisk(reader, await createWriter(target, options));
  } finally {
    await reader.close();
  }
}

interface Contender {
  output: string;
  writer: string;
  target: string;
  run: () => Promise<unknown>;
  /** Seconds of each timed run. */
  times: number[];
}

/**
 * One warm-up each, then `runs` rounds in which every contender runs once. The
 * order rotates round by round: deleting a file that reached the disk costs the
 * next run (discards), and no contender should always be the one to follow it.
 */
async function race(runs: number, contenders: Contender[]): Promise<void> {
  for (let round = 0; round <= runs; round++) {
    for (let k = 0; k < contenders.length; k++) {
      const c = contenders[(round + k) % contenders.length] as Contender;
      await rm(c.target, { force: true });
      await exec('sync');
      const start = performance.now();
      await c.run();
      if (round > 0) c.times.push((performance.now() - start) / 1000);
    }
  }
  for (const c of contenders) await rm(c.target, { force: true });
}

function middle(times: number[]): number {
  return [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)] as number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: process.env.BENCH_WRITE_SIZE ?? '10G' },
      data: { type: 'string', default: process.env.BENCH_WRITE_DATA ?? '1G' },
      cluster: { type: 'string', default: process.env.BENCH_WRITE_CLUSTER ?? '64K' },
      runs: { type: 'string', default: process.env.BENCH_WRITE_RUNS ?? '5' },
      dir: { type: 'string', default: process.env.BENCH_WRITE_DIR ?? '/var/tmp' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const virtual = parseSize(values.size);
  const data = parseSize(values.data);
  const cluster = parseSize(values.cluster);
  const runs = Number(values.runs);

  const work = await mkdtemp(join(values.dir, 'brankas-bench-write-'));
  const cleanup = () => rm(work, { recursive: true, force: true });
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const rows: string[][] = [];
  try {
    const source = join(work, 'source.qcow2');
    console.error(`writing ${formatSize(data)} into a ${formatSize(virtual)} qcow2...`);
    await makeSource(source, virtual, data, cluster);
    const qcow2Out = join(work, 'out.qcow2');
    const rawOut = join(work, 'out.raw');
    const qcow2: WriterChoice = { format: 'qcow2', clusterSize: cluster };
    const raw: WriterChoice = { format: 'raw' };

    console.error('checking the brankas outputs...');
    const copied = await writeWithBrankas(source, qcow2Out, qcow2);
    if (copied.dataBytes !== data) throw new Error(`copied ${copied.dataBytes} of ${data} bytes`);
    await exec('qemu-img', ['check', qcow2Out]);
    await exec('qemu-img', ['compare', '-f', 'qcow2', '-F', 'qcow2', source, qcow2Out]);
    const qcow2Size = (await stat(qcow2Out)).size;
    await writeWithBrankas(source, rawOut, raw);
    await exec('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', source, rawOut]);
    const rawUsed = (await stat(rawOut)).blocks * 512;
    await exec('qemu-img', [
      'convert',
      '-O',
      'qcow2',
      '-o',
      `cluster_size=${cluster}`,
      source,
      qcow2Out,
    ]);
    const qemuQcow2Size = (await stat(qcow2Out)).size;
    await exec('qemu-img', ['convert', '-O', 'raw', source, rawOut]);
    const qemuRawUsed = (await stat(rawOut)).blocks * 512;
    await rm(qcow2Out);
    await rm(rawOut);

    console.error('timing...');
    const convert = (format: string, target: string) => () =>
      exec('qemu-img', ['convert', '-O', format, '-o', optionsFor(format), source, target]);
    const optionsFor = (format: string) =>
      format === 'qcow2' ? `cluster_size=${cluster},compat=1.1` : 'preallocation=off';
    const contenders: Contender[] = [
      ['qcow2', 'brankas Qcow2Writer', qcow2Out, () => writeWithBrankas(source, qcow2Out, qcow2)],
      ['qcow2', 'qemu-img convert -O qcow2', qcow2Out, convert('qcow2', qcow2Out)],
      [
        'qcow2',
        'brankas Qcow2Writer, fdatasync',
        qcow2Out,
        () => writeWithBrankas(source, qcow2Out, qcow2, true),
      ],
      ['raw (sparse)', 'brankas RawWriter', rawOut, () => writeWithBrankas(source, rawOut, raw)],
      ['raw (sparse)', 'qemu-img convert -O raw', rawOut, convert('raw', rawOut)],
      [
        'raw (sparse)',
        'brankas RawWriter, fdatasync',
        rawOut,
        () => writeWithBrankas(source, rawOut, raw, true),
      ],
    ].map(
      ([output, writer, target, run]) => ({ output, writer, target, run, times: [] }) as Contender,
    );
    // The durable rows race apart: what they leave on disk would slow whoever runs next.
    await race(
      runs,
      contenders.filter((_, i) => i % 3 !== 2),
    );
    await race(
      runs,
      contenders.filter((_, i) => i % 3 === 2),
    );
    const sizes = [qcow2Size, qemuQcow2Size, qcow2Size, rawUsed, qemuRawUsed, rawUsed];
    const rate = (s: number) => `${Math.round(data / 2 ** 20 / s)} MiB/s`;
    contenders.forEach((c, i) => {
      const peer = contenders[i - (i % 3) + 1] as Contender;
      const min = Math.min(...c.times);
      const median = middle(c.times);
      rows.push([
        c.output,
        c.writer,
        min.toFixed(3),
        median.toFixed(3),
        rate(min),
        `${((sizes[i] as number) / 2 ** 20).toFixed(1)} MiB`,
        `${(min / Math.min(...peer.times)).toFixed(2)}x`,
        `${(median / middle(peer.times)).toFixed(2)}x`,
      ]);
    });
  } finally {
    await cleanup();
  }

  const header = [
    'output',
    'writer',
    'seconds (best)',
    'seconds (median)',
    'data rate (best)',
    'output on disk',
    'best vs qemu-img',
    'median vs qemu-img',
  ];
  const lines = [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`);
  console.log(
    `${formatSize(data)} of data in a ${formatSize(virtual)} qcow2 (${formatSize(cluster)} clusters), ` +
      `written to ${values.dir}; ${runs} runs each, taking turns, after a warm-up\n`,
  );
  console.log(lines.join('\n'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
