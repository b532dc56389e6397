// Benchmark (issue #15): reading a backup back from S3 as a restore reads it (four reads of
// 8 MiB in flight through BackupDisk), with this build's S3 backend and, alternating in the same
// run, another build's (`--against DIR`, a checkout of an older commit built with tsc), so a
// change to the backend is measured before/after on the same data and the same server.
//
//   npx tsc -p tsconfig.json && node dist/bench/s3-restore-read.js --size 256M --reps 3 \
//     [--against /var/tmp/brankas-old]
//
// s3rver runs in a child process (its CPU is counted apart: on a two-CPU machine it shares the
// cores with the client). The backup (text-like and random 4 MiB pieces by turns, an
// unencrypted repository) is written once with this build; every read is compared with it.
// Per read: wall time, the client's CPU time (main thread and workers), the server's CPU time
// and the number of GET requests. Markdown on stdout. This is a measurement, not a test.

import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BackupDisk, bufferSource, Repository } from '../src/repo/index.js';
import { BackupWriter } from '../src/repo/writer.js';
import { realisticBytes } from '../src/repo/testing/support.js';
import { S3_TEST_CREDENTIALS } from '../src/repo/backend/testing/s3-server.js';
import { S3Backend } from '../src/repo/backend/s3.js';
import { log, runMain } from './fixture.js';
import { cpuOf, startServer } from './s3-child-server.js';
import { formatSize, markdownTable, median, parseSize } from './stats.js';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
const MiB = 1024 * 1024;

type BackendClass = typeof S3Backend;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: process.env['BENCH_SIZE'] ?? '256M' },
      reps: { type: 'string', default: process.env['BENCH_REPS'] ?? '3' },
      against: { type: 'string' },
    },
  });
  const size = parseSize(values.size!);
  const reps = Number(values.reps);
  const builds: Record<string, BackendClass> = { 'this build': S3Backend };
  if (values.against) {
    const other = join(values.against, 'dist', 'src', 'repo', 'backend', 's3.js');
    builds[`--against`] = ((await import(other)) as { S3Backend: BackendClass }).S3Backend;
  }
  const server = await startServer();
  try {
    const location = `s3:${server.endpoint}/${server.bucket}/bench`;
    const make = (B: BackendClass): S3Backend =>
      new B(location, { credentials: S3_TEST_CREDENTIALS });
    const data = Buffer.alloc(size);
    for (let o = 0, i = 0; o < size; o += 4 * MiB, i++) {
      (i % 2 ? randomBytes(4 * MiB) : realisticBytes(4 * MiB, i)).copy(data, o);
    }
    log(`writing a backup of ${formatSize(size)} into s3rver`);
    await Repository.init(make(S3Backend), { password: undefined });
    const repo = await Repository.open(make(S3Backend));
    const writer = await BackupWriter.start(repo, { vm: { name: 'bench' } });
    await writer.addDisk({ name: 'vda', source: bufferSource(data) });
    await writer.commit();
    await repo.close();

    const rows: Record<
      string,
      { wall: number[]; cpu: number[]; server: number[]; gets: number[] }
    > = {};
    const names = Object.keys(builds);
    for (let rep = 0; rep < reps; rep++) {
      // Alternating, the order turned round every repetition.
      for (const name of rep % 2 ? [...names].reverse() : names) {
        log(`rep ${rep + 1}/${reps}: ${name}`);
        const backend = make(builds[name]!);
        let gets = 0;
        // Counts the requests: every range GET passes through fetchRange in both builds.
        const b = backend as unknown as { fetchRange: (...a: unknown[]) => Promise<unknown> };
        const fetchRange = b.fetchRange;
        b.fetchRange = function (this: unknown, ...a: unknown[]) {
          gets++;
          return fetchRange.apply(this, a);
        };
        const r = await Repository.open(backend);
        const out = Buffer.alloc(size);
        const server0 = cpuOf(server.pid);
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        const disk = await BackupDisk.open(r, writer.id, 'vda');
        let next = 0;
        await Promise.all(
          Array.from({ length: 4 }, async () => {
            while (next < size) {
              const at = next;
              next += 8 * MiB;
              await disk.readInto(out, at, at, Math.min(8 * MiB, size - at));
            }
          }),
        );
        await disk.close();
        const wall = (performance.now() - t0) / 1000;
        const cpu = process.cpuUsage(cpu0);
        const serverCpu = cpuOf(server.pid) - server0;
        await r.close();
        if (!out.equals(data)) throw new Error(`${name}: the bytes read back differ`);
        const row = (rows[name] ??= { wall: [], cpu: [], server: [], gets: [] });
        row.wall.push(wall);
        row.cpu.push((cpu.user + cpu.system) / 1e6);
        row.server.push(serverCpu);
        row.gets.push(gets);
      }
    }
    process.stdout.write(
      `Reading ${formatSize(size)} back from s3rver, medians of ${reps} (${new Date().toISOString()}, ` +
        `load average ${loadavg()
          .map((l) => l.toFixed(1))
          .join(' ')} at the end):\n\n` +
        markdownTable(
          ['S3 backend', 'wall s', 'client CPU s', 's3rver CPU s', 'GETs', 'MiB/s'],
          names.map((n) => {
            const r = rows[n]!;
            return [
              n === '--against' ? `--against ${values.against}` : n,
              median(r.wall).toFixed(2),
              median(r.cpu).toFixed(2),
              median(r.server).toFixed(2),
              String(median(r.gets)),
              (size / MiB / median(r.wall)).toFixed(0),
            ];
          }),
          ['left', 'right', 'right', 'right', 'right', 'right'],
        ) +
        '\n',
    );
    return 0;
  } finally {
    server.stop();
  }
}

runMain(main);
