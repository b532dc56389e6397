// Benchmark (issue #13): live backups of a running VM, brankas against virtnbdbackup, side by
// side in one run.
//
//   npx tsc -p tsconfig.json && node dist/bench/live-backup.js [options]
//   node dist/bench/live-backup.js --quick        (1 GiB virtual, 128 MiB data: a smoke run)
//
// A throwaway tiny guest (the test suite's kernel and busybox initramfs, TCG) runs with two
// disks: vda, its small ext4 root, and vdb, a qcow2 of --virtual size holding --data bytes of
// mixed compressibility (half text-like log lines, half incompressible; bench/mixed-data.ts) in
// 4 MiB pieces spread evenly over the disk. No guest agent: both tools take crash-consistent
// backups. Then, with the VM running throughout:
//
//   full        per repetition (the order of the tools rotating): `brankas backup VM --mode live`
//               into a new repository, `virtnbdbackup -d VM -l full` and the same with -z (lz4)
//               into a new directory: time, and bytes added (du -B1 after sync);
//   incremental --incs rounds: inside the guest, --writes scattered 256 KiB writes of
//               /dev/urandom to vdb (dd, then sync), then `brankas backup` and `virtnbdbackup -l
//               inc` (each into the line it started with an untimed full): time and bytes added;
//   unchanged   --reps backups more of each with nothing written in between;
//   restore     `brankas restore` of vdb from the first (full) and the last incremental backup,
//               with peak RSS (/usr/bin/time), and `virtnbdrestore` of its whole chain; the two
//               last images are compared with `qemu-img compare` (brankas's identical, or the run
//               fails; virtnbdrestore's result is reported).
//
// Every timed command is one process, as a user runs it. Markdown tables go to stdout, progress
// to stderr, the raw samples as JSON to bench/out/. Everything the run created (the domain, its
// checkpoints, files) is removed at the end, also on error and on SIGINT/SIGTERM.
//
// This is a measurement, not a test: nothing here asserts a speed.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ensureGuestImages, guestWorkDir } from '../src/engine/guest/tiny-guest.js';
import {
  brankasMain,
  configOrExit,
  describeMachine,
  log,
  machineLines,
  PREFIX,
  repoRoot,
  run,
  runMain,
  writeJson,
} from './fixture.js';
import {
  domainTeardown,
  launchGuest,
  mixedDataDisk,
  scatteredWrites,
  type LiveGuest,
} from './live-guest.js';
import { markdownTable, median, parseSize } from './stats.js';

const USAGE = `usage: node dist/bench/live-backup.js [options]

  --quick          a smoke run: --virtual 1G --data 128M --reps 1 --incs 2 --writes 40
  --virtual SIZE   virtual size of the data disk       (default 10G)
  --data SIZE      data written into it, 4M multiple   (default 1G)
  --reps N         repetitions of the full and unchanged backups (default 3)
  --incs N         incremental rounds                  (default 4)
  --writes N       256 KiB writes per round            (default 200: 50 MiB)
  --uri URI        libvirt connection                  (default qemu:///system)
  --help
`;

const KiB = 1024;
const MiB = 1024 * KiB;
const PIECE = 4 * MiB;
const WRITE = 256 * KiB;

interface Config {
  virtualSize: number;
  dataSize: number;
  reps: number;
  incs: number;
  writes: number;
  uri: string;
}

function readConfig(): Config | null {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      virtual: { type: 'string' },
      data: { type: 'string' },
      reps: { type: 'string' },
      incs: { type: 'string' },
      writes: { type: 'string' },
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
    virtualSize: parseSize(values.virtual ?? (q ? '1G' : '10G')),
    dataSize: parseSize(values.data ?? (q ? '128M' : '1G')),
    reps: int(values.reps, q ? 1 : 3, 'reps'),
    incs: int(values.incs, q ? 2 : 4, 'incs'),
    writes: int(values.writes, q ? 40 : 200, 'writes'),
    uri: values.uri ?? 'qemu:///system',
  };
  if (cfg.dataSize % PIECE !== 0 || cfg.dataSize > cfg.virtualSize / 2) {
    throw new Error('--data must be a multiple of 4M and at most half of --virtual');
  }
  return cfg;
}

// ---------------------------------------------------------------------------------------------
// Processes

interface Timed {
  seconds: number;
  maxRssMiB: number | null;
  stdout: string;
}

const created = domainTeardown();

let timeFile = '';

/** Runs a command under /usr/bin/time, timing it from spawn to exit; rejects on failure. */
function timed(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Timed> {
  return created.track(
    () =>
      new Promise<Timed>((resolve, reject) => {
        const start = performance.now();
        const child = spawn('/usr/bin/time', ['-f', '%M', '-o', timeFile, cmd, ...args], {
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
          const seconds = (performance.now() - start) / 1000;
          if (code !== 0) {
            reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}\n${stderr.trim()}`));
            return;
          }
          void readFile(timeFile, 'utf8').then((t) => {
            const kib = Number(t.trim().split('\n').pop());
            resolve({ seconds, maxRssMiB: Number.isNaN(kib) ? null : kib / 1024, stdout });
          }, reject);
        });
      }),
  );
}

function brankas(args: string[], repo: string): Promise<Timed> {
  return timed(process.execPath, [brankasMain(), ...args, '--repo', repo, '--json'], {
    BRANKAS_STATE_DIR: join(created.tmpDir!, 'state'),
  });
}

/** Allocated bytes under `path`, after a sync of the file system. */
async function du(path: string): Promise<number> {
  await run('sync', []);
  return Number((await run('du', ['-s', '-B1', path])).stdout.split('\t')[0]);
}

// ---------------------------------------------------------------------------------------------
// The data disk and the guest

/** A sparse raw image with the data in 4 MiB pieces spread evenly, converted to qcow2. */
// ---------------------------------------------------------------------------------------------
// Measurement

type Tool = 'brankas' | 'virtnbdbackup' | 'virtnbdbackup-z';
const TOOLS: Tool[] = ['brankas', 'virtnbdbackup', 'virtnbdbackup-z'];

interface Sample {
  tool: Tool;
  seconds: number;
  addedBytes: number;
  maxRssMiB: number | null;
}

async function backupWith(tool: Tool, vm: string, target: string, level: 'full' | 'inc') {
  if (tool === 'brankas') return brankas(['backup', vm, '--mode', 'live'], target);
  const args = ['-d', vm, '-l', level, '-o', target];
  if (tool === 'virtnbdbackup-z') args.push('-z');
  return timed('virtnbdbackup', args);
}

async function measured(tool: Tool, vm: string, target: string, level: 'full' | 'inc') {
  const before = existsSync(target) ? await du(target) : 0;
  const t = await backupWith(tool, vm, target, level);
  return {
    tool,
    seconds: t.seconds,
    addedBytes: (await du(target)) - before,
    maxRssMiB: t.maxRssMiB,
    stdout: t.stdout,
  };
}

async function initRepo(path: string): Promise<void> {
  await run(process.execPath, [brankasMain(), 'repo', 'init', '--repo', path, '--no-encryption']);
}

const secs = (xs: number[]): string => (xs.length ? median(xs).toFixed(2) : '—');
const mib = (xs: number[]): string => (xs.length ? (median(xs) / MiB).toFixed(1) : '—');

function table(title: string, samples: Sample[]): string {
  const rows = TOOLS.filter((t) => samples.some((s) => s.tool === t)).map((tool) => {
    const mine = samples.filter((s) => s.tool === tool);
    const base = samples.filter((s) => s.tool === 'brankas').map((s) => s.seconds);
    const ratio =
      tool === 'brankas' || base.length === 0
        ? '1.00x'
        : `${(median(mine.map((s) => s.seconds)) / median(base)).toFixed(2)}x`;
    return [
      tool,
      String(mine.length),
      secs(mine.map((s) => s.seconds)),
      ratio,
      mib(mine.map((s) => s.addedBytes)),
    ];
  });
  return `### ${title}\n\n${markdownTable(
    ['tool', 'runs', 'median s', 'its time / brankas', 'median MiB added'],
    rows,
  )}\n`;
}

async function main(): Promise<number> {
  const cfg = configOrExit(readConfig, USAGE);
  if (typeof cfg === 'number') return cfg;
  if (!existsSync('/usr/bin/virtnbdbackup')) {
    log('virtnbdbackup is missing: apt-get install -y virtnbdbackup');
    await run('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'virtnbdbackup']);
  }
  created.installHandlers(cfg.uri);
  const name = `${PREFIX}live-${process.pid}`;
  const conn = await created.connect(cfg.uri);
  try {
    const images = await ensureGuestImages();
    const dir = await guestWorkDir(name);
    created.tmpDir = dir;
    timeFile = join(dir, 'time.out');
    await mkdir(join(dir, 'state'), { recursive: true });
    log(`writing ${cfg.dataSize / MiB} MiB of data into a ${cfg.virtualSize / MiB} MiB disk…`);
    const vdb = await mixedDataDisk(dir, cfg.virtualSize, cfg.dataSize);
    // virtnbdbackup refuses to run on a VM with checkpoints it did not make ("Foreign checkpoint
    // found"), so each tool backs up its own twin of the VM: same disks, same writes.
    const guests = {
      brankas: await launchGuest(created, conn, images, dir, `${name}-b`, vdb),
      virtnbdbackup: await launchGuest(created, conn, images, dir, `${name}-v`, vdb),
    };
    const vmOf = (tool: Tool): LiveGuest =>
      tool === 'brankas' ? guests.brankas : guests.virtnbdbackup;
    log('guests running');

    // Full backups, the tools' order rotating per repetition.
    const full: Sample[] = [];
    for (let rep = 0; rep < cfg.reps; rep++) {
      for (let k = 0; k < TOOLS.length; k++) {
        const tool = TOOLS[(k + rep) % TOOLS.length]!;
        const target = join(dir, `full-${rep}-${tool}`);
        if (tool === 'brankas') await initRepo(target);
        const s = await measured(tool, vmOf(tool).name, target, 'full');
        full.push(s);
        log(
          `full ${rep} ${tool}: ${s.seconds.toFixed(2)} s, ${(s.addedBytes / MiB).toFixed(1)} MiB`,
        );
        if (tool !== 'brankas') await run('rm', ['-rf', target]);
      }
    }

    // Incremental lines: an untimed full each, then rounds of guest writes and incrementals.
    const repo = join(dir, 'line-brankas');
    const vnb = join(dir, 'line-virtnbdbackup');
    await initRepo(repo);
    const ids: string[] = [];
    const first = await measured('brankas', guests.brankas.name, repo, 'full');
    ids.push(idOf(first.stdout));
    await measured('virtnbdbackup', guests.virtnbdbackup.name, vnb, 'full');
    const inc: Sample[] = [];
    const writeSeconds: number[] = [];
    for (let round = 0; round < cfg.incs; round++) {
      for (const g of Object.values(guests)) {
        writeSeconds.push(
          await scatteredWrites(g.console, cfg.virtualSize, cfg.writes, 1000 + round),
        );
      }
      for (const tool of round % 2 === 0 ? TOOLS.slice(0, 2) : TOOLS.slice(0, 2).reverse()) {
        const s = await measured(tool, vmOf(tool).name, tool === 'brankas' ? repo : vnb, 'inc');
        if (tool === 'brankas') ids.push(idOf(s.stdout));
        inc.push(s);
        log(
          `inc ${round} ${tool}: ${s.seconds.toFixed(2)} s, ${(s.addedBytes / MiB).toFixed(1)} MiB`,
        );
      }
    }

    // Restores, before the unchanged backups (which add to virtnbdbackup's chain).
    const restored = join(dir, 'restored');
    await mkdir(restored);
    const rFull = await brankas(
      ['restore', ids[0]!, '--disk', 'vdb', '--to', join(restored, 'full.qcow2')],
      repo,
    );
    const rLast = await brankas(
      ['restore', ids.at(-1)!, '--disk', 'vdb', '--to', join(restored, 'last.qcow2')],
      repo,
    );
    const vnr = await timed('virtnbdrestore', ['-i', vnb, '-o', join(restored, 'vnb')]);
    // virtnbdrestore names the image after the disk's file in the backup (vdb.qcow2 here).
    const vnbImage = (await readdir(join(restored, 'vnb'))).find((f) => f.includes('vdb'));
    if (!vnbImage) throw new Error(`virtnbdrestore wrote no image of vdb in ${restored}/vnb`);
    // Each restore against its own VM's disk, unchanged since the last incremental: every guest
    // write ended with an fsync, whose flush leaves QEMU's qcow2 complete on disk (-U: it is open).
    const compare = async (image: string, guest: LiveGuest): Promise<string> => {
      const disk = join(dir, `${guest.name}-vdb.qcow2`);
      const r = await new Promise<string>((resolve) => {
        const child = spawn('qemu-img', ['compare', '-U', image, disk], { stdio: 'pipe' });
        let out = '';
        child.stdout.on('data', (b: Buffer) => (out += b.toString()));
        child.stderr.on('data', (b: Buffer) => (out += b.toString()));
        child.on('close', (code) => resolve(code === 0 ? '' : out.trim() || `exit ${code}`));
      });
      return r === '' ? 'identical' : `differs from the VM's disk: ${r}`;
    };
    // brankas's must be identical or the run fails; the peer's result is reported as it is.
    const brankasCheck = await compare(join(restored, 'last.qcow2'), guests.brankas);
    if (brankasCheck !== 'identical') throw new Error(`brankas's last restore ${brankasCheck}`);
    const vnbCheck = await compare(join(restored, 'vnb', vnbImage), guests.virtnbdbackup);
    log(`restored images: brankas identical, virtnbdrestore ${vnbCheck}`);

    const unchanged: Sample[] = [];
    for (let rep = 0; rep < cfg.reps; rep++) {
      for (const tool of TOOLS.slice(0, 2)) {
        unchanged.push(
          await measured(tool, vmOf(tool).name, tool === 'brankas' ? repo : vnb, 'inc'),
        );
      }
    }

    const bootBytes = (await stat(images.kernel)).size + (await stat(images.initrd)).size;
    const machine = await describeMachine(conn);
    const report = [
      `## Live backups of a running VM: brankas vs virtnbdbackup`,
      '',
      ...machineLines(machine, new Date()),
      '',
      `Data disk: ${cfg.virtualSize / MiB} MiB qcow2 holding ${cfg.dataSize / MiB} MiB (half text, half random); ` +
        `two twin guests (virtnbdbackup refuses a VM with another tool's checkpoints); ${cfg.incs} rounds of ${cfg.writes} writes of 256 KiB from /dev/urandom inside the guest ` +
        `(median ${secs(writeSeconds)} s per round). Medians; ratios are the peer's time over brankas's. ` +
        `The guest boots a kernel and initrd from the host (${(bootBytes / MiB).toFixed(1)} MiB): virtnbdbackup ` +
        `copies them into every backup, brankas stores them once.`,
      '',
      table('Full backup (live)', full),
      table(`Incremental after ${(cfg.writes * WRITE) / MiB} MiB of scattered writes`, inc),
      table('Backup of an unchanged running VM', unchanged),
      '### Restore of vdb',
      '',
      markdownTable(
        ['what', 'seconds', 'peak RSS MiB'],
        [
          ['brankas restore of the full', rFull.seconds.toFixed(2), rss(rFull)],
          [`brankas restore of incremental ${cfg.incs}`, rLast.seconds.toFixed(2), rss(rLast)],
          [`virtnbdrestore of the chain (full + ${cfg.incs})`, vnr.seconds.toFixed(2), rss(vnr)],
        ],
      ),
      '',
      `Last restores against each VM's disk (\`qemu-img compare -U\`): brankas identical, ` +
        `virtnbdrestore ${vnbCheck}.`,
      '',
    ].join('\n');
    process.stdout.write(`${report}\n`);
    await writeJson(join(repoRoot(), 'bench', 'out', `live-backup-${Date.now()}.json`), {
      cfg,
      full,
      inc,
      unchanged,
      writeSeconds,
      restore: { full: rFull.seconds, last: rLast.seconds, virtnbdrestore: vnr.seconds },
    });
    for (const g of Object.values(guests)) g.console.close();
    return 0;
  } finally {
    await created.cleanup(cfg.uri);
  }
}

function rss(t: Timed): string {
  return t.maxRssMiB === null ? '—' : t.maxRssMiB.toFixed(0);
}

function idOf(stdout: string): string {
  const r = JSON.parse(stdout) as { id?: string; manifest?: { id?: string } };
  const id = r.manifest?.id ?? r.id;
  if (!id) throw new Error(`no backup id in brankas's output: ${stdout.slice(0, 200)}`);
  return id;
}

runMain(main);
