// Benchmark (issue #13): the repository writer's side of an incremental, in process: a disk
// of --virtual bytes whose parent backup is all zeros, then --changed chunks of 256 KiB marked
// changed (spread evenly, the way a dirty bitmap hands them over) and written again, --reps
// times; this build's writer and, alternating, another build's (`--against DIR`, a `dist` of an
// older commit). What it times is the walk over the disk's slots: the unchanged ones take the
// parent's ids, the changed ones are read, hashed and (once) stored. Inline codec (no worker
// threads), a repository on /dev/shm: no disk and no thread start in the figure.
//
//   npm run build && node dist/bench/incremental-walk.js --virtual 100G [--against DIR]

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { log, runMain } from './fixture.js';
import { formatSize, markdownTable, median, parseSize } from './stats.js';

const CHUNK = 256 * 1024;

interface Build {
  name: string;
  repo: typeof import('../src/repo/index.js');
}

async function build(name: string, dist: string): Promise<Build> {
  return { name, repo: (await import(join(dist, 'src', 'repo', 'index.js'))) as Build['repo'] };
}

/** Milliseconds of `reps` incrementals of `changed` chunks over a disk of `size` bytes. */
async function measure(b: Build, size: number, changed: number, reps: number): Promise<number[]> {
  const { Repository, LocalBackend, BackupWriter } = b.repo;
  const dir = await mkdtemp('/dev/shm/brankas-bench-walk-');
  try {
    await Repository.init(new LocalBackend(dir), { password: undefined, chunkSize: CHUNK });
    const repo = await Repository.open(new LocalBackend(dir), { workers: 0 });
    try {
      const zeros = {
        virtualSize: size,
        async *extents() {
          yield { offset: 0, length: size, kind: 'zero' as const };
        },
        read: async (_o: number, l: number) => Buffer.alloc(l),
      };
      const first = await BackupWriter.start(repo, { vm: { name: 'bench' } });
      await first.addDisk({ name: 'vda', source: zeros });
      const parent = await first.commit();
      const slots = size / CHUNK;
      const ranges = Array.from({ length: changed }, (_, i) => ({
        offset: Math.floor(((i + 0.5) * slots) / changed) * CHUNK,
        length: CHUNK,
      }));
      const data = randomBytes(CHUNK);
      const source = {
        virtualSize: size,
        async *extents() {
          yield { offset: 0, length: size, kind: 'data' as const };
        },
        read: async (_o: number, l: number) => Buffer.from(data.subarray(0, l)),
      };
      const times: number[] = [];
      for (let r = 0; r < reps; r++) {
        const w = await BackupWriter.start(repo, { vm: { name: 'bench' }, parent: parent.id });
        const t0 = performance.now();
        await w.addDisk({ name: 'vda', source, changedRanges: ranges });
        times.push(performance.now() - t0);
        await w.abort();
      }
      return times;
    } finally {
      await repo.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      virtual: { type: 'string', default: '10G' },
      changed: { type: 'string', default: '200' },
      reps: { type: 'string', default: '7' },
      against: { type: 'string' },
    },
  });
  const size = parseSize(values.virtual!);
  const changed = Number(values.changed);
  const reps = Number(values.reps);
  if (!(size > 0) || size % CHUNK !== 0 || !(changed > 0) || !(reps > 0)) {
    log(
      'usage: node dist/bench/incremental-walk.js [--virtual SIZE] [--changed N] [--reps N] [--against DIST]',
    );
    return 2;
  }
  const builds = [await build('this', join(import.meta.dirname, '..'))];
  if (values.against) builds.push(await build('against', values.against));
  const load = loadavg()[0]!.toFixed(2);
  const results = new Map<string, number[]>(builds.map((b) => [b.name, []]));
  // Alternating, a repetition of each build at a time.
  for (let r = 0; r < reps; r++) {
    for (const b of r % 2 ? [...builds].reverse() : builds) {
      results.get(b.name)!.push(...(await measure(b, size, changed, 1)));
    }
  }
  console.log(
    `## Incremental walk: ${changed} changed chunks of a ${formatSize(size)} disk (load ${load} at the start, ${loadavg()[0]!.toFixed(2)} at the end)\n`,
  );
  console.log(
    markdownTable(
      ['build', 'reps', 'median ms', 'runs (ms)'],
      builds.map((b) => {
        const t = results.get(b.name)!;
        return [
          b.name,
          String(t.length),
          median(t).toFixed(0),
          t.map((x) => x.toFixed(0)).join(', '),
        ];
      }),
      ['left', 'right', 'right', 'left'],
    ),
  );
  return 0;
}

runMain(main);
