// Benchmark (issue #12, task G): peak memory of backup, restore and `repo verify --read-data`
// against the size of the data. It should stay flat: the same whether a disk holds 1 or 16 GiB.
//
//   npx tsc -p tsconfig.json && node dist/bench/memory-flat.js [--sizes 1G,4G,16G] [options]
//
// Per size: a fully allocated raw image of that many bytes (4 MiB pieces, by turns text-like log
// lines and random bytes: bench/mixed-data.ts), a throwaway shut-off domain with it as its only
// disk (`brankas-bench-mem-<run>-<size>`), a fresh repository (`brankas repo init`, plain unless
// --encrypted), then, each one process timed by `/usr/bin/time -f '%e %U %S %M'`:
//
//   backup    `brankas backup VM --repo R`
//   restore   `brankas restore VM --disk vda --to FILE --format raw --repo R`
//   verify    `brankas repo verify --read-data --repo R`
//
// The restored file is compared with the image (`cmp`) when --check. Everything a size created is
// removed before the next size begins (16 GiB needs about 16 GiB for the image, 11 for the
// repository and 16 for the restore), and at the end also on error and on SIGINT/SIGTERM.
// BENCH_NODE_ARGS passes Node options to the brankas commands (e.g. `--heapsnapshot-signal=SIGUSR2`).
//
// This is a measurement, not a test: nothing here asserts a size or a speed.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Connection, DomainUndefine } from '../src/libvirt/index.js';
import {
  brankasMain,
  configOrExit,
  describeMachine,
  domainXml,
  log,
  lookupForRemoval,
  machineLines,
  PREFIX,
  removeOrUndefine,
  runMain,
  Teardown,
} from './fixture.js';
import { writeMixedImage } from './mixed-data.js';
import { formatSize, markdownTable, median, parseSize } from './stats.js';

const USAGE = `usage: node dist/bench/memory-flat.js [options]
  --sizes LIST     data sizes to measure (default 1G,4G,16G; BENCH_SIZES)
  --reps N         repetitions of each command per size (default 1; the table shows the largest peak)
  --steps LIST     backup,restore,verify (default all three)
  --encrypted      an encrypted repository (the password from a file, BRANKAS_PASSWORD_FILE)
  --check          compare the restored disk with the image (cmp)
  --dir DIR        where the images and repositories go (default /var/tmp)
  --uri URI        libvirt URI (default qemu:///system)
`;

interface Config {
  sizes: number[];
  reps: number;
  steps: Step[];
  encrypted: boolean;
  check: boolean;
  dir: string;
  uri: string;
}

const STEPS = ['backup', 'restore', 'verify'] as const;
type Step = (typeof STEPS)[number];

function readConfig(): Config | null {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: process.env['BENCH_SIZES'] ?? '1G,4G,16G' },
      reps: { type: 'string', default: '1' },
      steps: { type: 'string', default: STEPS.join(',') },
      encrypted: { type: 'boolean', default: false },
      check: { type: 'boolean', default: false },
      dir: { type: 'string', default: '/var/tmp' },
      uri: { type: 'string', default: 'qemu:///system' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return null;
  const steps = values.steps.split(',').filter(Boolean);
  for (const s of steps) {
    if (!(STEPS as readonly string[]).includes(s)) throw new Error(`unknown step ${s}`);
  }
  return {
    sizes: values.sizes.split(',').filter(Boolean).map(parseSize),
    reps: Math.max(1, Number(values.reps)),
    steps: steps as Step[],
    encrypted: values.encrypted,
    check: values.check,
    dir: values.dir,
    uri: values.uri,
  };
}

const CLI = brankasMain(join(dirname(fileURLToPath(import.meta.url)), '..'));
const NODE_ARGS = (process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
const children = new Set<ChildProcess>();

interface Measured {
  seconds: number;
  cpuSeconds: number;
  maxRssMiB: number;
}

/** Runs `brankas ARGS` under /usr/bin/time; rejects on a non-zero exit. */
function brankas(args: string[], env: NodeJS.ProcessEnv, timeFile: string): Promise<Measured> {
  return created.track(
    () =>
      new Promise<Measured>((resolve, reject) => {
        const start = performance.now();
        const argv = ['-f', '%U %S %M', '-o', timeFile, process.execPath, ...NODE_ARGS, CLI];
        const child = spawn('/usr/bin/time', [...argv, ...args], {
          env: { ...process.env, LANG: 'C', ...env },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        children.add(child);
        let stderr = '';
        child.stderr.setEncoding('utf8').on('data', (s: string) => {
          stderr = (stderr + s).slice(-4000);
        });
        child.on('error', reject);
        child.on('close', (code) => {
          children.delete(child);
          const seconds = (performance.now() - start) / 1000;
          if (code !== 0) {
            reject(new Error(`brankas ${args.join(' ')}: exit ${code}\n${stderr.trim()}`));
            return;
          }
          readFile(timeFile, 'utf8').then((text) => {
            const [u, s, m] = (text.trim().split('\n').pop() ?? '').split(' ').map(Number);
            resolve({ seconds, cpuSeconds: (u ?? 0) + (s ?? 0), maxRssMiB: (m ?? 0) / 1024 });
          }, reject);
        });
      }),
  );
}

function cmp(a: string, b: string): Promise<boolean> {
  return created.track(
    () =>
      new Promise<boolean>((resolve, reject) => {
        const child = spawn('cmp', ['--silent', a, b], { stdio: 'ignore' });
        children.add(child);
        child.on('error', reject);
        child.on('close', (code) => {
          children.delete(child);
          resolve(code === 0);
        });
      }),
  );
}

interface SizeResult {
  size: number;
  imageSeconds: number;
  steps: Partial<Record<Step, Measured[]>>;
  identical?: boolean;
}

async function measureSize(cfg: Config, conn: Connection, run: string, size: number) {
  const dir = await mkdtemp(join(cfg.dir, `${PREFIX}mem-`));
  created.tmpDir = dir;
  const image = join(dir, 'disk.raw');
  const repo = join(dir, 'repo');
  const restored = join(dir, 'restored.raw');
  const timeFile = join(dir, 'time.txt');
  const name = `${PREFIX}mem-${run}-${formatSize(size).replace(/\W+/g, '')}`;
  const env: NodeJS.ProcessEnv = {};
  try {
    log(`${formatSize(size)}: writing the image…`);
    const imageSeconds = await writeMixedImage(image, size, 1);
    await created.define(conn, name, domainXml(name, image, 'raw'));
    if (cfg.encrypted) {
      env['BRANKAS_PASSWORD_FILE'] = join(dir, 'password');
      await writeFile(env['BRANKAS_PASSWORD_FILE'], 'bench-password\n');
    }
    const init = ['repo', 'init', '--repo', repo, ...(cfg.encrypted ? [] : ['--no-encryption'])];
    await brankas(init, env, timeFile);
    const result: SizeResult = { size, imageSeconds, steps: {} };
    for (let rep = 0; rep < cfg.reps; rep++) {
      for (const step of cfg.steps) {
        const args =
          step === 'backup'
            ? ['backup', name, '--repo', repo, ...(rep > 0 ? ['--reread'] : [])]
            : step === 'restore'
              ? ['restore', name, '--disk', 'vda', '--to', restored, '--format', 'raw']
              : ['repo', 'verify', '--read-data', '--repo', repo];
        if (step === 'restore') args.push('--force', '--repo', repo);
        log(`${formatSize(size)}: ${step}…`);
        const m = await brankas(args, env, timeFile);
        log(
          `  ${m.seconds.toFixed(1)} s, ${m.cpuSeconds.toFixed(1)} s of CPU, peak RSS ${m.maxRssMiB.toFixed(0)} MiB`,
        );
        (result.steps[step] ??= []).push(m);
        if (step === 'restore' && cfg.check && rep === 0) {
          result.identical = await cmp(image, restored);
        }
        if (step === 'restore') await rm(restored, { force: true });
      }
    }
    return result;
  } finally {
    await removeDomain(cfg.uri, name);
    created.domains.length = 0;
    await rm(dir, { recursive: true, force: true });
    created.tmpDir = undefined;
  }
}

async function removeDomain(uri: string, name: string): Promise<void> {
  await removeOrUndefine(uri, name, async () => {
    const conn = await Connection.open(uri);
    try {
      const dom = await lookupForRemoval(conn, name, created.unconfirmed.has(name));
      await dom.undefine(DomainUndefine.SNAPSHOTS_METADATA | DomainUndefine.CHECKPOINTS_METADATA);
    } finally {
      await conn.close().catch(() => undefined);
    }
  });
}

async function main(): Promise<number> {
  const cfg = configOrExit(readConfig, USAGE);
  if (typeof cfg === 'number') return cfg;
  created.installHandlers(cfg.uri);
  const run = Date.now().toString(36);
  try {
    const conn = await created.connect(cfg.uri);
    const machine = await describeMachine(conn);
    const date = new Date();
    const results: SizeResult[] = [];
    for (const size of cfg.sizes) results.push(await measureSize(cfg, conn, run, size));
    const cell = (ms: Measured[] | undefined): string => {
      if (!ms) return '–';
      const peak = Math.max(...ms.map((m) => m.maxRssMiB));
      return `${peak.toFixed(0)} MiB, ${median(ms.map((m) => m.seconds)).toFixed(1)} s`;
    };
    const lines = [
      ...machineLines(machine, date),
      `- repository: ${cfg.encrypted ? 'encrypted' : 'plain'}; ${cfg.reps} repetition(s); Node options: ${NODE_ARGS.join(' ') || 'none'}`,
      '',
      'Peak RSS (`/usr/bin/time %M`, the largest of the repetitions) and median time:',
      '',
      markdownTable(
        ['data', ...cfg.steps, ...(cfg.check ? ['restore identical'] : [])],
        results.map((r) => [
          formatSize(r.size),
          ...cfg.steps.map((s) => cell(r.steps[s])),
          ...(cfg.check ? [r.identical ? 'yes' : 'NO'] : []),
        ]),
      ),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    return results.some((r) => cfg.check && !r.identical) ? 1 : 0;
  } finally {
    await created.cleanup(cfg.uri);
  }
}

const created = new Teardown({
  announce: () => {
    for (const child of children) child.kill('SIGTERM');
  },
  waitingMessage: 'cleanup: waiting for the command in flight to end…',
  removeDomains: async (uri) => {
    for (const name of created.domains) await removeDomain(uri, name);
  },
});

runMain(main);
