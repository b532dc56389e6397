// Benchmark (issue #4): cold backup of a shut-off VM with brankas against the seed's recipe and
// the usual peers, side by side in one run; restore; a second backup of the unchanged VM.
//
//   npx tsc -p tsconfig.json && node dist/bench/cold-backup.js [options]
//   node dist/bench/cold-backup.js --quick        (1 GiB virtual, 128 MiB data: a smoke run)
//
// It writes a deterministic data set (--data bytes, by default half incompressible random bytes
// and half text-like log lines, in pieces of 64 KiB to 4 MiB at scattered 64 KiB-aligned offsets)
// into a sparse raw image of --virtual size, makes a qcow2 of it with `qemu-img convert` (so only
// the data is allocated), and defines one throwaway, shut-off domain per format through brankas's
// own libvirt client, named `brankas-bench-<run>-<format>`. Then, per format and repetition, with
// the order of the tools rotating from one repetition to the next:
//
//   backup    brankas (`brankas repo init --no-encryption` beforehand, then `brankas backup VM`),
//             brankas into an encrypted repository (password via BRANKAS_PASSWORD_FILE), plain
//             `cp` of the image (the seed's recipe), `cp --sparse=always`, `qemu-img convert -O
//             qcow2 -c`, and `virtnbdbackup -l copy` (offline: it runs qemu-nbd on the image
//             itself), without and with its lz4 compression (-z);
//   second    `brankas backup VM` again into each brankas repository: time and what it adds;
//   restore   `brankas restore ID --as NAME --to DIR` (a new VM is defined), `virtnbdrestore -c -D
//             -N NAME` (the same), and, informative, `cp` of the copy back and `qemu-img convert`
//             of the compressed copy back.
//
// Every timed command is one process, as a user would run it. After it returns, its output is
// made durable with `sync FILE…` (timed apart: brankas fsyncs its repository itself, the peers do
// not), and its size taken with `du -B1` (allocated bytes). The first repetition checks every
// restored image against the original with `qemu-img compare`. The images sit in the page cache
// (warm reads) unless --drop-caches, which drops it before every timed command. It prints
// markdown tables on stdout (progress on stderr) and writes the raw samples as JSON to bench/out/.
// Everything it created (domains, files, qemu-nbd servers) is removed at the end, also on error
// and on SIGINT/SIGTERM.
//
// This is a measurement, not a test: nothing here asserts a speed.

import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Connection, DomainUndefine } from '../src/libvirt/index.js';
import {
  brankasMain,
  type Check,
  configOrExit,
  describeMachine,
  domainXml,
  errorText,
  loadAverageLine,
  log,
  lookupForRemoval,
  type Machine,
  machineLines,
  PREFIX,
  removeOrUndefine,
  repoRoot,
  run,
  runMain,
  Teardown,
  writeJson,
} from './fixture.js';
import { prng as rng } from '../src/util/testing/index.js';
import { TextSource } from './mixed-data.js';
import { formatSize, markdownTable, median, parseSize } from './stats.js';
import { S3Backend } from '../src/repo/backend/s3.js';
import {
  S3_TEST_CREDENTIALS,
  startS3Server,
  type S3TestServer,
} from '../src/repo/backend/testing/s3-server.js';

const USAGE = `usage: node dist/bench/cold-backup.js [options]

  --quick            a smoke run: --virtual 1G --data 128M --reps 2 (explicit options still win)
  --virtual SIZE     virtual size of each disk          (default 10G, $BENCH_VIRTUAL)
  --data SIZE        data written into it, 64K multiple (default 1G, $BENCH_DATA)
  --text-share F     share of text-like data, 0..1      (default 0.5, $BENCH_TEXT_SHARE)
  --reps N           repetitions per tool               (default 3, $BENCH_REPS)
  --encrypted-reps N repetitions that also back up into an encrypted repository
                     (default 1, $BENCH_ENCRYPTED_REPS)
  --formats LIST     disk formats, comma separated      (default qcow2,raw, $BENCH_FORMATS)
  --tools LIST       backup tools, comma separated      ($BENCH_TOOLS; default all but the S3 ones):
                     ${'brankas,brankas-aes,cp,cp-sparse,qemu-img-c,virtnbdbackup,virtnbdbackup-z'},
                     ${'brankas-s3,restic-s3'} (into a bucket of s3rver, the S3-protocol server of the
                     tests, started by the benchmark on 127.0.0.1; restic is installed if missing)
  --compression C    the repositories' compression for brankas: none or a zstd level
                     (default: brankas's own, zstd level 1; $BENCH_COMPRESSION)
  --drop-caches      drop the page cache before every timed command (cold reads)
  --dir DIR          where the run's temporary directory goes (default /var/tmp, $BENCH_DIR)
  --uri URI          libvirt URI  (default $BENCH_URI, $LIBVIRT_DEFAULT_URI or qemu:///system)
  --json PATH        where to write the raw results (default bench/out/cold-backup-<time>.json)
  --no-json          do not write JSON
  -h, --help         this text

  $BENCH_NODE_ARGS   node options for the timed brankas commands only, space separated
                     (e.g. --cpu-prof --cpu-prof-dir=DIR)
`;

// As the executable does (s3Size loads the AWS SDK here): its notice about Node versions is not
// a result.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

const KiB = 1024;
const MiB = 1024 * KiB;
const ALIGN = 64 * KiB;

const BACKUP_TOOLS = [
  'brankas',
  'brankas-aes',
  'cp',
  'cp-sparse',
  'qemu-img-c',
  'virtnbdbackup',
  'virtnbdbackup-z',
  'brankas-s3',
  'restic-s3',
] as const;
type BackupTool = (typeof BACKUP_TOOLS)[number];
/** Backup tools run when --tools is not given: all but those that need the S3 server. */
const DEFAULT_TOOLS = BACKUP_TOOLS.filter((t) => !t.endsWith('-s3'));
/** Tools whose output is a location in the S3 server's bucket. */
const isS3 = (tool: string): boolean => tool.endsWith('-s3');

const RESTORE_TOOLS = [
  'brankas',
  'brankas-aes',
  'virtnbdrestore',
  'cp-back',
  'qemu-img-back',
  'brankas-s3',
  'restic-s3',
] as const;
type RestoreTool = (typeof RESTORE_TOOLS)[number];
/** The backup each restore reads. */
const RESTORE_FROM: Record<RestoreTool, BackupTool> = {
  brankas: 'brankas',
  'brankas-aes': 'brankas-aes',
  virtnbdrestore: 'virtnbdbackup',
  'cp-back': 'cp',
  'qemu-img-back': 'qemu-img-c',
  'brankas-s3': 'brankas-s3',
  'restic-s3': 'restic-s3',
};

const LABEL: Record<string, string> = {
  brankas: 'brankas (plain repo)',
  'brankas-aes': 'brankas (encrypted repo)',
  cp: '`cp` (the seed)',
  'cp-sparse': '`cp --sparse=always`',
  'qemu-img-c': '`qemu-img convert -c` (zlib)',
  virtnbdbackup: 'virtnbdbackup (offline)',
  'virtnbdbackup-z': 'virtnbdbackup -z (lz4)',
  virtnbdrestore: 'virtnbdrestore',
  'cp-back': '`cp` back (informative)',
  'qemu-img-back': '`qemu-img convert` back (informative)',
  'brankas-s3': 'brankas into S3 (s3rver, plain repo)',
  'restic-s3': 'restic into S3 (s3rver)',
};

type Format = 'qcow2' | 'raw';

interface Config {
  uri: string;
  /** The brankas repositories' compression (`none` or a zstd level); null: the default. */
  compression: string | null;
  virtualSize: number;
  dataSize: number;
  textShare: number;
  reps: number;
  encryptedReps: number;
  formats: Format[];
  tools: BackupTool[];
  dropCaches: boolean;
  dir: string;
  quick: boolean;
  json: string | null;
}

function list<T extends string>(name: string, text: string, allowed: readonly T[]): T[] {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const item of items) {
    if (!allowed.includes(item as T)) {
      throw new Error(`${name}: unknown "${item}" (known: ${allowed.join(', ')})`);
    }
  }
  if (items.length === 0) throw new Error(`${name}: empty list`);
  return items as T[];
}

function readConfig(): Config | null {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      virtual: { type: 'string' },
      data: { type: 'string' },
      'text-share': { type: 'string' },
      reps: { type: 'string' },
      'encrypted-reps': { type: 'string' },
      formats: { type: 'string' },
      tools: { type: 'string' },
      'drop-caches': { type: 'boolean' },
      compression: { type: 'string' },
      dir: { type: 'string' },
      uri: { type: 'string' },
      json: { type: 'string' },
      'no-json': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return null;
  const env = process.env;
  const quick = values.quick === true;
  const virtualSize = parseSize(values.virtual ?? env['BENCH_VIRTUAL'] ?? (quick ? '1G' : '10G'));
  const dataSize = parseSize(values.data ?? env['BENCH_DATA'] ?? (quick ? '128M' : '1G'));
  if (dataSize <= 0 || dataSize % ALIGN !== 0) throw new Error('--data must be a 64K multiple');
  if (dataSize > virtualSize / 2) throw new Error('--data must be at most half of --virtual');
  const textShare = Number(values['text-share'] ?? env['BENCH_TEXT_SHARE'] ?? '0.5');
  if (!(textShare >= 0 && textShare <= 1)) throw new Error('--text-share must be within 0..1');
  const reps = Number(values.reps ?? env['BENCH_REPS'] ?? (quick ? '2' : '3'));
  if (!Number.isInteger(reps) || reps < 1) throw new Error('--reps must be an integer >= 1');
  const encryptedReps = Number(values['encrypted-reps'] ?? env['BENCH_ENCRYPTED_REPS'] ?? '1');
  if (!Number.isInteger(encryptedReps) || encryptedReps < 0) {
    throw new Error('--encrypted-reps must be an integer >= 0');
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const compression = values.compression ?? env['BENCH_COMPRESSION'] ?? null;
  if (compression !== null && compression !== 'none' && !/^\d+$/.test(compression)) {
    throw new Error('--compression must be none or a zstd level');
  }
  if (compression !== null) {
    const how = compression === 'none' ? 'uncompressed' : `zstd level ${compression}`;
    LABEL['brankas'] = `brankas (plain repo, ${how})`;
    LABEL['brankas-aes'] = `brankas (encrypted repo, ${how})`;
  }
  return {
    compression,
    uri: values.uri ?? env['BENCH_URI'] ?? env['LIBVIRT_DEFAULT_URI'] ?? 'qemu:///system',
    virtualSize,
    dataSize,
    textShare,
    reps,
    encryptedReps: Math.min(encryptedReps, reps),
    formats: list('--formats', values.formats ?? env['BENCH_FORMATS'] ?? 'qcow2,raw', [
      'qcow2',
      'raw',
    ] as const),
    tools: list('--tools', values.tools ?? env['BENCH_TOOLS'] ?? DEFAULT_TOOLS.join(','), [
      ...BACKUP_TOOLS,
    ]),
    dropCaches: values['drop-caches'] === true,
    dir: values.dir ?? env['BENCH_DIR'] ?? '/var/tmp',
    quick,
    json: values['no-json']
      ? null
      : (values.json ?? join(repoRoot(), 'bench', 'out', `cold-backup-${stamp}.json`)),
  };
}

// ---------------------------------------------------------------------------------------------
// Processes: every timed command is one child process, tracked so that cleanup can end it

/** The compiled brankas CLI, next to this compiled benchmark (dist/bench → dist/src/cli). */
function cliPath(): string {
  return brankasMain(join(dirname(fileURLToPath(import.meta.url)), '..'));
}

/**
 * Node options for the timed brankas commands only, from $BENCH_NODE_ARGS (space separated),
 * e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile brankas under the benchmark's load.
 */
function brankasNode(): string[] {
  return (process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
}

const children = new Set<ChildProcess>();

interface Timed {
  seconds: number;
  /** User + system CPU seconds and peak RSS of the command, from /usr/bin/time. */
  cpuSeconds: number | null;
  maxRssMiB: number | null;
  stdout: string;
}

let timeFile = '';

/** Runs a command, timing it from spawn to exit; rejects on a non-zero exit. */
function timed(cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<Timed> {
  const useTime = existsSync('/usr/bin/time') && timeFile !== '';
  const argv = useTime ? ['-f', '%U %S %M', '-o', timeFile, cmd, ...args] : [...args];
  const file = useTime ? '/usr/bin/time' : cmd;
  return created.track(
    () =>
      new Promise<Timed>((resolve, reject) => {
        const start = performance.now();
        const child = spawn(file, argv, {
          env: { ...process.env, LANG: 'C', LC_ALL: 'C', ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        children.add(child);
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
        child.stderr.setEncoding('utf8').on('data', (s: string) => {
          stderr = (stderr + s).slice(-8000);
        });
        child.on('error', (err) => {
          children.delete(child);
          reject(err);
        });
        child.on('close', (code, signal) => {
          children.delete(child);
          const seconds = (performance.now() - start) / 1000;
          if (code !== 0) {
            const detail = stderr.trim().split('\n').slice(-6).join('\n');
            reject(new Error(`${cmd} ${args.join(' ')}: exit ${code ?? signal}\n${detail}`));
            return;
          }
          void (async () => {
            let cpuSeconds: number | null = null;
            let maxRssMiB: number | null = null;
            if (useTime) {
              const last = (await readFile(timeFile, 'utf8')).trim().split('\n').pop() ?? '';
              const [u, s, m] = last.split(' ').map(Number);
              if (u !== undefined && s !== undefined && m !== undefined && !Number.isNaN(m)) {
                cpuSeconds = u + s;
                maxRssMiB = m / 1024;
              }
            }
            resolve({ seconds, cpuSeconds, maxRssMiB, stdout });
          })().catch(reject);
        });
      }),
  );
}

/** Every file and directory under `path` (and `path` itself). */
async function pathsUnder(path: string): Promise<string[]> {
  const entries = await readdir(path, { recursive: true }).catch(() => null);
  return entries === null ? [path] : [path, ...entries.map((e) => join(path, e))];
}

/** `sync FILE…`: fsync of everything the command wrote, timed. */
async function syncPaths(path: string): Promise<number> {
  const paths = await pathsUnder(path);
  const start = performance.now();
  await created.track(() => run('sync', paths));
  return (performance.now() - start) / 1000;
}

/** Allocated bytes (`du -B1 -s`) and apparent bytes (`du -sb`). */
async function du(path: string): Promise<{ allocated: number; apparent: number }> {
  const a = (await run('du', ['-s', '-B1', path])).stdout;
  const b = (await run('du', ['-sb', path])).stdout;
  return { allocated: Number(a.split('\t')[0]), apparent: Number(b.split('\t')[0]) };
}

/** Drops the page cache (after a sync); false when the kernel refuses. */
async function dropCaches(): Promise<boolean> {
  try {
    await run('sync', []);
    await writeFile('/proc/sys/vm/drop_caches', '3\n');
    return true;
  } catch {
    return false;
  }
}

/** The checkout's commit, and whether src/ differs from it. */
async function brankasRevision(): Promise<string> {
  // A run from an exported copy (not a git checkout) can name its commit itself.
  const named = process.env['BENCH_REVISION'];
  if (named) return `commit ${named}`;
  try {
    const root = repoRoot();
    const head = (await run('git', ['-C', root, 'rev-parse', '--short', 'HEAD'])).stdout.trim();
    const dirty = (
      await run('git', ['-C', root, 'status', '--porcelain', '--', 'src', 'native'])
    ).stdout.trim();
    return `commit ${head}${dirty ? ' (src/ modified)' : ''}`;
  } catch {
    return 'commit unknown';
  }
}

async function commandExists(cmd: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

async function version(cmd: string, args: string[], pattern: RegExp): Promise<string> {
  try {
    const r = await run(cmd, args);
    return pattern.exec(`${r.stdout}\n${r.stderr}`)?.[1] ?? 'unknown';
  } catch {
    return 'missing';
  }
}

// ---------------------------------------------------------------------------------------------
// What this run created, and its removal

const created = new Teardown({
  announce: () => {
    for (const child of children) child.kill('SIGTERM');
    if (created.domains.length > 0 || created.tmpDir) {
      log(`cleaning up ${[...created.domains, created.tmpDir ?? ''].filter(Boolean).join(', ')}…`);
    }
  },
  waitingMessage: 'cleanup: waiting for the command in flight to end…',
  removeDomains: async (uri) => {
    await killQemuNbd();
    for (const name of created.domains) {
      await removeOrUndefine(uri, name, async () => {
        const conn = await Connection.open(uri, {
          connectTimeoutMs: 10_000,
          callTimeoutMs: 120_000,
        });
        try {
          const dom = await lookupForRemoval(conn, name, created.unconfirmed.has(name));
          if (await dom.isActive()) await dom.destroy();
          await dom.undefine(
            DomainUndefine.SNAPSHOTS_METADATA | DomainUndefine.CHECKPOINTS_METADATA,
          );
        } finally {
          await conn.close().catch(() => undefined);
        }
      });
    }
  },
});

/**
 * virtnbdbackup starts `qemu-nbd --fork` with a pid file beside its socket, which this run puts
 * in its own directory; an interrupted run may leave that server behind. Ends those (and only
 * those) qemu-nbd processes, by the pid in the file.
 */
async function killQemuNbd(): Promise<void> {
  const dir = created.tmpDir;
  if (!dir) return;
  for (const path of await pathsUnder(dir)) {
    if (!path.endsWith('.pid')) continue;
    const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(pid) || pid <= 1) continue;
    const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
    if (comm.trim() !== 'qemu-nbd') continue;
    try {
      process.kill(pid, 'SIGTERM');
      log(`cleanup: ended qemu-nbd ${pid} left by virtnbdbackup`);
    } catch {
      // already gone
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The data set: pieces of random and text-like data at scattered offsets of a sparse raw image

interface Piece {
  offset: number;
  length: number;
  /** Contiguous parts of the piece: a piece may be split where the text quota runs out. */
  parts: { kind: 'random' | 'text'; length: number }[];
}

interface DataSet {
  pieces: number;
  randomBytes: number;
  textBytes: number;
  smallestGap: number;
  largestGap: number;
  seconds: number;
  sha256: string;
}

/** Where the data goes: piece lengths of 64 KiB..4 MiB, gaps of random share, 64 KiB-aligned. */
function planPieces(virtual: number, data: number, textShare: number, seed: number): Piece[] {
  const random = rng(seed);
  const lengths: number[] = [];
  for (let sum = 0; sum < data;) {
    const len = Math.min(ALIGN * (1 + Math.floor(random() * 64)), data - sum);
    lengths.push(len);
    sum += len;
  }
  // Gaps between pieces (and before the first and after the last): random shares of the rest.
  const free = Math.floor((virtual - data) / ALIGN);
  const weights = Array.from({ length: lengths.length + 1 }, () => random());
  const total = weights.reduce((a, b) => a + b, 0);
  const gaps = weights.map((w) => Math.floor((free * w) / total) * ALIGN);
  const pieces: Piece[] = [];
  let at = 0;
  lengths.forEach((length, i) => {
    at += gaps[i] as number;
    pieces.push({ offset: at, length, parts: [] });
    at += length;
  });
  // Kinds: the pieces in a shuffled order take text until its quota is met, then random data.
  const order = pieces.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  let textLeft = Math.round((data * textShare) / ALIGN) * ALIGN;
  for (const i of order) {
    const p = pieces[i] as Piece;
    const text = Math.min(textLeft, p.length);
    textLeft -= text;
    if (text > 0) p.parts.push({ kind: 'text', length: text });
    if (p.length - text > 0) p.parts.push({ kind: 'random', length: p.length - text });
  }
  return pieces;
}

/** Writes the data set into a new sparse raw image of `virtual` bytes. */
async function writeRawImage(path: string, cfg: Config, seed: number): Promise<DataSet> {
  const start = performance.now();
  const pieces = planPieces(cfg.virtualSize, cfg.dataSize, cfg.textShare, seed);
  const key = createHash('sha256').update(`brankas-bench-cold-backup-${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const text = new TextSource(seed + 1);
  const hash = createHash('sha256');
  const fh = await open(path, 'w');
  let randomBytes = 0;
  let textBytes = 0;
  try {
    await fh.truncate(cfg.virtualSize);
    const zeros = Buffer.alloc(4 * MiB);
    const buf = Buffer.allocUnsafe(4 * MiB);
    for (const p of pieces) {
      let at = p.offset;
      for (const part of p.parts) {
        const chunk = buf.subarray(0, part.length);
        if (part.kind === 'text') {
          text.fill(chunk);
          textBytes += part.length;
        } else {
          cipher.update(zeros.subarray(0, part.length)).copy(chunk);
          randomBytes += part.length;
        }
        hash.update(chunk);
        let done = 0;
        while (done < chunk.length) {
          done += (await fh.write(chunk, done, chunk.length - done, at + done)).bytesWritten;
        }
        at += part.length;
      }
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  const gaps = pieces.slice(1).map((p, i) => {
    const before = pieces[i] as Piece;
    return p.offset - (before.offset + before.length);
  });
  return {
    pieces: pieces.length,
    randomBytes,
    textBytes,
    smallestGap: Math.min(...gaps),
    largestGap: Math.max(...gaps),
    seconds: (performance.now() - start) / 1000,
    sha256: hash.digest('hex'),
  };
}

// ---------------------------------------------------------------------------------------------
// Measurement

interface Sample {
  rep: number;
  /** Position in the repetition's order (0 = first). */
  position: number;
  seconds: number;
  syncSeconds: number;
  cpuSeconds: number | null;
  maxRssMiB: number | null;
  allocated: number;
  apparent: number;
  /** brankas only: what it reports. */
  readBytes?: number;
  newStoredBytes?: number;
}

interface SecondSample {
  rep: number;
  seconds: number;
  syncSeconds: number;
  cpuSeconds: number | null;
  maxRssMiB: number | null;
  /** Repository growth: allocated (du -B1) and apparent (du -sb) bytes. */
  addedAllocated: number;
  addedApparent: number;
  newStoredBytes: number;
}

interface FormatResult {
  format: Format;
  vm: string;
  image: string;
  imageSize: { allocated: number; apparent: number };
  backups: Partial<Record<BackupTool, Sample[]>>;
  second: Partial<Record<'brankas' | 'brankas-aes', SecondSample[]>>;
  restores: Partial<Record<RestoreTool, Sample[]>>;
  commands: Record<string, string>;
}

/**
 * Whether a backup tool runs in this repetition: the encrypted repository only in the first
 * --encrypted-reps repetitions; virtnbdbackup -z not for raw disks, which virtnbdbackup copies
 * as a sparse raw image whatever -z says (the same run as without it).
 */
function runsIn(cfg: Config, tool: BackupTool, rep: number, format: Format): boolean {
  if (tool === 'brankas-aes') return rep < cfg.encryptedReps;
  if (tool === 'virtnbdbackup-z') return format !== 'raw';
  return true;
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const k = items.length === 0 ? 0 : by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

interface RunContext {
  cfg: Config;
  /**
   * The S3 server for the -s3 tools (it takes restic's chunk-signed uploads itself:
   * src/repo/backend/testing/s3-chunked.ts), and their environment.
   */
  s3?: { server: S3TestServer; env: NodeJS.ProcessEnv };
  runId: string;
  tmp: string;
  passwordFile: string;
  checks: Check[];
  dropsPermitted: boolean | null;
}

async function beforeTimed(ctx: RunContext): Promise<void> {
  if (!ctx.cfg.dropCaches) return;
  const ok = await dropCaches();
  if (ctx.dropsPermitted === null) ctx.dropsPermitted = ok;
}

/** One backup tool's command line (output path `out`). */
function backupCommand(
  tool: BackupTool,
  ctx: RunContext,
  vm: string,
  image: string,
  format: Format,
  out: string,
): { cmd: string; args: string[]; env?: NodeJS.ProcessEnv } {
  switch (tool) {
    case 'brankas':
    case 'brankas-aes':
      return {
        cmd: process.execPath,
        args: [
          ...brankasNode(),
          cliPath(),
          'backup',
          vm,
          '--repo',
          out,
          '--json',
          '-c',
          ctx.cfg.uri,
        ],
        env: tool === 'brankas-aes' ? { BRANKAS_PASSWORD_FILE: ctx.passwordFile } : {},
      };
    case 'brankas-s3':
      return {
        cmd: process.execPath,
        args: [
          ...brankasNode(),
          cliPath(),
          'backup',
          vm,
          '--repo',
          out,
          '--json',
          '-c',
          ctx.cfg.uri,
        ],
        env: ctx.s3!.env,
      };
    case 'restic-s3':
      // restic reads the image file as it is (the whole virtual size of a raw one).
      return { cmd: 'restic', args: ['-r', out, 'backup', '--json', image], env: ctx.s3!.env };
    case 'cp':
      return { cmd: 'cp', args: [image, out] };
    case 'cp-sparse':
      return { cmd: 'cp', args: ['--sparse=always', image, out] };
    case 'qemu-img-c':
      return { cmd: 'qemu-img', args: ['convert', '-f', format, '-O', 'qcow2', '-c', image, out] };
    case 'virtnbdbackup':
    case 'virtnbdbackup-z':
      return {
        cmd: 'virtnbdbackup',
        args: [
          '-U',
          ctx.cfg.uri,
          '-d',
          vm,
          '-l',
          'copy',
          ...(format === 'raw' ? ['--raw'] : []),
          ...(tool === 'virtnbdbackup-z' ? ['-z'] : []),
          '-n',
          '-f',
          join(ctx.tmp, `nbd-${basename(out)}.sock`),
          '-o',
          out,
        ],
      };
  }
}

/** A command as text, with the run's directory shown as $DIR. */
function commandText(
  c: { cmd: string; args: string[]; env?: NodeJS.ProcessEnv },
  tmp: string,
): string {
  const env = Object.entries(c.env ?? {})
    .map(([k, v]) => `${k}=${v} `)
    .join('');
  const cmd = c.cmd === process.execPath ? 'node' : c.cmd;
  const args = c.args.map((a) => (a === cliPath() ? relative(repoRoot(), cliPath()) : a)).join(' ');
  return `${env}${cmd} ${args}`.split(tmp).join('$DIR');
}

async function prepareBackup(tool: BackupTool, ctx: RunContext, out: string): Promise<void> {
  const c = ctx.cfg.compression;
  const how =
    c === null ? [] : c === 'none' ? ['--compression', 'none'] : ['--compression-level', c];
  if (tool === 'brankas') {
    await run(process.execPath, [
      cliPath(),
      'repo',
      'init',
      '--no-encryption',
      ...how,
      '--repo',
      out,
    ]);
  } else if (tool === 'brankas-aes') {
    await run(process.execPath, [cliPath(), 'repo', 'init', ...how, '--repo', out], {
      ...process.env,
      BRANKAS_PASSWORD_FILE: ctx.passwordFile,
    });
  } else if (tool === 'brankas-s3') {
    await run(
      process.execPath,
      [cliPath(), 'repo', 'init', '--no-encryption', ...how, '--repo', out],
      { ...process.env, ...ctx.s3!.env },
    );
  } else if (tool === 'restic-s3') {
    await run('restic', ['-r', out, 'init'], { ...process.env, ...ctx.s3!.env });
  }
}

/** The bytes stored under an S3 location (listed), as `du` gives them for files. */
async function s3Size(location: string): Promise<{ allocated: number; apparent: number }> {
  const b = new S3Backend(location, { credentials: S3_TEST_CREDENTIALS });
  let n = 0;
  try {
    for await (const o of b.list('')) n += o.size;
  } finally {
    await b.close();
  }
  return { allocated: n, apparent: n };
}

interface BackupOutput {
  path: string;
  /** brankas: the backup id. */
  id?: string;
  /** The copy's image file (cp, qemu-img), for the restore. */
  file?: string;
}

async function measureFormat(
  ctx: RunContext,
  conn: Connection,
  format: Format,
  rawImage: string,
): Promise<FormatResult> {
  const { cfg, runId, tmp } = ctx;
  const vm = `${PREFIX}${runId}-${format}`;
  let image = rawImage;
  if (format === 'qcow2') {
    image = join(tmp, `${vm}.qcow2`);
    log(`making ${basename(image)} from the raw image (qemu-img convert -O qcow2)…`);
    await created.track(() =>
      run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', rawImage, image]),
    );
    await run('sync', [image]);
  }
  await created.define(conn, vm, domainXml(vm, image, format));
  log(`defined ${vm} (${format}, shut off)`);
  const result: FormatResult = {
    format,
    vm,
    image,
    imageSize: await du(image),
    backups: {},
    second: {},
    restores: {},
    commands: {},
  };

  for (let rep = 0; rep < cfg.reps; rep++) {
    const repDir = join(tmp, `${format}-rep${rep}`);
    await mkdir(repDir);
    const outputs = new Map<BackupTool, BackupOutput>();

    // Backups, each tool in turn.
    const order = rotate(
      cfg.tools.filter((t) => runsIn(cfg, t, rep, format)),
      rep,
    );
    for (const [position, tool] of order.entries()) {
      const out = isS3(tool)
        ? `s3:${ctx.s3!.server.endpoint}/${ctx.s3!.server.bucket}/${format}-rep${rep}-${tool}`
        : tool === 'cp' || tool === 'cp-sparse'
          ? join(repDir, `${tool}.${format}`)
          : tool === 'qemu-img-c'
            ? join(repDir, `${tool}.qcow2`)
            : join(repDir, tool);
      await prepareBackup(tool, ctx, out);
      const c = backupCommand(tool, ctx, vm, image, format, out);
      result.commands[`backup ${tool}`] = commandText(c, tmp);
      await beforeTimed(ctx);
      log(`${format} rep ${rep + 1}/${cfg.reps}: backup with ${tool}…`);
      const t = await timed(c.cmd, c.args, c.env);
      // What the S3 server acknowledged is stored (s3rver writes files it does not fsync).
      const syncSeconds = isS3(tool) ? 0 : await syncPaths(out);
      const size = isS3(tool) ? await s3Size(out) : await du(out);
      const sample: Sample = {
        rep,
        position,
        seconds: t.seconds,
        syncSeconds,
        cpuSeconds: t.cpuSeconds,
        maxRssMiB: t.maxRssMiB,
        ...size,
      };
      const output: BackupOutput = { path: out };
      if (tool === 'restic-s3') {
        const summary = t.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { message_type?: string; snapshot_id?: string })
          .find((m) => m.message_type === 'summary');
        output.id = summary?.snapshot_id ?? 'latest';
      } else if (tool === 'brankas' || tool === 'brankas-aes' || tool === 'brankas-s3') {
        const j = JSON.parse(t.stdout) as {
          manifest: { id: string };
          readBytes: number;
          newStoredBytes: number;
        };
        sample.readBytes = j.readBytes;
        sample.newStoredBytes = j.newStoredBytes;
        output.id = j.manifest.id;
      } else if (tool !== 'virtnbdbackup' && tool !== 'virtnbdbackup-z' && !isS3(tool)) {
        output.file = out;
      }
      outputs.set(tool, output);
      (result.backups[tool] ??= []).push(sample);
      log(
        `  ${t.seconds.toFixed(2)} s (+ sync ${syncSeconds.toFixed(2)} s), ${formatSize(size.allocated)} stored`,
      );
    }

    // A second backup of the unchanged VM into each brankas repository.
    for (const tool of rotate(
      (['brankas', 'brankas-aes'] as const).filter((t) => outputs.has(t)),
      rep,
    )) {
      const out = (outputs.get(tool) as BackupOutput).path;
      const before = await du(out);
      const c = backupCommand(tool, ctx, vm, image, format, out);
      await beforeTimed(ctx);
      log(`${format} rep ${rep + 1}/${cfg.reps}: second backup with ${tool}…`);
      const t = await timed(c.cmd, c.args, c.env);
      const syncSeconds = await syncPaths(out);
      const after = await du(out);
      const j = JSON.parse(t.stdout) as { newStoredBytes: number };
      (result.second[tool] ??= []).push({
        rep,
        seconds: t.seconds,
        syncSeconds,
        cpuSeconds: t.cpuSeconds,
        maxRssMiB: t.maxRssMiB,
        addedAllocated: after.allocated - before.allocated,
        addedApparent: after.apparent - before.apparent,
        newStoredBytes: j.newStoredBytes,
      });
      log(
        `  ${t.seconds.toFixed(2)} s, repository +${formatSize(after.allocated - before.allocated)}`,
      );
    }

    // Restores, each tool in turn, into fresh directories.
    const restoreOrder = rotate(
      RESTORE_TOOLS.filter(
        (r) => outputs.has(RESTORE_FROM[r]) && (r !== 'qemu-img-back' || rep === 0),
      ),
      rep,
    );
    for (const [position, tool] of restoreOrder.entries()) {
      const from = outputs.get(RESTORE_FROM[tool]) as BackupOutput;
      const dest = join(repDir, `restore-${tool}`);
      const name = `${PREFIX}${runId}-${format}-r${rep}-${tool}`;
      let c: { cmd: string; args: string[]; env?: NodeJS.ProcessEnv };
      let restored = '';
      switch (tool) {
        case 'restic-s3':
          await mkdir(dest);
          restored = join(dest, image);
          c = {
            cmd: 'restic',
            args: ['-r', from.path, 'restore', from.id as string, '--target', dest],
            env: ctx.s3!.env,
          };
          break;
        case 'brankas':
        case 'brankas-aes':
        case 'brankas-s3':
          c = {
            cmd: process.execPath,
            args: [
              ...brankasNode(),
              cliPath(),
              'restore',
              from.id as string,
              '--as',
              name,
              '--to',
              dest,
              '--repo',
              from.path,
              '--json',
              '-c',
              cfg.uri,
            ],
            env:
              tool === 'brankas-aes'
                ? { BRANKAS_PASSWORD_FILE: ctx.passwordFile }
                : tool === 'brankas-s3'
                  ? ctx.s3!.env
                  : {},
          };
          break;
        case 'virtnbdrestore':
          // For a VM whose disks are all raw, virtnbdrestore 1.9.15 with --raw copies the image
          // but leaves the adjusted domain XML empty, so -c -D fails ("Document is empty"):
          // there it restores the files only.
          c = {
            cmd: 'virtnbdrestore',
            args: [
              '-U',
              cfg.uri,
              '-i',
              from.path,
              '-o',
              dest,
              ...(format === 'raw' ? ['--raw'] : ['-c', '-D', '-N', name]),
              '-n',
              '-f',
              join(tmp, `nbd-restore-${rep}.sock`),
              '-L',
              join(repDir, `virtnbdrestore-${rep}.log`),
            ],
          };
          restored = join(dest, basename(image));
          break;
        case 'cp-back':
          await mkdir(dest);
          restored = join(dest, `disk.${format}`);
          c = { cmd: 'cp', args: [from.file as string, restored] };
          break;
        default: // qemu-img-back
          await mkdir(dest);
          restored = join(dest, `disk.${format}`);
          c = {
            cmd: 'qemu-img',
            args: ['convert', '-f', 'qcow2', '-O', format, from.file as string, restored],
          };
      }
      result.commands[`restore ${tool}`] = commandText(c, tmp);
      const defines =
        tool === 'brankas' ||
        tool === 'brankas-aes' ||
        tool === 'brankas-s3' ||
        (tool === 'virtnbdrestore' && format !== 'raw');
      if (defines) created.domains.push(name);
      await beforeTimed(ctx);
      log(`${format} rep ${rep + 1}/${cfg.reps}: restore with ${tool}…`);
      const t = await timed(c.cmd, c.args, c.env);
      const syncSeconds = await syncPaths(dest);
      if (tool === 'brankas' || tool === 'brankas-aes' || tool === 'brankas-s3') {
        const j = JSON.parse(t.stdout) as { disks: { path: string }[] };
        restored = j.disks[0]?.path ?? '';
      }
      const size = await du(dest);
      (result.restores[tool] ??= []).push({
        rep,
        position,
        seconds: t.seconds,
        syncSeconds,
        cpuSeconds: t.cpuSeconds,
        maxRssMiB: t.maxRssMiB,
        ...size,
      });
      log(`  ${t.seconds.toFixed(2)} s (+ sync ${syncSeconds.toFixed(2)} s)`);
      if (rep === 0)
        await checkSame(ctx, `${format}: restored by ${tool}`, image, format, restored);
      if (created.domains.includes(name)) await undefineRestored(conn, name);
      await rm(dest, { recursive: true, force: true });
    }
    if (rep === 0) {
      for (const tool of ['qemu-img-c', 'cp', 'cp-sparse'] as const) {
        const f = outputs.get(tool)?.file;
        if (f) {
          const fmt = tool === 'qemu-img-c' ? 'qcow2' : format;
          await checkSame(ctx, `${format}: copy by ${tool}`, image, format, f, fmt);
        }
      }
    }
    await rm(repDir, { recursive: true, force: true });
  }
  return result;
}

async function checkSame(
  ctx: RunContext,
  what: string,
  original: string,
  format: Format,
  copy: string,
  copyFormat: Format = format,
): Promise<void> {
  try {
    await created.track(() =>
      run('qemu-img', ['compare', '-q', '-f', format, '-F', copyFormat, original, copy]),
    );
    ctx.checks.push({ what, ok: true, detail: 'qemu-img compare: identical' });
  } catch (err) {
    ctx.checks.push({ what, ok: false, detail: errorText(err) });
    log(`check FAILED: ${what}: ${errorText(err)}`);
  }
}

async function undefineRestored(conn: Connection, name: string): Promise<void> {
  try {
    const dom = await conn.lookupDomain(name);
    await dom.undefine(DomainUndefine.SNAPSHOTS_METADATA | DomainUndefine.CHECKPOINTS_METADATA);
    created.domains.splice(created.domains.indexOf(name), 1);
  } catch (err) {
    log(`could not undefine ${name} now (cleanup tries again): ${errorText(err)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const med = (xs: number[]): number => median(xs);
const secs = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '—');
const mib = (x: number): string => (Number.isFinite(x) ? (x / MiB).toFixed(1) : '—');
const ratio = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}x` : '—');

function timeCells(samples: Sample[]): { t: number; durable: number; cells: string[] } {
  const t = med(samples.map((s) => s.seconds));
  const durable = med(samples.map((s) => s.seconds + s.syncSeconds));
  const min = Math.min(...samples.map((s) => s.seconds));
  const max = Math.max(...samples.map((s) => s.seconds));
  const cpu = samples.every((s) => s.cpuSeconds !== null)
    ? secs(med(samples.map((s) => s.cpuSeconds as number)))
    : '—';
  const rss = samples.every((s) => s.maxRssMiB !== null)
    ? med(samples.map((s) => s.maxRssMiB as number)).toFixed(0)
    : '—';
  return {
    t,
    durable,
    cells: [String(samples.length), secs(t), `${secs(min)}–${secs(max)}`, secs(durable), cpu, rss],
  };
}

interface TargetLine {
  target: string;
  met: boolean;
  detail: string;
}

function formatReport(cfg: Config, r: FormatResult, targets: TargetLine[]): string {
  const out: string[] = [];
  out.push(
    `### ${r.format}: ${formatSize(cfg.virtualSize)} virtual, image ${mib(r.imageSize.allocated)} MiB allocated (\`${r.vm}\`)`,
    '',
  );
  const base = r.backups['brankas'];
  const baseT = base ? med(base.map((s) => s.seconds)) : NaN;
  const baseD = base ? med(base.map((s) => s.seconds + s.syncSeconds)) : NaN;
  const baseS = base ? med(base.map((s) => s.allocated)) : NaN;
  const rows: string[][] = [];
  for (const tool of BACKUP_TOOLS) {
    const samples = r.backups[tool];
    if (!samples) continue;
    const { t, durable, cells } = timeCells(samples);
    const stored = med(samples.map((s) => s.allocated));
    rows.push([
      LABEL[tool] as string,
      ...cells,
      mib(stored),
      ratio(t / baseT),
      ratio(durable / baseD),
      ratio(stored / baseS),
    ]);
  }
  out.push(
    'Backup (medians; ratios are tool ÷ brankas plain: above 1 means brankas is faster or smaller):',
    '',
  );
  out.push(
    markdownTable(
      [
        'tool',
        'n',
        'time s',
        'min–max s',
        '+ sync s',
        'CPU s',
        'peak RSS MiB',
        'stored MiB (du)',
        'time ÷ brankas',
        '+ sync ÷ brankas',
        'stored ÷ brankas',
      ],
      rows,
      ['left', ...Array<'right'>(10).fill('right')],
    ),
    '',
  );

  const secondRows: string[][] = [];
  for (const tool of ['brankas', 'brankas-aes'] as const) {
    const s = r.second[tool];
    if (!s) continue;
    secondRows.push([
      LABEL[tool] as string,
      secs(med(s.map((x) => x.seconds))),
      String(med(s.map((x) => x.addedAllocated))),
      String(med(s.map((x) => x.addedApparent))),
      String(med(s.map((x) => x.newStoredBytes))),
    ]);
  }
  if (secondRows.length > 0) {
    out.push('Second backup of the unchanged VM (medians):', '');
    out.push(
      markdownTable(
        [
          'tool',
          'time s',
          'repository growth, du -B1 bytes',
          'growth, apparent bytes',
          'new chunk bytes (brankas)',
        ],
        secondRows,
        ['left', 'right', 'right', 'right', 'right'],
      ),
      '',
    );
  }

  const rb = r.restores['brankas'];
  const rbT = rb ? med(rb.map((s) => s.seconds)) : NaN;
  const rbD = rb ? med(rb.map((s) => s.seconds + s.syncSeconds)) : NaN;
  const restoreRows: string[][] = [];
  for (const tool of RESTORE_TOOLS) {
    const samples = r.restores[tool];
    if (!samples) continue;
    const { t, durable, cells } = timeCells(samples);
    restoreRows.push([
      LABEL[tool] as string,
      ...cells,
      mib(med(samples.map((s) => s.allocated))),
      ratio(t / rbT),
      ratio(durable / rbD),
    ]);
  }
  if (restoreRows.length > 0) {
    out.push('Restore (medians; ratios are tool ÷ brankas plain):', '');
    out.push(
      markdownTable(
        [
          'tool',
          'n',
          'time s',
          'min–max s',
          '+ sync s',
          'CPU s',
          'peak RSS MiB',
          'written MiB (du)',
          'time ÷ brankas',
          '+ sync ÷ brankas',
        ],
        restoreRows,
        ['left', ...Array<'right'>(9).fill('right')],
      ),
      '',
    );
  }

  // Target (issue #15): brankas into S3 at least twice restic's speed into the same server.
  for (const [mine, peer, what] of [
    [r.backups['brankas-s3'], r.backups['restic-s3'], 'backup'],
    [r.restores['brankas-s3'], r.restores['restic-s3'], 'restore'],
  ] as const) {
    if (!mine || !peer) continue;
    const mt = med(mine.map((s) => s.seconds));
    const pt = med(peer.map((s) => s.seconds));
    targets.push({
      target: `${r.format}: brankas ${what} into S3 at least 2x restic's speed (same s3rver)`,
      met: pt / mt >= 2,
      detail: `${secs(mt)} s vs ${secs(pt)} s (${ratio(pt / mt)})`,
    });
  }

  // Targets (issue #4), for each brankas repository kind.
  for (const b of ['brankas', 'brankas-aes'] as const) {
    const mine = r.backups[b];
    if (!mine) continue;
    const mt = med(mine.map((s) => s.seconds));
    const md = med(mine.map((s) => s.seconds + s.syncSeconds));
    const ms = med(mine.map((s) => s.allocated));
    for (const peer of BACKUP_TOOLS) {
      const ps = r.backups[peer];
      if (!ps || peer.startsWith('brankas')) continue;
      const pt = med(ps.map((s) => s.seconds));
      const pd = med(ps.map((s) => s.seconds + s.syncSeconds));
      targets.push({
        target: `${r.format}: ${b} backup faster than ${peer}`,
        met: md < pd,
        detail: `${secs(mt)} s vs ${secs(pt)} s as returned (${ratio(pt / mt)}), ${secs(md)} s vs ${secs(pd)} s durable (${ratio(pd / md)})`,
      });
      if (peer === 'qemu-img-c' || peer === 'virtnbdbackup-z') {
        const pz = med(ps.map((s) => s.allocated));
        targets.push({
          target: `${r.format}: ${b} stores less than ${peer}`,
          met: ms < pz,
          detail: `${mib(ms)} MiB vs ${mib(pz)} MiB (${ratio(pz / ms)})`,
        });
      }
    }
    const second = r.second[b];
    if (second) {
      const added = med(second.map((s) => s.addedAllocated));
      targets.push({
        target: `${r.format}: ${b} second backup adds < 1 MiB`,
        met: added < MiB,
        detail: `${added} bytes (du -B1), ${med(second.map((s) => s.addedApparent))} apparent`,
      });
    }
    const rs = r.restores[b];
    if (rs) {
      const rt = med(rs.map((s) => s.seconds));
      const rd = med(rs.map((s) => s.seconds + s.syncSeconds));
      for (const peer of ['virtnbdrestore'] as const) {
        const ps = r.restores[peer];
        if (!ps) continue;
        const pt = med(ps.map((s) => s.seconds));
        const pd = med(ps.map((s) => s.seconds + s.syncSeconds));
        targets.push({
          target: `${r.format}: ${b} restore faster than ${peer}`,
          met: rd < pd,
          detail: `${secs(rt)} s vs ${secs(pt)} s as returned (${ratio(pt / rt)}), ${secs(rd)} s vs ${secs(pd)} s durable (${ratio(pd / rd)})`,
        });
      }
    }
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  const cfg = configOrExit(readConfig, USAGE);
  if (typeof cfg === 'number') return cfg;
  if (!existsSync(cliPath())) {
    process.stderr.write(`${cliPath()} is missing: run npx tsc -p tsconfig.json first\n`);
    return 2;
  }
  created.installHandlers(cfg.uri);
  const date = new Date();
  const started = performance.now();
  try {
    if (
      cfg.tools.some((t) => t.startsWith('virtnbdbackup')) &&
      !(await commandExists('virtnbdbackup'))
    ) {
      log('virtnbdbackup is missing: apt-get install -y virtnbdbackup…');
      await run('apt-get', ['install', '-y', 'virtnbdbackup'], {
        ...process.env,
        DEBIAN_FRONTEND: 'noninteractive',
      });
    }
    if (cfg.tools.includes('restic-s3') && !(await commandExists('restic'))) {
      log('restic is missing: apt-get install -y restic…');
      await run('apt-get', ['install', '-y', 'restic'], {
        ...process.env,
        DEBIAN_FRONTEND: 'noninteractive',
      });
    }
    if (cfg.tools.some(isS3)) {
      s3Server = await startS3Server();
      log(`s3rver on ${s3Server.endpoint}, bucket ${s3Server.bucket}`);
    }
    const conn = await created.connect(cfg.uri);
    const machine: Machine = await describeMachine(conn, { qemuImg: true });
    const versions = {
      brankas: await brankasRevision(),
      virtnbdbackup: await version('virtnbdbackup', ['-V'], /(\d+\.\d+\.\d+)/),
      coreutils: await version('cp', ['--version'], /(\d+\.\d+)/),
      restic: cfg.tools.includes('restic-s3')
        ? await version('restic', ['version'], /restic (\d+\.\d+\.\d+)/)
        : null,
      s3rver: s3Server ? await s3rverVersion() : null,
    };
    const runId = randomBytes(4).toString('hex');
    created.tmpDir = await mkdtemp(join(cfg.dir, `${PREFIX}cold-${runId}-`));
    const tmp = created.tmpDir;
    timeFile = join(tmp, 'time.out');
    const passwordFile = join(tmp, 'password');
    await writeFile(passwordFile, 'brankas-bench-password\n', { mode: 0o600 });
    const ctx: RunContext = { cfg, runId, tmp, passwordFile, checks: [], dropsPermitted: null };
    if (s3Server) {
      ctx.s3 = {
        server: s3Server,
        env: {
          AWS_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
          RESTIC_PASSWORD: 'brankas-bench-password',
        },
      };
    }

    const rawImage = join(tmp, `${PREFIX}${runId}-raw.raw`);
    log(
      `writing ${formatSize(cfg.dataSize)} of data into a ${formatSize(cfg.virtualSize)} sparse raw image…`,
    );
    const data = await created.track(() => writeRawImage(rawImage, cfg, 1));
    log(
      `  ${data.pieces} pieces, ${formatSize(data.randomBytes)} random, ${formatSize(data.textBytes)} text, in ${data.seconds.toFixed(1)} s`,
    );

    const results: FormatResult[] = [];
    for (const format of cfg.formats)
      results.push(await measureFormat(ctx, conn, format, rawImage));
    machine.loadAverageEnd = loadavg();
    const minutes = (performance.now() - started) / 60_000;

    const targets: TargetLine[] = [];
    const sections = results.map((r) => formatReport(cfg, r, targets));
    const lines: string[] = [
      '## Cold backup of a shut-off VM: brankas vs cp, qemu-img and virtnbdbackup',
      '',
      ...machineLines(machine, date),
      `- brankas ${versions.brankas} (the compiled dist/ is what runs), libvirt ${machine.libvirtDaemon}, ${machine.hypervisor}, qemu-img ${machine.qemuImg ?? '?'}, virtnbdbackup ${versions.virtnbdbackup}, coreutils ${versions.coreutils}${versions.restic ? `, restic ${versions.restic}` : ''}${versions.s3rver ? `, s3rver ${versions.s3rver} (in the benchmark's process, on 127.0.0.1: a JavaScript server, far slower than a real object store; compare ratios)` : ''}`,
      loadAverageLine(machine),
      `- data: ${formatSize(cfg.dataSize)} in a ${formatSize(cfg.virtualSize)} disk: ${formatSize(data.randomBytes)} random (AES-CTR keystream), ${formatSize(data.textBytes)} text-like log lines, in ${data.pieces} pieces of 64 KiB–4 MiB at 64 KiB-aligned offsets (gaps ${formatSize(data.smallestGap)}–${formatSize(data.largestGap)}); sha256 of the data ${data.sha256.slice(0, 16)}…`,
      `- brankas repositories: ${cfg.compression === null ? 'zstd level 1 (the default)' : cfg.compression === 'none' ? 'uncompressed (`repo init --compression none`)' : `zstd level ${cfg.compression} (\`repo init --compression-level ${cfg.compression}\`)`}`,
      `- ${cfg.reps} repetition(s), tools in rotating order; page cache: ${cfg.dropCaches ? `dropped before every timed command (${ctx.dropsPermitted === false ? 'REFUSED by the kernel' : 'permitted'})` : 'warm (images and outputs fit in RAM; not dropped)'}`,
      `- whole run: ${minutes.toFixed(1)} min`,
      '',
      ...sections,
      'Targets (issue #4; "faster" judged on time until durable, i.e. + sync):',
      '',
      ...targets.map((t) => `- ${t.met ? 'met' : 'MISSED'}: ${t.target}: ${t.detail}`),
      '',
      'Checks:',
      '',
      ...ctx.checks.map((c) => `- ${c.ok ? 'ok' : 'FAILED'}: ${c.what}: ${c.detail}`),
      '',
      'Commands:',
      '',
      ...[
        ...new Set(
          results.flatMap((r) => Object.entries(r.commands).map(([k, v]) => `- ${k}: \`${v}\``)),
        ),
      ],
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    if (cfg.json) {
      await writeJson(cfg.json, {
        date: date.toISOString(),
        config: cfg,
        machine,
        versions,
        data,
        dropCachesPermitted: ctx.dropsPermitted,
        minutes,
        results,
        targets,
        checks: ctx.checks,
      });
    }
    return ctx.checks.some((c) => !c.ok) ? 1 : 0;
  } finally {
    await created.cleanup(cfg.uri);
    await s3Server?.cleanup();
  }
}

async function s3rverVersion(): Promise<string> {
  const pkg = join(repoRoot(), 'node_modules', 's3rver', 'package.json');
  return (JSON.parse(await readFile(pkg, 'utf8')) as { version?: string }).version ?? '?';
}

/** The S3 server of the -s3 tools, when they run. */
let s3Server: S3TestServer | undefined;

runMain(main);
