// Benchmark (issue #13, task U): what a running guest feels of a live backup, brankas against
// virtnbdbackup, side by side in one run: how long its filesystems are frozen, whether the
// domain is paused, and its own write throughput before, during and after each backup.
//
//   npx tsc -p tsconfig.json && node dist/bench/live-impact.js [options]
//   node dist/bench/live-impact.js --quick        (a smoke run)
//
// Two twin tiny guests (the test suite's kernel and busybox initramfs, TCG), each with vda, its
// small ext4 root at /data, and vdb, an ext4 file system of --virtual size holding --data bytes
// of mixed files (half text-like, half incompressible; bench/mixed-data.ts) mounted at /big.
// virtnbdbackup refuses a VM that carries another tool's checkpoints, so each tool backs up its
// own twin. In each guest:
//
//   agent   a stand-in for qemu-guest-agent that really freezes and thaws /data and /big
//           (fsfreeze) and logs the guest's uptime (10 ms steps) at each freeze and thaw: the
//           time the guest was frozen, seen from inside;
//   writer  a loop of 256 KiB writes with fsync to a 16 MiB file on /big (the disk being read
//           longest, so that copy-before-write is felt), logging the uptime after each: the
//           guest's own write throughput, and its longest stall.
//
// Per repetition, the tools' order alternating: a full backup (brankas into a new repository,
// `virtnbdbackup -l full` into a new directory), then an incremental (`-l inc`) of the writes the
// writer made meanwhile. Each backup is bracketed by --quiet seconds in which nothing else runs:
// "before" and "after". Domain lifecycle events (suspended/resumed) are watched throughout.
// Guest times are put on the host's clock by a few `cat /proc/uptime` round trips over the
// serial console (the one with the shortest round trip), good to its half and the 10 ms step.
// brankas's own figure is its JSON's frozenSeconds (freeze asked to thaw answered).
//
// Every backup is one process, as a user runs it. Markdown tables go to stdout, progress to
// stderr, the raw samples as JSON to bench/out/. Everything the run created is removed at the
// end, also on error and on SIGINT/SIGTERM. This is a measurement, not a test: nothing here
// asserts a speed.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Connection, type Domain } from '../src/libvirt/index.js';
import {
  ensureGuestImages,
  guestWorkDir,
  BOOT_TIMEOUT_MS,
} from '../src/engine/guest/tiny-guest.js';
import { SerialConsole } from '../src/engine/guest/serial-console.js';
import {
  brankasMain,
  configOrExit,
  describeMachine,
  loadAverageLine,
  log,
  machineLines,
  PREFIX,
  repoRoot,
  run,
  runMain,
  writeJson,
} from './fixture.js';
import { TextSource, randomStream } from './mixed-data.js';
import { domainTeardown, launchGuest } from './live-guest.js';
import { markdownTable, median, parseSize } from './stats.js';

const USAGE = `usage: node dist/bench/live-impact.js [options]

  --quick          a smoke run: --virtual 512M --data 128M --reps 1 --quiet 2
  --virtual SIZE   size of the data disk's file system (default 2G)
  --data SIZE      data in it, 8M multiple            (default 512M)
  --reps N         repetitions of full + incremental  (default 3)
  --quiet S        seconds before and after each backup (default 4)
  --uri URI        libvirt connection                 (default qemu:///system)
  --help
`;

const MiB = 1024 * 1024;
const FILE = 8 * MiB;
const WRITE = 256 * 1024;

interface Config {
  virtualSize: number;
  dataSize: number;
  reps: number;
  quietS: number;
  uri: string;
}

function readConfig(): Config | null {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      virtual: { type: 'string' },
      data: { type: 'string' },
      reps: { type: 'string' },
      quiet: { type: 'string' },
      uri: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return null;
  const q = values.quick === true;
  const int = (v: string | undefined, d: number, name: string): number => {
    const n = v === undefined ? d : Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
    return n;
  };
  const cfg: Config = {
    virtualSize: parseSize(values.virtual ?? (q ? '512M' : '2G')),
    dataSize: parseSize(values.data ?? (q ? '128M' : '512M')),
    reps: int(values.reps, q ? 1 : 3, 'reps'),
    quietS: int(values.quiet, q ? 2 : 4, 'quiet'),
    uri: values.uri ?? 'qemu:///system',
  };
  if (cfg.dataSize % FILE !== 0 || cfg.dataSize > cfg.virtualSize * 0.7) {
    throw new Error('--data must be a multiple of 8M and at most 70% of --virtual');
  }
  return cfg;
}

// ---------------------------------------------------------------------------------------------
// The guest side: the freezing agent and the writer (busybox sh)

/**
 * Answers what libvirt and both tools ask; freezes /data and /big for real; logs uptime. A
 * request's id is taken without a fork, as the test guest's stand-ins take it (a sed per
 * request outlasted libvirt's 5 s guest-sync wait under TCG on a loaded host).
 */
const AGENT = `#!/bin/sh
dev=
for p in /sys/class/virtio-ports/*; do
  [ "$(cat "$p/name" 2>/dev/null)" = org.qemu.guest_agent.0 ] && dev=/dev/\${p##*/}
done
exec 3<>"$dev"
while true; do
  while IFS= read -r line <&3; do
    id=\${line#*\\"id\\"}; id=\${id#"\${id%%[0-9]*}"}; id=\${id%%[!0-9]*}
    case "$line" in
      *guest-sync-delimited*) printf '\\377{"return": %s}\\n' "$id" ;;
      *guest-sync*) printf '{"return": %s}\\n' "$id" ;;
      *guest-ping*) printf '{"return": {}}\\n' ;;
      *guest-fsfreeze-status*)
        if [ -e /tmp/frozen ]; then printf '{"return": "frozen"}\\n'
        else printf '{"return": "thawed"}\\n'; fi ;;
      *guest-fsfreeze-freeze*)
        fsfreeze --freeze /big; fsfreeze --freeze /data; touch /tmp/frozen
        read u _ </proc/uptime; echo "freeze $u" >>/tmp/agent.log
        printf '{"return": 2}\\n' ;;
      *guest-fsfreeze-thaw*)
        fsfreeze --unfreeze /data; fsfreeze --unfreeze /big; rm -f /tmp/frozen
        read u _ </proc/uptime; echo "thaw $u" >>/tmp/agent.log
        printf '{"return": 2}\\n' ;;
      *) printf '{"error": {"class": "CommandNotFound", "desc": "no"}}\\n' ;;
    esac >&3
  done
  sleep 0.2
done
`;

/** 256 KiB with fsync, round a 16 MiB file, the uptime logged after each. */
const WRITER = `#!/bin/sh
i=0
while [ ! -e /tmp/stop-writer ]; do
  dd if=/dev/zero of=/big/w bs=262144 count=1 seek=$((i % 64)) conv=notrunc,fsync 2>/dev/null
  read u _ </proc/uptime; echo "$u" >>/tmp/w.log
  i=$((i + 1))
done
`;

interface Guest {
  name: string;
  domain: Domain;
  console: SerialConsole;
  /** Guest uptime minus host time (seconds, performance.now() base). */
  offset: number;
  offsetError: number;
}

/** A file of base64 lines written through the console, a line at a time (the console is line based). */
async function putFile(c: SerialConsole, path: string, text: string): Promise<void> {
  await c.run(`echo ${Buffer.from(text).toString('base64')} | base64 -d > ${path}`);
}

async function agentAnswers(dom: Domain, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await dom.agentCommand(JSON.stringify({ execute: 'guest-ping' }), 5);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(200);
    }
  }
}

/** Guest uptime against host time: the sample with the shortest round trip of a few. */
async function clockOffset(c: SerialConsole): Promise<{ offset: number; error: number }> {
  let best = { offset: 0, error: Infinity };
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now() / 1000;
    const up = Number((await c.run('cat /proc/uptime')).trim().split(/\s+/)[0]);
    const t1 = performance.now() / 1000;
    if ((t1 - t0) / 2 < best.error) best = { offset: up - (t0 + t1) / 2, error: (t1 - t0) / 2 };
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Host side

const created = domainTeardown();

/** Runs a command to its end; rejects on failure; resolves with its stdout. */
function command(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  return created.track(
    () =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(cmd, args, {
          env: { ...process.env, LANG: 'C', LC_ALL: 'C', ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
        child.stderr.setEncoding('utf8').on('data', (s: string) => {
          stderr = (stderr + s).slice(-8000);
        });
        child.on('error', reject);
        child.on('close', (code) => {
          if (code === 0) resolve(stdout);
          else reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}\n${stderr.trim()}`));
        });
      }),
  );
}

/** An ext4 image of `virtualSize` holding `dataSize` of mixed files, as qcow2. */
async function makeDataDisk(dir: string, cfg: Config): Promise<string> {
  const files = join(dir, 'files');
  await mkdir(files);
  const text = new TextSource(11);
  const random = randomStream(11);
  const buf = Buffer.allocUnsafe(FILE);
  for (let i = 0; i < cfg.dataSize / FILE; i++) {
    if (i % 2 === 0) text.fill(buf);
    else random(buf);
    const fh = await open(join(files, `f${i}`), 'w');
    try {
      await fh.write(buf);
    } finally {
      await fh.close();
    }
  }
  const raw = join(dir, 'data.raw');
  await run('mkfs.ext4', ['-q', '-F', '-d', files, raw, String(cfg.virtualSize / 1024) + 'k']);
  await rm(files, { recursive: true, force: true });
  const qcow2 = join(dir, 'vdb.qcow2');
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
  await rm(raw, { force: true });
  return qcow2;
}

async function launch(
  conn: Connection,
  images: { kernel: string; initrd: string; baseDisk: string },
  dir: string,
  name: string,
  dataDisk: string,
): Promise<Guest> {
  const { domain, console: c } = await launchGuest(created, conn, images, dir, name, dataDisk, {
    agent: true,
  });
  await c.run('mkdir -p /big && mount -t ext4 /dev/vdb /big');
  // The stock stand-in agent gives way to the freezing one.
  await putFile(c, '/tmp/agent-impact.sh', AGENT);
  await putFile(c, '/tmp/writer.sh', WRITER);
  await c.run(
    'for p in /proc/[0-9]*; do grep -qE "agent\\.sh" $p/cmdline 2>/dev/null && kill ${p#/proc/}; done; true',
  );
  await c.run('(sh /tmp/agent-impact.sh </dev/null >/dev/null 2>&1 &); true');
  await agentAnswers(domain, BOOT_TIMEOUT_MS);
  const { offset, error } = await clockOffset(c);
  return { name, domain, console: c, offset, offsetError: error };
}

// ---------------------------------------------------------------------------------------------
// Measurement

type Tool = 'brankas' | 'virtnbdbackup';
const TOOLS: Tool[] = ['brankas', 'virtnbdbackup'];

interface Window {
  tool: Tool;
  level: 'full' | 'inc';
  /** Host seconds (performance.now() base). */
  start: number;
  end: number;
  /** brankas's own freeze figure. */
  frozenSeconds: number | null;
}

async function backup(tool: Tool, g: Guest, target: string, level: 'full' | 'inc') {
  const start = performance.now() / 1000;
  let frozenSeconds: number | null = null;
  if (tool === 'brankas') {
    const out = await command(
      process.execPath,
      [brankasMain(), 'backup', g.name, '--mode', 'live', '--repo', target, '--json'],
      { BRANKAS_STATE_DIR: join(created.tmpDir!, 'state') },
    );
    const r = JSON.parse(out) as { frozenSeconds?: number | null; consistency?: string };
    if (r.consistency !== 'application-consistent') {
      throw new Error(`brankas's backup was ${r.consistency}: the agent did not freeze`);
    }
    frozenSeconds = r.frozenSeconds ?? null;
  } else {
    await command('virtnbdbackup', ['-d', g.name, '-l', level, '-o', target]);
  }
  return { tool, level, start, end: performance.now() / 1000, frozenSeconds };
}

/** Writes per guest second, from the writer's log (guest uptimes). */
function writesIn(times: number[], from: number, to: number): number {
  let n = 0;
  for (const t of times) if (t >= from && t < to) n++;
  return n;
}

/** The longest time between two writes that ends inside [from, to). */
function longestGap(times: number[], from: number, to: number): number {
  let most = 0;
  for (let i = 1; i < times.length; i++) {
    if (times[i]! >= from && times[i]! < to) most = Math.max(most, times[i]! - times[i - 1]!);
  }
  return most;
}

interface Row {
  tool: Tool;
  level: 'full' | 'inc';
  seconds: number;
  frozenBrankas: number | null;
  frozenGuest: number | null;
  pausedSeconds: number;
  mibsBefore: number;
  mibsDuring: number;
  mibsAfter: number;
  stallBefore: number;
  stallDuring: number;
}

function analyse(
  w: Window,
  g: Guest,
  writes: number[],
  agentLog: { what: string; at: number }[],
  paused: { from: number; to: number }[],
  quietS: number,
): Row {
  // In guest time.
  const s = w.start + g.offset;
  const e = w.end + g.offset;
  const rate = (from: number, to: number): number =>
    (writesIn(writes, from, to) * WRITE) / MiB / (to - from);
  const freeze = agentLog.find((x) => x.what === 'freeze' && x.at >= s - 0.05 && x.at <= e);
  const thaw = freeze && agentLog.find((x) => x.what === 'thaw' && x.at >= freeze.at);
  let pausedSeconds = 0;
  for (const p of paused) {
    pausedSeconds += Math.max(0, Math.min(p.to, w.end) - Math.max(p.from, w.start));
  }
  return {
    tool: w.tool,
    level: w.level,
    seconds: w.end - w.start,
    frozenBrankas: w.frozenSeconds,
    frozenGuest: freeze && thaw ? thaw.at - freeze.at : null,
    pausedSeconds,
    mibsBefore: rate(s - quietS, s),
    mibsDuring: rate(s, e),
    mibsAfter: rate(e, e + quietS),
    stallBefore: longestGap(writes, s - quietS, s),
    stallDuring: longestGap(writes, s, e + 0.5),
  };
}

const med = (xs: (number | null)[], digits = 2): string => {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? median(v).toFixed(digits) : '—';
};

function table(rows: Row[], level: 'full' | 'inc'): string {
  const body = TOOLS.map((tool) => {
    const r = rows.filter((x) => x.tool === tool && x.level === level);
    return [
      tool,
      String(r.length),
      med(r.map((x) => x.seconds)),
      med(
        r.map((x) => (x.frozenBrankas === null ? null : x.frozenBrankas * 1000)),
        0,
      ),
      med(
        r.map((x) => (x.frozenGuest === null ? null : x.frozenGuest * 1000)),
        0,
      ),
      med(
        r.map((x) => x.pausedSeconds * 1000),
        0,
      ),
      med(
        r.map((x) => x.mibsBefore),
        1,
      ),
      med(
        r.map((x) => x.mibsDuring),
        1,
      ),
      med(
        r.map((x) => x.mibsAfter),
        1,
      ),
      med(
        r.map((x) => x.stallBefore * 1000),
        0,
      ),
      med(
        r.map((x) => x.stallDuring * 1000),
        0,
      ),
    ];
  });
  return markdownTable(
    [
      'tool',
      'runs',
      'backup s',
      'frozen ms (own)',
      'frozen ms (guest)',
      'paused ms',
      'MiB/s before',
      'MiB/s during',
      'MiB/s after',
      'longest stall ms before',
      'longest stall ms during',
    ],
    body,
  );
}

async function main(): Promise<number> {
  const cfg = configOrExit(readConfig, USAGE);
  if (typeof cfg === 'number') return cfg;
  if (!existsSync('/usr/bin/virtnbdbackup')) {
    log('virtnbdbackup is missing: apt-get install -y virtnbdbackup');
    await run('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'virtnbdbackup']);
  }
  created.installHandlers(cfg.uri);
  const name = `${PREFIX}impact-${process.pid}`;
  const conn = await created.connect(cfg.uri);
  try {
    const machine = await describeMachine(conn);
    const images = await ensureGuestImages();
    const dir = await guestWorkDir(name);
    created.tmpDir = dir;
    await mkdir(join(dir, 'state'), { recursive: true });
    log(`making a ${cfg.virtualSize / MiB} MiB ext4 data disk holding ${cfg.dataSize / MiB} MiB…`);
    const vdb = await makeDataDisk(dir, cfg);
    const guests: Record<Tool, Guest> = {
      brankas: await launch(conn, images, dir, `${name}-b`, vdb),
      virtnbdbackup: await launch(conn, images, dir, `${name}-v`, vdb),
    };
    for (const g of Object.values(guests)) {
      log(`${g.name}: guest clock known to ±${(g.offsetError * 1000).toFixed(0)} ms`);
    }
    // Paused time, from the domains' lifecycle events (host time).
    const paused = new Map<string, { from: number; to: number }[]>();
    const since = new Map<string, number>();
    const unsub: Array<() => Promise<void>> = [];
    for (const g of Object.values(guests)) {
      paused.set(g.name, []);
      unsub.push(
        await conn.events.subscribe(
          'lifecycle',
          (ev) => {
            const now = performance.now() / 1000;
            if (ev.event === 'suspended') since.set(g.name, now);
            if (ev.event === 'resumed' && since.has(g.name)) {
              paused.get(g.name)!.push({ from: since.get(g.name)!, to: now });
              since.delete(g.name);
            }
          },
          g.domain,
        ),
      );
    }
    for (const g of Object.values(guests)) {
      await g.console.run('(sh /tmp/writer.sh </dev/null >/dev/null 2>&1 &); true');
    }
    log('writers running');
    await sleep(cfg.quietS * 1000);

    const windows: Window[] = [];
    for (let rep = 0; rep < cfg.reps; rep++) {
      const order = rep % 2 === 0 ? TOOLS : [...TOOLS].reverse();
      for (const tool of order) {
        const g = guests[tool];
        const target = join(dir, `${tool}-${rep}`);
        if (tool === 'brankas') {
          await command(process.execPath, [
            brankasMain(),
            'repo',
            'init',
            '--repo',
            target,
            '--no-encryption',
          ]);
        }
        for (const level of ['full', 'inc'] as const) {
          const w = await backup(tool, g, target, level);
          windows.push(w);
          log(`${rep} ${tool} ${level}: ${(w.end - w.start).toFixed(2)} s`);
          await sleep(cfg.quietS * 1000);
        }
        // Each repetition starts as the first did: no checkpoint (each bitmap costs the guest's
        // writes a little), the target gone.
        for (const cp of (await g.domain.listCheckpoints()).reverse()) await cp.delete();
        await rm(target, { recursive: true, force: true });
      }
    }
    for (const u of unsub) await u().catch(() => undefined);

    const rows: Row[] = [];
    const raw: Record<string, unknown> = {};
    for (const g of Object.values(guests)) {
      await g.console.run('touch /tmp/stop-writer; sleep 1');
      const writes = (await g.console.run('cat /tmp/w.log', 600_000))
        .split('\n')
        .map(Number)
        .filter((x) => x > 0);
      const agentLog = (await g.console.run('cat /tmp/agent.log'))
        .split('\n')
        .map((l) => l.split(' '))
        .filter((p) => p.length === 2)
        .map(([what, at]) => ({ what: what!, at: Number(at) }));
      const tool: Tool = g === guests.brankas ? 'brankas' : 'virtnbdbackup';
      for (const w of windows.filter((x) => x.tool === tool)) {
        rows.push(analyse(w, g, writes, agentLog, paused.get(g.name)!, cfg.quietS));
      }
      raw[tool] = { offset: g.offset, offsetError: g.offsetError, writes, agentLog };
      g.console.close();
    }
    machine.loadAverageEnd = loadavg();
    const report = [
      `## What the guest feels of a live backup: brankas vs virtnbdbackup`,
      '',
      ...machineLines(machine, new Date()),
      loadAverageLine(machine),
      '',
      `Data disk: ${cfg.virtualSize / MiB} MiB ext4 holding ${cfg.dataSize / MiB} MiB of mixed files, ` +
        `a writer in each guest (256 KiB + fsync per write, round a 16 MiB file on it), ` +
        `${cfg.quietS} s quiet before and after each backup. Medians of ${cfg.reps} runs.`,
      '',
      '### Full backup',
      '',
      table(rows, 'full'),
      '',
      '### Incremental (what the writer wrote since the full)',
      '',
      table(rows, 'inc'),
      '',
    ].join('\n');
    process.stdout.write(`${report}\n`);
    await writeJson(join(repoRoot(), 'bench', 'out', `live-impact-${Date.now()}.json`), {
      cfg,
      rows,
      windows,
      raw,
    });
    return 0;
  } finally {
    await created.cleanup(cfg.uri);
  }
}

runMain(main);
