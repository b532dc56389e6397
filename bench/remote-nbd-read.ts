// Benchmark (issue #15): the data path of a backup over `qemu+ssh://` alone: a qcow2 of random
// data read whole through qemu-nbd run over ssh and its forwarded socket
// (openRemoteImageOverNbd), 32 reads of 256 KiB in flight as the backup writer keeps, over 1,
// 2 and 4 NBD connections through the forward, alternating, so the connections are compared
// in one run. No hashing, no repository: what the ssh forward carries, nothing else.
//
//   npx tsc -p tsconfig.json && node dist/bench/remote-nbd-read.js [--data 512M] [--reps 5]
//
// It starts a private sshd on 127.0.0.1 (test/support/sshd.ts) and removes what it made at the
// end. This is a measurement, not a test.

import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openRemoteImageOverNbd } from '../src/nbd/index.js';
import { TestSshd } from '../test/support/sshd.js';
import { PREFIX, log, run, runMain } from './fixture.js';
import { formatSize, markdownTable, median, parseSize } from './stats.js';

const MiB = 1024 * 1024;
const READ = 256 * 1024;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string', default: process.env['BENCH_DATA'] ?? '512M' },
      reps: { type: 'string', default: process.env['BENCH_REPS'] ?? '5' },
      connections: { type: 'string', default: '1,2,4' },
      dir: { type: 'string', default: process.env['BENCH_DIR'] ?? '/var/tmp' },
    },
  });
  const data = parseSize(values.data!);
  const reps = Number(values.reps);
  const counts = values.connections!.split(',').map(Number);
  const dir = await mkdtemp(join(values.dir!, `${PREFIX}nbd-ssh-`));
  const sshd = await TestSshd.start();
  try {
    const image = join(dir, 'disk.qcow2');
    const f = await open(`${image}.raw`, 'w');
    for (let o = 0; o < data; o += 4 * MiB) await f.write(randomBytes(4 * MiB), 0, 4 * MiB, o);
    await f.close();
    await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', `${image}.raw`, image]);
    await rm(`${image}.raw`);
    const ssh = {
      host: '127.0.0.1',
      port: sshd.port,
      user: 'root',
      keyfile: sshd.clientKey,
      knownHosts: sshd.knownHosts,
      noVerify: false,
      command: 'ssh',
    };
    const times: Record<number, number[]> = {};
    for (let rep = 0; rep < reps; rep++) {
      for (const n of rep % 2 ? [...counts].reverse() : counts) {
        log(`rep ${rep + 1}/${reps}: ${n} connection(s)`);
        const reader = await openRemoteImageOverNbd(ssh, image, {
          format: 'qcow2',
          connections: n,
        });
        try {
          const t0 = performance.now();
          const reads: [number, number][] = [];
          for await (const e of reader.extents()) {
            if (e.kind !== 'data') continue;
            for (let o = e.offset; o < e.offset + e.length; o += READ) {
              reads.push([o, Math.min(READ, e.offset + e.length - o)]);
            }
          }
          let next = 0;
          await Promise.all(
            Array.from({ length: 32 }, async () => {
              const buf = Buffer.allocUnsafe(READ);
              while (next < reads.length) {
                const [o, l] = reads[next++]!;
                await reader.readInto(buf, 0, o, l);
              }
            }),
          );
          (times[n] ??= []).push((performance.now() - t0) / 1000);
        } finally {
          await reader.close();
        }
      }
    }
    process.stdout.write(
      `Reading ${formatSize(data)} of a qcow2 through qemu-nbd over ssh, medians of ${reps} ` +
        `(${new Date().toISOString()}, load average ${loadavg()
          .map((l) => l.toFixed(1))
          .join(' ')} at the end):\n\n` +
        markdownTable(
          ['NBD connections', 'median s', 'runs (s)', 'MiB/s'],
          counts.map((n) => [
            String(n),
            median(times[n]!).toFixed(2),
            times[n]!.map((x) => x.toFixed(2)).join(', '),
            (data / MiB / median(times[n]!)).toFixed(0),
          ]),
          ['right', 'right', 'right', 'right'],
        ) +
        '\n',
    );
    return 0;
  } finally {
    await sshd.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

runMain(main);
