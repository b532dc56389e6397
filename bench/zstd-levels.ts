// Benchmark: zstd's levels on the cold benchmark's own data (bench/mixed-data.ts), compressed in
// 256 KiB chunks with one reused context as the repository's workers do (src/repo/record.ts):
// throughput and ratio per level, for the text-like half and the random half, one thread.
// It answers issue #12's question whether a faster level or skipping incompressible chunks
// would let a compressed first backup keep up with an uncompressed peer.
//
//   npx tsc -p tsconfig.json && node dist/bench/zstd-levels.js [--mib 128] [--rounds 3]
//
// Levels are measured in turns, --rounds times each after a warm-up; the median is reported.
// This is a measurement, not a test: nothing here asserts a speed.

import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import zstd from 'zstd-napi/binding.js';
import { randomStream, TextSource } from './mixed-data.js';

const CHUNK = 256 * 1024;
const LEVELS = [3, 2, 1, -1, -3, -5, -7, -10];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function main(): void {
  const { values } = parseArgs({
    options: { mib: { type: 'string', default: '128' }, rounds: { type: 'string', default: '3' } },
  });
  const bytes = Number(values.mib) * 1024 * 1024;
  const rounds = Number(values.rounds);
  if (!(bytes >= CHUNK) || !(rounds >= 1)) {
    process.stderr.write('usage: zstd-levels.js [--mib N (>= 1)] [--rounds N (>= 1)]\n');
    process.exitCode = 2;
    return;
  }
  const chunks = Math.floor(bytes / CHUNK);
  const text = Buffer.alloc(chunks * CHUNK);
  new TextSource(1).fill(text);
  const random = Buffer.alloc(chunks * CHUNK);
  randomStream(1)(random);
  const cctx = new zstd.CCtx();
  const dst = Buffer.alloc(CHUNK + 4096);
  const pass = (data: Buffer, level: number): { seconds: number; stored: number } => {
    let stored = 0;
    const t = performance.now();
    for (let i = 0; i < chunks; i++) {
      const n = cctx.compress(dst, data.subarray(i * CHUNK, (i + 1) * CHUNK), level);
      stored += Math.min(n, CHUNK); // a record keeps the chunk as it is when zstd does not shrink it
    }
    return { seconds: (performance.now() - t) / 1000, stored };
  };
  const load = loadavg().map((l) => l.toFixed(2));
  const times = new Map<string, number[]>();
  const stored = new Map<string, number>();
  for (let r = -1; r < rounds; r++) {
    for (const level of LEVELS) {
      for (const [name, data] of [
        ['text', text],
        ['random', random],
      ] as const) {
        const p = pass(data, level);
        if (r < 0) continue; // warm-up
        const key = `${name} ${level}`;
        times.set(key, [...(times.get(key) ?? []), p.seconds]);
        stored.set(key, p.stored);
      }
    }
  }
  const mib = (chunks * CHUNK) / 2 ** 20;
  const lines = [
    `zstd-napi, ${mib} MiB of each kind in 256 KiB chunks, median of ${rounds}, one thread; load ${load.join(' ')} at start, ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} at end`,
    '',
    '| level | text MiB/s | text ratio | random MiB/s | random ratio |',
    '| ----: | ---------: | ---------: | -----------: | -----------: |',
  ];
  for (const level of LEVELS) {
    const cell = (name: string): string => {
      const key = `${name} ${level}`;
      return `${(mib / median(times.get(key)!)).toFixed(0)} | ${((chunks * CHUNK) / stored.get(key)!).toFixed(2)}`;
    };
    lines.push(`| ${level} | ${cell('text')} | ${cell('random')} |`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

main();
