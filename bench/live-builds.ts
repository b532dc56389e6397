// Benchmark (issue #13, task U): two builds of brankas side by side on one running VM, for the
// live path's fixed costs and its incremental: a change measured before/after in one run.
//
//   npx tsc -p tsconfig.json && node dist/bench/live-builds.js --baseline DIR [options]
//
// DIR is the `dist` directory of another build (say, of the commit before a change: `git
// archive C | tar -x -C /tmp/base`, a node_modules link, `tsc -p tsconfig.json`). One
// throwaway tiny guest runs with vda, its small ext4 root, and vdb, a qcow2 of --virtual size
// holding --data of mixed data in 4 MiB pieces spread over it (as bench/live-backup.ts). Each
// build has its own repository (so its own checkpoint line on the VM) and makes an untimed full
// first. Then, per round, the builds' order alternating:
//
//   incremental  --writes scattered 256 KiB writes of /dev/urandom inside the guest (dd, fsync),
//                then each build's `brankas backup VM --mode live`: both read the same changes;
//   unchanged    each build's backup again, with nothing written in between.
//
// Every backup is one process, timed from spawn to exit, with its CPU time (/usr/bin/time).
// Markdown tables go to stdout, progress to stderr, the raw samples as JSON to bench/out/.
// Everything the run created is removed at the end, also on error and on SIGINT/SIGTERM.
// This is a measurement, not a test: nothing here asserts a speed.

import { spawn } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ensureGuestImages, guestWorkDir } from '../src/engine/guest/tiny-guest.js';
import {
  brankasMain,
  configOrExit,
  describeMachine,
  loadAverageLine,
  log,
  machineLines,
  PREFIX,
  repoRoot,
  runMain,
  writeJson,
} from './fixture.js';
import { domainTeardown, launchGuest, mixedDataDisk, scatteredWrites } from './live-guest.js';
import { markdownTable, median, parseSize } from './stats.js';

const USAGE = `usage: node dist/bench/live-builds.js --baseline DIR [options]

  --baseline DIR   the dist directory of the other build (required)
  --rounds N       rounds (default 5)
  --virtual SIZE   virtual size of the data disk     (default 10G)
  --data SIZE      data written into it, 4M multiple (default 1G)
  --writes N       256 KiB writes per round          (default 200: 50 MiB)
  --uri URI        libvirt connection                (default qemu:///system)
`;

const MiB = 1024 * 1024;
const PIECE = 4 * MiB;
const WRITE = 256 * 1024;

interface Config {
  baseline: string;
  rounds: number;
  virtualSize: number;
  dataSize: number;
  writes: number;
  uri: string;
}

function readConfig(): Config | null {
  const { values } = parseArgs({
    options: {
      baseline: { type: 'string' },
      rounds: { type: 'string' },
      virtual: { type: 'string' },
      data: { type: 'string' },
      writes: { type: 'string' },
      uri: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help || !values.baseline) return null;
  const int = (v: string | undefined, d: number, name: string): number => {
    const n = v === undefined ? d : Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
    return n;
  };
  const cfg: Config = {
    baseline: resolve(values.baseline),
    rounds: int(values.rounds, 5, 'rounds'),
    virtualSize: parseSize(values.virtual ?? '10G'),
    dataSize: parseSize(values.data ?? '1G'),
    writes: int(values.writes, 200, 'writes'),
    uri: values.uri ?? 'qemu:///system',
  };
  if (cfg.dataSize % PIECE !== 0 || cfg.dataSize > cfg.virtualSize / 2) {
    throw new Error('--data must be a multiple of 4M and at most half of --virtual');
  }
  return cfg;
}

const created = domainTeardown();

interface Timed {
  seconds: number;
  cpuSeconds: number;
  stdout: string;
}

let timeFile = '';

/** One process under /usr/bin/time: wall time from spawn to exit, and user + system CPU. */
function timed(args: readonly string[], env: NodeJS.ProcessEnv): Promise<Timed> {
  return created.track(
    () =>
      new Promise<Timed>((done, reject) => {
        const start = performance.now();
        const child = spawn(
          '/usr/bin/time',
          ['-f', '%U %S', '-o', timeFile, process.execPath, ...args],
          {
            env: { ...process.env, LANG: 'C', LC_ALL: 'C', ...env },
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
        child.stderr.setEncoding('utf8').on('data', (s: string) => {
          stderr = (stderr + s).slice(-8000);
        });
        child.on('error', reject);
        child.on('close', (code) => {
          const seconds = (performance.now() - start) / 1000;
          if (code !== 0) {
            reject(new Error(`${args.join(' ')}: exit ${code}\n${stderr.trim()}`));
            return;
          }
          void readFile(timeFile, 'utf8').then((t) => {
            const [u, s] = t.trim().split('\n').pop()!.split(' ').map(Number);
            done({ seconds, cpuSeconds: (u ?? 0) + (s ?? 0), stdout });
          }, reject);
        });
      }),
  );
}

/** A sparse raw image with the data in 4 MiB pieces spread evenly, converted to qcow2. */
type Build = 'this' | 'baseline';
interface Sample {
  build: Build;
  what: 'incremental' | 'unchanged';
  seconds: number;
  cpuSeconds: number;
  engineSeconds: number;
  readBytes: number;
}

function table(samples: Sample[], what: Sample['what']): string {
  const of = (b: Build) => samples.filter((s) => s.build === b && s.what === what);
  const m = (xs: number[]) => (xs.length ? median(xs) : NaN);
  const base = m(of('baseline').map((s) => s.seconds));
  const rows = (['baseline', 'this'] as const).map((b) => {
    const s = of(b);
    const secs = m(s.map((x) => x.seconds));
    return [
      b,
      String(s.length),
      secs.toFixed(2),
      `${(secs / base).toFixed(2)}x`,
      m(s.map((x) => x.engineSeconds)).toFixed(2),
      m(s.map((x) => x.cpuSeconds)).toFixed(2),
      (m(s.map((x) => x.readBytes)) / MiB).toFixed(1),
    ];
  });
  return markdownTable(
    ['build', 'runs', 'median s', 'its time / baseline', 'engine s', 'CPU s', 'MiB read'],
    rows,
  );
}

async function main(): Promise<number> {
  const cfg = configOrExit(readConfig, USAGE);
  if (typeof cfg === 'number') return cfg;
  created.installHandlers(cfg.uri);
  const name = `${PREFIX}builds-${process.pid}`;
  const conn = await created.connect(cfg.uri);
  try {
    const machine = await describeMachine(conn);
    const images = await ensureGuestImages();
    const dir = await guestWorkDir(name);
    created.tmpDir = dir;
    timeFile = join(dir, 'time.out');
    await mkdir(join(dir, 'state'), { recursive: true });
    log(`writing ${cfg.dataSize / MiB} MiB of data into a ${cfg.virtualSize / MiB} MiB disk…`);
    const vdb = await mixedDataDisk(dir, cfg.virtualSize, cfg.dataSize);
    const { console: c } = await launchGuest(created, conn, images, dir, name, vdb);

    const mains: Record<Build, string> = {
      this: brankasMain(),
      baseline: brankasMain(cfg.baseline),
    };
    const repos: Record<Build, string> = {
      this: join(dir, 'repo-this'),
      baseline: join(dir, 'repo-baseline'),
    };
    const env = { BRANKAS_STATE_DIR: join(dir, 'state') };
    const backup = async (b: Build, what: Sample['what']): Promise<Sample> => {
      const t = await timed(
        [mains[b], 'backup', name, '--mode', 'live', '--repo', repos[b], '--json'],
        env,
      );
      const r = JSON.parse(t.stdout) as { seconds: number; readBytes: number };
      return {
        build: b,
        what,
        seconds: t.seconds,
        cpuSeconds: t.cpuSeconds,
        engineSeconds: r.seconds,
        readBytes: r.readBytes,
      };
    };
    for (const b of ['this', 'baseline'] as const) {
      await timed([mains[b], 'repo', 'init', '--repo', repos[b], '--no-encryption'], env);
      await backup(b, 'incremental');
    }
    log('fulls made');
    const samples: Sample[] = [];
    for (let round = 0; round < cfg.rounds; round++) {
      const order: Build[] = round % 2 === 0 ? ['baseline', 'this'] : ['this', 'baseline'];
      await scatteredWrites(c, cfg.virtualSize, cfg.writes, 2000 + round);
      for (const b of order) samples.push(await backup(b, 'incremental'));
      for (const b of order) samples.push(await backup(b, 'unchanged'));
      log(
        `round ${round}: ${samples
          .slice(-4)
          .map((s) => `${s.build} ${s.what} ${s.seconds.toFixed(2)} s`)
          .join(', ')}`,
      );
    }
    c.close();
    machine.loadAverageEnd = loadavg();
    const report = [
      '## Live backup: this build against a baseline, side by side',
      '',
      ...machineLines(machine, new Date()),
      loadAverageLine(machine),
      `- baseline: ${cfg.baseline}`,
      '',
      `Data disk: ${cfg.virtualSize / MiB} MiB qcow2 holding ${cfg.dataSize / MiB} MiB; ${cfg.rounds} rounds, ` +
        `the builds' order alternating. "engine s" is the backup's own \`seconds\` (without Node's start-up).`,
      '',
      `### Incremental after ${(cfg.writes * WRITE) / MiB} MiB of scattered writes`,
      '',
      table(samples, 'incremental'),
      '',
      '### Unchanged running VM',
      '',
      table(samples, 'unchanged'),
      '',
    ].join('\n');
    process.stdout.write(`${report}\n`);
    await writeJson(join(repoRoot(), 'bench', 'out', `live-builds-${Date.now()}.json`), {
      cfg,
      samples,
    });
    return 0;
  } finally {
    await created.cleanup(cfg.uri);
  }
}

runMain(main);
