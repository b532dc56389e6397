/**
 * The repository benchmark (issue 5): ingest realistic data (default: the
 * first 1 GiB of a tar of /usr) with and without encryption, ingest it again
 * (the deduplication path), read it back; then 200 scattered 256 KiB writes
 * and a new backup, for chunk sizes 64 KiB to 4 MiB; restic and borg (Debian
 * packages) on the same data in the same run. Every brankas step runs in its
 * own child process so that its peak memory (max RSS) is its own.
 *
 *   node dist/bench/repo-ingest.js [FILE]
 *   BENCH_SIZE=1073741824 BENCH_WRITES=200 BENCH_DIR=/tmp/brankas-bench BENCH_PEERS=restic,borg
 *   BENCH_WORKERS=2 (worker threads for brankas; the run also measures 0 and 1)
 *   BENCH_LEVELS=none,3,4 (repository compression settings measured besides the default)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readSync,
  rmSync,
  statSync,
  readFileSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalBackend } from '../src/repo/backend/local.js';
import { TEST_KDF } from '../src/repo/keys.js';
import { BackupDisk } from '../src/repo/reader.js';
import { Repository } from '../src/repo/repository.js';
import type { ExtentSource } from '../src/repo/source.js';
import { BackupWriter } from '../src/repo/writer.js';
import { prng as rng } from '../src/util/testing/index.js';
import { numbersTable } from './stats.js';

const MiB = 1024 * 1024;
const SIZE = Number(process.env['BENCH_SIZE'] ?? 1024 * MiB);
const WRITES = Number(process.env['BENCH_WRITES'] ?? 200);
const WRITE_SIZE = 256 * 1024;
const DIR = process.env['BENCH_DIR'] ?? '/tmp/brankas-bench';
const WORKERS = Number(process.env['BENCH_WORKERS'] ?? 2);
const PEERS = (process.env['BENCH_PEERS'] ?? 'restic,borg').split(',').filter(Boolean);
/** Compression settings measured besides the default (zstd level 1): `none` or zstd levels. */
const LEVELS = (process.env['BENCH_LEVELS'] ?? 'none,3,4').split(',').filter(Boolean);
const PASSWORD = 'bench-password';
const SELF = fileURLToPath(import.meta.url);

interface StepResult {
  seconds: number;
  cpuSeconds?: number;
  bytes: number;
  maxRssMiB: number;
  note?: string;
}

/** A file as an ExtentSource: all data, read with pread. */
async function fileSource(path: string): Promise<ExtentSource & { close(): Promise<void> }> {
  const fh = await open(path, 'r');
  const size = (await fh.stat()).size;
  return {
    virtualSize: size,
    async *extents() {
      yield { offset: 0, length: size, kind: 'data' as const };
    },
    async read(offset, length) {
      const b = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) got += (await fh.read(b, got, length - got, offset + got)).bytesRead;
      return b;
    },
    // As the disk readers do: the writer reads straight into its shared slots.
    async readInto(target, at, offset, length) {
      let got = 0;
      while (got < length) {
        const n = (await fh.read(target, at + got, length - got, offset + got)).bytesRead;
        if (n === 0) throw new Error(`${path} ends before ${offset + length}`);
        got += n;
      }
    },
    close: () => fh.close(),
  };
}

function dirBytes(path: string): number {
  return Number(execFileSync('du', ['-sb', path]).toString().split('\t')[0]);
}

// ---- child: one brankas step -------------------------------------------------------------

async function child(args: string[]): Promise<void> {
  const [step, repoDir, file, workersArg, extra, rangesFile] = args;
  const workers = Number(workersArg);
  const t0 = process.hrtime.bigint();
  let bytes = 0;
  let note = '';
  if (step === 'init') {
    // encrypted:chunkSize[:compression], compression `none` or a zstd level
    const [encrypted, chunk, compression] = (extra ?? '').split(':');
    const backend = new LocalBackend(repoDir!);
    try {
      await Repository.init(backend, {
        password: encrypted === '1' ? PASSWORD : undefined,
        chunkSize: Number(chunk),
        kdf: TEST_KDF,
        ...(compression === 'none'
          ? { compression: 'none' as const }
          : compression
            ? { compressionLevel: Number(compression) }
            : {}),
      });
    } finally {
      await backend.close();
    }
  } else {
    const repo = await Repository.open(new LocalBackend(repoDir!), { password: PASSWORD, workers });
    try {
      if (step === 'ingest') {
        const parent = extra || null;
        const src = await fileSource(file!);
        const w = await BackupWriter.start(repo, { vm: { name: 'bench' }, parent });
        const changedRanges = rangesFile
          ? (JSON.parse(readFileSync(rangesFile, 'utf8')) as { offset: number; length: number }[])
          : undefined;
        const d = await w.addDisk({ name: 'vda', source: src, changedRanges });
        const m = await w.commit();
        await src.close();
        bytes = src.virtualSize;
        note = JSON.stringify({ id: m.id, newStored: d.newStoredBytes, newChunks: d.newChunks });
      } else if (step === 'read') {
        // Compared with the original as it goes (memcmp, not a hash: the reader's own
        // verification is what is measured).
        const disk = await BackupDisk.open(repo, extra!, 'vda');
        const orig = await fileSource(file!);
        const step8 = 8 * MiB;
        let same = orig.virtualSize === disk.virtualSize;
        for (let o = 0; o < disk.virtualSize; o += step8) {
          const n = Math.min(step8, disk.virtualSize - o);
          const [got, want] = await Promise.all([disk.read(o, n), orig.read(o, n)]);
          same &&= got.equals(want);
        }
        await disk.close();
        await orig.close();
        bytes = disk.virtualSize;
        note = same ? 'identical' : 'MISMATCH';
      }
    } finally {
      await repo.close();
    }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const ru = process.resourceUsage();
  const maxRssMiB = ru.maxRSS / 1024;
  const cpuSeconds = (ru.userCPUTime + ru.systemCPUTime) / 1e6;
  process.stdout.write(JSON.stringify({ seconds, bytes, maxRssMiB, cpuSeconds, note }) + '\n');
}

function runChild(...args: string[]): StepResult {
  const r = spawnSync(process.execPath, [SELF, '--child', ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) throw new Error(`brankas step ${args[0]} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as StepResult;
}

// ---- peers ----------------------------------------------------------------------------------

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): StepResult {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    cwd,
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  const [secs, kb] = r.stderr.trim().split('\n').pop()!.split(' ');
  return { seconds: Number(secs), bytes: 0, maxRssMiB: Number(kb) / 1024 };
}

// ---- main -------------------------------------------------------------------------------------

function prepareData(): { original: string; changed: string; rangesFile: string } {
  mkdirSync(DIR, { recursive: true });
  const given = process.argv[2];
  const original = given ?? join(DIR, 'usr.tar');
  if (given !== undefined) {
    // A file named by the user is only ever read.
    if (given.startsWith('-') || !existsSync(given) || statSync(given).size < SIZE) {
      process.stderr.write(
        `usage: node dist/bench/repo-ingest.js [FILE]: FILE must exist and hold at least ${SIZE} bytes (BENCH_SIZE)\n`,
      );
      process.exit(2);
    }
  } else if (!existsSync(original) || statSync(original).size < SIZE) {
    execFileSync('bash', ['-c', `tar cf - /usr 2>/dev/null | head -c ${SIZE} > ${original}`]);
  }
  const changed = join(DIR, 'usr-changed.tar');
  copyFileSync(original, changed);
  const size = statSync(original).size;
  const random = rng(1);
  const fd = openSync(changed, 'r+');
  const src = openSync(original, 'r');
  const buf = Buffer.alloc(WRITE_SIZE);
  const ranges: { offset: number; length: number }[] = [];
  for (let i = 0; i < WRITES; i++) {
    const at = Math.floor((random() * (size - WRITE_SIZE)) / 4096) * 4096;
    const from = Math.floor((random() * (size - WRITE_SIZE)) / 4096) * 4096 + 512;
    readSync(src, buf, 0, WRITE_SIZE, from);
    writeAt(fd, buf, at);
    ranges.push({ offset: at, length: WRITE_SIZE });
  }
  closeSync(fd);
  closeSync(src);
  const rangesFile = join(DIR, 'changed-ranges.json');
  writeFileSync(rangesFile, JSON.stringify(ranges));
  return { original, changed, rangesFile };
}

function writeAt(fd: number, buf: Buffer, at: number): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, at + done);
}

const SCATTERED_HEAD = [
  'tool',
  'first ingest s',
  'stored MiB',
  'after writes s',
  'added MiB',
  'after writes, dirty bitmap s',
  'peak RSS MiB',
];
const mbps = (r: StepResult, bytes = SIZE): string => (bytes / MiB / r.seconds).toFixed(0);
const mib = (n: number): string => (n / MiB).toFixed(1);

async function main(): Promise<void> {
  const { original, changed, rangesFile } = prepareData();
  const size = statSync(original).size;
  const rows: string[][] = [];
  const add = (tool: string, step: string, r: StepResult, stored: string, extra = ''): void => {
    rows.push([
      tool,
      step,
      r.seconds.toFixed(2),
      mbps(r, size),
      stored,
      r.maxRssMiB.toFixed(0),
      extra,
    ]);
  };
  const fresh = (name: string): string => {
    const p = join(DIR, name);
    rmSync(p, { recursive: true, force: true });
    return p;
  };

  // brankas, default chunk size, encrypted and plain.
  for (const encrypted of [true, false]) {
    const tool = `brankas ${encrypted ? 'aes' : 'plain'}`;
    const repo = fresh(`repo-${encrypted ? 'aes' : 'plain'}`);
    runChild('init', repo, '', '0', `${encrypted ? 1 : 0}:${256 * 1024}`);
    const first = runChild('ingest', repo, original, String(WORKERS));
    const id1 = JSON.parse(first.note!).id as string;
    add(tool, 'ingest', first, mib(dirBytes(repo)));
    const again = runChild('ingest', repo, original, String(WORKERS), id1);
    add(tool, 're-ingest (dedup)', again, `+${mib(JSON.parse(again.note!).newStored)}`);
    writeFileSync(join(DIR, 'no-change.json'), '[]');
    const bitmap = runChild(
      'ingest',
      repo,
      original,
      String(WORKERS),
      id1,
      join(DIR, 'no-change.json'),
    );
    add(
      tool,
      're-ingest, dirty bitmap: no change',
      bitmap,
      `+${mib(JSON.parse(bitmap.note!).newStored)}`,
    );
    const read = runChild('read', repo, original, String(WORKERS), id1);
    add(tool, 'read back', read, '', read.note!);
    rmSync(repo, { recursive: true, force: true });
  }

  // The repository's compression setting: stored size against time (plain repositories).
  for (const level of LEVELS) {
    const tool = `brankas plain, ${level === 'none' ? 'uncompressed' : `zstd level ${level}`}`;
    const repo = fresh('repo-level');
    runChild('init', repo, '', '0', `0:${256 * 1024}:${level}`);
    const first = runChild('ingest', repo, original, String(WORKERS));
    add(tool, 'ingest', first, mib(dirBytes(repo)));
    const read = runChild('read', repo, original, String(WORKERS), JSON.parse(first.note!).id);
    add(tool, 'read back', read, '', read.note!);
    rmSync(repo, { recursive: true, force: true });
  }

  // Do the worker threads pay? The same ingest with 0 (inline), 1 and 2 workers.
  for (const w of [0, 1, 2]) {
    const repo = fresh('repo-workers');
    runChild('init', repo, '', '0', `1:${256 * 1024}`);
    const r = runChild('ingest', repo, original, String(w));
    add(
      'brankas aes',
      `ingest, ${w} worker threads`,
      r,
      mib(dirBytes(repo)),
      `CPU ${r.cpuSeconds!.toFixed(1)} s`,
    );
    rmSync(repo, { recursive: true, force: true });
  }

  // Scattered writes, per chunk size.
  const scattered: string[][] = [];
  for (const cs of [64, 256, 1024, 4096].map((k) => k * 1024)) {
    const repo = fresh('repo-cs');
    runChild('init', repo, '', '0', `1:${cs}`);
    const first = runChild('ingest', repo, original, String(WORKERS));
    const before = dirBytes(repo);
    const firstId = JSON.parse(first.note!).id as string;
    const second = runChild('ingest', repo, changed, String(WORKERS), firstId);
    const added = dirBytes(repo) - before;
    const viaBitmap = runChild('ingest', repo, changed, String(WORKERS), firstId, rangesFile);
    scattered.push([
      `brankas ${cs / 1024} KiB`,
      first.seconds.toFixed(2),
      mib(before),
      second.seconds.toFixed(2),
      mib(added),
      viaBitmap.seconds.toFixed(2),
      Math.max(first.maxRssMiB, second.maxRssMiB, viaBitmap.maxRssMiB).toFixed(0),
    ]);
    rmSync(repo, { recursive: true, force: true });
  }

  // Peers.
  const copies = [original, changed];
  if (PEERS.includes('restic')) {
    const repo = fresh('restic-repo');
    const env = {
      RESTIC_REPOSITORY: repo,
      RESTIC_PASSWORD: PASSWORD,
      RESTIC_CACHE_DIR: join(DIR, 'restic-cache'),
    };
    rmSync(env.RESTIC_CACHE_DIR, { recursive: true, force: true });
    timed('restic', ['init', '-q'], env);
    const work = fresh('restic-src');
    mkdirSync(work);
    const target = join(work, 'disk.img');
    copyFileSync(copies[0]!, target);
    const first = timed('restic', ['backup', '-q', '--host', 'bench', target], env);
    const s1 = dirBytes(repo);
    add('restic 0.14 (zstd auto)', 'ingest', first, mib(s1));
    const again = timed('restic', ['backup', '-q', '--host', 'bench', target], env);
    add('restic 0.14 (zstd auto)', 're-ingest (dedup)', again, `+${mib(dirBytes(repo) - s1)}`);
    const restoreDir = fresh('restic-restore');
    add(
      'restic 0.14 (zstd auto)',
      'read back (restore)',
      timed('restic', ['restore', 'latest', '-q', '--target', restoreDir], env),
      '',
    );
    rmSync(restoreDir, { recursive: true, force: true });
    copyFileSync(copies[1]!, target);
    const s2 = dirBytes(repo);
    const third = timed('restic', ['backup', '-q', '--host', 'bench', target], env);
    scattered.push([
      'restic 0.14 (CDC ~1 MiB)',
      first.seconds.toFixed(2),
      mib(s1),
      third.seconds.toFixed(2),
      mib(dirBytes(repo) - s2),
      '-',
      Math.max(first.maxRssMiB, third.maxRssMiB).toFixed(0),
    ]);
    rmSync(repo, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
  if (PEERS.includes('borg')) {
    const repo = fresh('borg-repo');
    const env = { BORG_PASSPHRASE: PASSWORD, BORG_BASE_DIR: join(DIR, 'borg-base') };
    rmSync(env.BORG_BASE_DIR, { recursive: true, force: true });
    timed('borg', ['init', '-e', 'repokey', repo], env);
    const work = fresh('borg-src');
    mkdirSync(work);
    copyFileSync(copies[0]!, join(work, 'disk.img'));
    const first = timed('borg', ['create', `${repo}::a`, 'disk.img'], env, work);
    const s1 = dirBytes(repo);
    add('borg 1.2 (lz4)', 'ingest', first, mib(s1));
    const again = timed('borg', ['create', `${repo}::b`, 'disk.img'], env, work);
    add('borg 1.2 (lz4)', 're-ingest (dedup)', again, `+${mib(dirBytes(repo) - s1)}`);
    const restoreDir = fresh('borg-restore');
    mkdirSync(restoreDir);
    add(
      'borg 1.2 (lz4)',
      'read back (extract)',
      timed('borg', ['extract', `${repo}::a`], env, restoreDir),
      '',
    );
    rmSync(restoreDir, { recursive: true, force: true });
    copyFileSync(copies[1]!, join(work, 'disk.img'));
    const s2 = dirBytes(repo);
    const third = timed('borg', ['create', `${repo}::c`, 'disk.img'], env, work);
    scattered.push([
      'borg 1.2 (CDC ~2 MiB)',
      first.seconds.toFixed(2),
      mib(s1),
      third.seconds.toFixed(2),
      mib(dirBytes(repo) - s2),
      '-',
      Math.max(first.maxRssMiB, third.maxRssMiB).toFixed(0),
    ]);
    rmSync(repo, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }

  console.log(
    `data: ${original}, ${mib(size)} MiB; ${WRITES} writes of 256 KiB at 4 KiB-aligned random offsets (seed 1); brankas with ${WORKERS} worker threads unless said`,
  );
  console.log();
  console.log(
    numbersTable(['tool', 'step', 'seconds', 'MiB/s', 'stored MiB', 'peak RSS MiB', 'note'], rows),
  );
  console.log();
  console.log(numbersTable(SCATTERED_HEAD, scattered));
  writeFileSync(
    join(DIR, 'repo-ingest.md'),
    [
      numbersTable(
        ['tool', 'step', 'seconds', 'MiB/s', 'stored MiB', 'peak RSS MiB', 'note'],
        rows,
      ),
      '',
      numbersTable(SCATTERED_HEAD, scattered),
    ].join('\n') + '\n',
  );
}

if (process.argv[2] === '--child') await child(process.argv.slice(3));
else await main();
