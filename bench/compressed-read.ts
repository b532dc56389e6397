// Benchmark: reading a compressed qcow2 (every cluster zlib- or zstd-compressed, as
// `qemu-img convert -c` writes it) with brankas's native reader versus `qemu-img convert -O raw`
// of the same image, side by side in one run, the tools taking turns.
//
//   npx tsc -p tsconfig.json && node dist/bench/compressed-read.js [--data 256M] [--runs 5]
//
// The source is --data bytes of text-like data (numbered log lines with some random words; it
// compresses about 3:1), converted with `qemu-img convert -c -O qcow2 -o compression_type=T`.
// Each run reads every allocated byte (map + 8 MiB reads, 4 in flight) or converts to a sparse
// raw file in /dev/shm; the median of --runs after one warm-up is reported. The images sit in
// the page cache. Every file it created is removed at the end, also on error.
//
// This is a measurement, not a test: nothing here asserts a speed.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs, promisify } from 'node:util';
import { openImage } from '../src/image/index.js';

const exec = promisify(execFile);
const MiB = 2 ** 20;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function textLike(path: string, bytes: number): Promise<void> {
  const words = Array.from({ length: 512 }, () => randomBytes(6).toString('base64url'));
  const f = await open(path, 'w');
  try {
    let line = 0;
    for (let done = 0; done < bytes;) {
      const parts: string[] = [];
      let size = 0;
      while (size < MiB) {
        const l = `${new Date(1_700_000_000_000 + line * 1000).toISOString()} host-${line % 17} ${words[line % 512]} ${words[(line * 7) % 512]} request ${line} served in ${line % 997} ms\n`;
        parts.push(l);
        size += l.length;
        line++;
      }
      const buf = Buffer.from(parts.join('')).subarray(0, Math.min(MiB, bytes - done));
      await f.write(buf);
      done += buf.length;
    }
  } finally {
    await f.close();
  }
}

async function readAll(path: string): Promise<number> {
  const img = await openImage(path);
  try {
    let total = 0;
    const pieces: [number, number][] = [];
    for await (const e of img.extents()) {
      if (e.kind !== 'data') continue;
      for (let o = e.offset; o < e.offset + e.length; o += 8 * MiB) {
        pieces.push([o, Math.min(8 * MiB, e.offset + e.length - o)]);
      }
    }
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < pieces.length) {
        const [o, n] = pieces[next++]!;
        total += (await img.read(o, n)).length;
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    return total;
  } finally {
    await img.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string', default: '256' },
      runs: { type: 'string', default: '5' },
      dir: { type: 'string', default: '/var/tmp' },
    },
  });
  const dataMiB = Number.parseInt(values.data!, 10);
  const runs = Number.parseInt(values.runs!, 10);
  const dir = await mkdtemp(join(values.dir!, 'brankas-bench-compressed-'));
  const shm = await mkdtemp('/dev/shm/brankas-bench-');
  try {
    const raw = join(dir, 'src.raw');
    process.stderr.write(`writing ${dataMiB} MiB of text-like data\n`);
    await textLike(raw, dataMiB * MiB);
    const rows: string[] = [];
    for (const type of ['zlib', 'zstd'] as const) {
      const img = join(dir, `${type}.qcow2`);
      await exec('qemu-img', [
        'convert',
        '-c',
        '-O',
        'qcow2',
        '-o',
        `compression_type=${type}`,
        raw,
        img,
      ]);
      const { stdout } = await exec('du', ['-k', img]);
      const stored = Number(stdout.split('\t')[0]) * 1024;
      const tools: Record<string, () => Promise<unknown>> = {
        brankas: () => readAll(img),
        'qemu-img convert -O raw': () =>
          exec('qemu-img', ['convert', '-O', 'raw', img, join(shm, 'out.raw')]),
      };
      const times: Record<string, number[]> = { brankas: [], 'qemu-img convert -O raw': [] };
      for (const t of Object.values(tools)) await t(); // warm-up
      for (let r = 0; r < runs; r++) {
        const order = Object.keys(tools);
        if (r % 2) order.reverse();
        for (const name of order) {
          const t0 = performance.now();
          await tools[name]!();
          times[name]!.push((performance.now() - t0) / 1000);
          await rm(join(shm, 'out.raw'), { force: true });
        }
      }
      for (const [name, ts] of Object.entries(times)) {
        const s = median(ts);
        rows.push(
          `| ${type} (${(stored / MiB).toFixed(0)} MiB stored) | ${name} | ${s.toFixed(3)} | ${(dataMiB / s).toFixed(0)} |`,
        );
      }
      process.stderr.write(`${type} done\n`);
    }
    console.log('| image | reader | median s | MiB/s (uncompressed) |');
    console.log('| --- | --- | ---: | ---: |');
    for (const r of rows) console.log(r);
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(shm, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
