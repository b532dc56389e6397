// Benchmark (issue #15): writing a backup into S3 as `brankas backup` writes it (BackupWriter,
// its chunk workers and pack uploads), with this build's S3 backend and, alternating in the
// same run, another build's (`--against DIR`, a checkout of an older commit built with tsc):
// the upload side's counterpart of s3-restore-read.ts.
//
//   npx tsc -p tsconfig.json && node dist/bench/s3-backup-write.js --size 256M --reps 3 \
//     [--against /var/tmp/brankas-old] [--unsigned]
//
// s3rver runs in a child process (its CPU is counted apart). The disk (text-like and random
// 4 MiB pieces by turns) goes into a fresh unencrypted repository for every write, so every
// write stores all of it; the last write of each build is read back and compared. Per write:
// wall time, the client's CPU time (main thread and workers), the server's CPU time and the
// packs stored and their bytes. Markdown on stdout. This is a
// measurement, not a test.

import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BackupDisk, bufferSource, Repository } from '../src/repo/index.js';
import { BackupWriter } from '../src/repo/writer.js';
import { realisticBytes } from '../src/repo/testing/support.js';
import { S3_TEST_CREDENTIALS } from '../src/repo/backend/testing/s3-server.js';
import { S3Backend, type S3BackendOptions } from '../src/repo/backend/s3.js';
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
      // Also this build with UNSIGNED-PAYLOAD (no SHA-256 of the bodies), as a third row.
      unsigned: { type: 'boolean', default: false },
    },
  });
  const size = parseSize(values.size!);
  const reps = Number(values.reps);
  const builds: Record<string, { B: BackendClass; options: S3BackendOptions }> = {
    'this build': { B: S3Backend, options: {} },
  };
  if (values.unsigned) {
    builds['this build, UNSIGNED-PAYLOAD'] = { B: S3Backend, options: { signPayload: false } };
  }
  if (values.against) {
    const other = join(values.against, 'dist', 'src', 'repo', 'backend', 's3.js');
    const B = ((await import(other)) as { S3Backend: BackendClass }).S3Backend;
    builds[`--against`] = { B, options: {} };
  }
  const data = Buffer.alloc(size);
  for (let o = 0, i = 0; o < size; o += 4 * MiB, i++) {
    (i % 2 ? randomBytes(4 * MiB) : realisticBytes(4 * MiB, i)).copy(data, o);
  }
  const server = await startServer();
  try {
    const rows: Record<
      string,
      { wall: number[]; cpu: number[]; server: number[]; puts: number[]; stored: number[] }
    > = {};
    const last: Record<string, { location: string; id: string }> = {};
    const names = Object.keys(builds);
    for (let rep = 0; rep < reps; rep++) {
      for (const name of rep % 2 ? [...names].reverse() : names) {
        log(`rep ${rep + 1}/${reps}: ${name}`);
        const location = `s3:${server.endpoint}/${server.bucket}/w-${rep}-${names.indexOf(name)}`;
        const { B, options } = builds[name]!;
        const o = { credentials: S3_TEST_CREDENTIALS, ...options };
        await Repository.init(new B(location, o), { password: undefined });
        const backend = new B(location, o);
        const repo = await Repository.open(backend);
        const server0 = cpuOf(server.pid);
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        const writer = await BackupWriter.start(repo, { vm: { name: 'bench' } });
        await writer.addDisk({ name: 'vda', source: bufferSource(data) });
        await writer.commit();
        const wall = (performance.now() - t0) / 1000;
        const cpu = process.cpuUsage(cpu0);
        const serverCpu = cpuOf(server.pid) - server0;
        await repo.close();
        let objects = 0;
        let stored = 0;
        const lister = new B(location, { credentials: S3_TEST_CREDENTIALS });
        for await (const o of lister.list('data/')) {
          objects += o.size > 0 ? 1 : 0;
          stored += o.size;
        }
        await lister.close();
        last[name] = { location, id: writer.id };
        const row = (rows[name] ??= { wall: [], cpu: [], server: [], puts: [], stored: [] });
        row.wall.push(wall);
        row.cpu.push((cpu.user + cpu.system) / 1e6);
        row.server.push(serverCpu);
        row.puts.push(objects);
        row.stored.push(stored / MiB);
      }
    }
    for (const name of names) {
      const r = await Repository.open(
        new S3Backend(last[name]!.location, { credentials: S3_TEST_CREDENTIALS }),
      );
      const disk = await BackupDisk.open(r, last[name]!.id, 'vda');
      const out = Buffer.alloc(size);
      await disk.readInto(out, 0, 0, size);
      await disk.close();
      await r.close();
      if (!out.equals(data)) throw new Error(`${name}: the backup read back differs`);
    }
    process.stdout.write(
      `Writing a backup of ${formatSize(size)} into s3rver, medians of ${reps} (${new Date().toISOString()}, ` +
        `load average ${loadavg()
          .map((l) => l.toFixed(1))
          .join(' ')} at the end; every backup read back identical):\n\n` +
        markdownTable(
          ['S3 backend', 'wall s', 'client CPU s', 's3rver CPU s', 'packs', 'packs MiB', 'MiB/s'],
          names.map((n) => {
            const r = rows[n]!;
            return [
              n === '--against' ? `--against ${values.against}` : n,
              median(r.wall).toFixed(2),
              median(r.cpu).toFixed(2),
              median(r.server).toFixed(2),
              String(median(r.puts)),
              median(r.stored).toFixed(1),
              (size / MiB / median(r.wall)).toFixed(0),
            ];
          }),
          ['left', 'right', 'right', 'right', 'right', 'right', 'right'],
        ) +
        '\n',
    );
    return 0;
  } finally {
    server.stop();
  }
}

runMain(main);
