// Benchmark (issue #12, task G): the fixed costs of a brankas command, what a user waits for when
// there is little or nothing to do: `brankas --version`, `brankas status` on a host with ten VMs,
// and a second backup of an unchanged VM; `node -e 0` for scale.
//
//   npx tsc -p tsconfig.json && node dist/bench/fixed-costs.js [--baseline DIR] [options]
//
// It defines --vms throwaway shut-off domains named `bench-fixed-<i>` (a 1 MiB sparse raw disk
// each; the first one's disk holds --data bytes of mixed data), makes a plain repository and
// backs the first VM up once (untimed). Then, in --rounds rounds after --warmup rounds, each
// command once per build, in turn: the build this script belongs to and, with --baseline, the
// `dist` directory of another build (say, of the commit before a change), so both are measured
// alternately under the same load. Every command is one process timed from spawn to exit.
// The machine is shared and noisy: the table gives medians and p90s, and the CPU time each
// command used (/usr/bin/time), which the load disturbs less than the wall time. Everything it
// created is removed at the end, also on error and on SIGINT/SIGTERM.
//
// This is a measurement, not a test: nothing here asserts a speed.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, open, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Connection, DomainUndefine } from '../src/libvirt/index.js';
import {
  brankasMain,
  configOrExit,
  describeMachine,
  domainXml,
  loadAverageLine,
  log,
  lookupForRemoval,
  machineLines,
  removeOrUndefine,
  runMain,
  Teardown,
} from './fixture.js';
import { writeMixedImage } from './mixed-data.js';
import { numbersTable, parseSize, percentile } from './stats.js';

const USAGE = `usage: node dist/bench/fixed-costs.js [options]
  --baseline DIR   the dist directory of another build, measured alternately with this one
  --rounds N       timed rounds (default 20)
  --warmup N       untimed rounds first (default 3)
  --vms N          shut-off VMs defined for the run (default 10)
  --data SIZE      data on the backed-up VM's disk (default 64M)
  --dir DIR        where the disks and the repository go (default /var/tmp)
  --uri URI        libvirt URI (default qemu:///system)
`;

interface Config {
  baseline: string | undefined;
  rounds: number;
  warmup: number;
  vms: number;
  data: number;
  dir: string;
  uri: string;
}

function readConfig(): Config | null {
  const { values } = parseArgs({
    options: {
      baseline: { type: 'string' },
      rounds: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '3' },
      vms: { type: 'string', default: '10' },
      data: { type: 'string', default: '64M' },
      dir: { type: 'string', default: '/var/tmp' },
      uri: { type: 'string', default: 'qemu:///system' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return null;
  return {
    baseline: values.baseline === undefined ? undefined : resolve(values.baseline),
    rounds: Number(values.rounds),
    warmup: Number(values.warmup),
    vms: Math.max(1, Number(values.vms)),
    data: parseSize(values.data),
    dir: values.dir,
    uri: values.uri,
  };
}

const THIS_DIST = join(dirname(fileURLToPath(import.meta.url)), '..');
const children = new Set<ChildProcess>();

interface Timing {
  /** Wall time from spawn to exit. */
  ms: number;
  /** User + system CPU of the command (from /usr/bin/time): steadier than wall time on a busy host. */
  cpuMs: number;
}

let timeFile = '';

/** Runs a command to its end under /usr/bin/time. Rejects on a non-zero exit. */
function timed(argv: string[], env: NodeJS.ProcessEnv): Promise<Timing> {
  return created.track(
    () =>
      new Promise<Timing>((resolve, reject) => {
        const start = performance.now();
        const child = spawn('/usr/bin/time', ['-f', '%U %S', '-o', timeFile, ...argv], {
          env: { ...process.env, LANG: 'C', ...env },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        children.add(child);
        let stderr = '';
        child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
        child.on('error', reject);
        child.on('close', (code) => {
          children.delete(child);
          const ms = performance.now() - start;
          if (code !== 0) {
            reject(new Error(`${argv.join(' ')}: exit ${code}\n${stderr.trim()}`));
            return;
          }
          readFile(timeFile, 'utf8').then((text) => {
            const [u, s] = (text.trim().split('\n').pop() ?? '').split(' ').map(Number);
            resolve({ ms, cpuMs: ((u ?? 0) + (s ?? 0)) * 1000 });
          }, reject);
        });
      }),
  );
}

let failures = 0;

/**
 * Other people's VMs come and go on a shared host, and a command may fail on one that vanished
 * mid-way (`brankas status` before it left such VMs out): up to three tries, failures counted.
 */
async function retried<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (attempt === 3 || created.stopping) throw err;
      failures++;
      log(`failed, trying again: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

interface Case {
  name: string;
  /** The command's arguments after `node DIST/cli/brankas.js`, or a whole argv for the reference. */
  args: string[];
  reference?: boolean;
}

async function main(): Promise<number> {
  const cfg = configOrExit(readConfig, USAGE);
  if (typeof cfg === 'number') return cfg;
  created.installHandlers(cfg.uri);
  try {
    const conn = await created.connect(cfg.uri);
    const machine = await describeMachine(conn);
    const date = new Date();
    const dir = await mkdtemp(join(cfg.dir, 'brankas-bench-fixed-'));
    created.tmpDir = dir;
    timeFile = join(dir, 'time.txt');
    const names = Array.from({ length: cfg.vms }, (_, i) => `bench-fixed-${i}`);
    // Never define over (and so, on cleanup, undefine) a VM this run did not make.
    const taken = new Set((await conn.listDomains()).map((d) => d.name));
    const clash = names.filter((n) => taken.has(n));
    if (clash.length > 0) throw new Error(`already defined, not ours: ${clash.join(', ')}`);
    for (const [i, name] of names.entries()) {
      const disk = join(dir, `${name}.raw`);
      if (i === 0) await writeMixedImage(disk, cfg.data, 1);
      else {
        const fh = await open(disk, 'w');
        await fh.truncate(1024 * 1024).finally(() => fh.close());
      }
      await created.define(conn, name, domainXml(name, disk, 'raw'));
    }
    const repo = join(dir, 'repo');
    const noRepo = { BRANKAS_REPO: join(dir, 'no-repo') };
    const builds = [
      { label: 'this build', dist: THIS_DIST },
      ...(cfg.baseline ? [{ label: 'baseline', dist: cfg.baseline }] : []),
    ];
    const cli = (dist: string): string[] => [process.execPath, brankasMain(dist)];
    await timed([...cli(THIS_DIST), 'repo', 'init', '--no-encryption', '--repo', repo], {});
    await timed([...cli(THIS_DIST), 'backup', names[0]!, '--repo', repo], {});
    const cases: Case[] = [
      { name: '`node -e 0`', args: [process.execPath, '-e', '0'], reference: true },
      { name: '`brankas --version`', args: ['--version'] },
      { name: `\`brankas status\` (${cfg.vms} VMs, no repository)`, args: ['status'] },
      { name: '`brankas status --repo R`', args: ['status', '--repo', repo] },
      { name: '`brankas backup VM` (unchanged)', args: ['backup', names[0]!, '--repo', repo] },
    ];
    const samples = new Map<string, Timing[]>();
    for (let round = 0; round < cfg.warmup + cfg.rounds; round++) {
      log(
        `round ${round + 1} of ${cfg.warmup + cfg.rounds}${round < cfg.warmup ? ' (warm-up)' : ''}`,
      );
      for (const c of cases) {
        for (const b of c.reference ? builds.slice(0, 1) : builds) {
          const t = await retried(() =>
            timed(c.reference ? c.args : [...cli(b.dist), ...c.args], noRepo),
          );
          if (round < cfg.warmup) continue;
          const key = `${c.name}\t${b.label}`;
          samples.set(key, [...(samples.get(key) ?? []), t]);
        }
      }
    }
    machine.loadAverageEnd = (await import('node:os')).loadavg();
    const cell = (key: string): string => {
      const ts = samples.get(key) ?? [];
      if (ts.length === 0) return '–';
      const wall = ts.map((t) => t.ms).sort((a, b) => a - b);
      const cpu = ts.map((t) => t.cpuMs).sort((a, b) => a - b);
      const s = (ms: number): string => (ms / 1000).toFixed(3);
      return `${s(percentile(wall, 50))} / ${s(percentile(wall, 90))} s, CPU ${s(percentile(cpu, 50))} s`;
    };
    const lines = [
      ...machineLines(machine, date),
      loadAverageLine(machine),
      `- ${cfg.rounds} timed rounds after ${cfg.warmup} warm-up; builds alternate within each round${cfg.baseline ? `; baseline ${cfg.baseline}` : ''}; ${failures} failed command(s) tried again`,
      '',
      'Wall time from spawn to exit, median / p90, and the median CPU time (user + system):',
      '',
      numbersTable(
        ['command', ...builds.map((b) => b.label)],
        cases.map((c) => [
          c.name,
          ...builds.map((b) =>
            c.reference && b !== builds[0] ? '' : cell(`${c.name}\t${b.label}`),
          ),
        ]),
      ),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  } finally {
    await created.cleanup(cfg.uri);
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
