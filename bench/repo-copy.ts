// Benchmark (issue #15): `repo copy` of 1 full backup and N incrementals into an S3 bucket: the
// bytes sent against the unique data, and the time.
//
//   npx tsc -p tsconfig.json && node dist/bench/repo-copy.js [options]
//
// A local source repository gets a full backup of one disk of --full bytes (4 MiB pieces, text
// and incompressible random by turns, as bench/mixed-data.ts makes them), then --incrementals
// backups, each with --change bytes rewritten (1 MiB pieces at random 256 KiB-aligned offsets;
// the backup is given those ranges, as a dirty bitmap would). Each pair of repositories in
// --modes is then copied with the library's copyRepository, in one run, into a fresh prefix of
// a bucket on s3rver (the S3-protocol server the tests use, run in this process on 127.0.0.1)
// reached through a loopback front that counts the bytes of every request body (what went over
// the wire to the server): `aes` is encrypted → encrypted (different keys: chunks read and
// re-encrypted), `plain` unencrypted → unencrypted (shared ids). A second copy is run to show
// what a copy that has nothing to do sends. Every copied backup is then read back from the
// bucket and compared with the source data (outside the timing).
//
// s3rver is a JavaScript server that writes every object to its own directory and parses XML on
// the same CPUs: its speed is not a real object store's; the ratios are what carry over.
//
// This is a measurement, not a test: nothing here asserts a speed.

import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { copyRepository } from '../src/engine/copy/repo-copy.js';
import { LocalBackend } from '../src/repo/backend/local.js';
import { S3Backend } from '../src/repo/backend/s3.js';
import { startS3FaultFront } from '../src/repo/backend/testing/s3-faults.js';
import { S3_TEST_CREDENTIALS, startS3Server } from '../src/repo/backend/testing/s3-server.js';
import type { Backend } from '../src/repo/backend/types.js';
import { TEST_KDF } from '../src/repo/keys.js';
import { BackupDisk } from '../src/repo/reader.js';
import { Repository } from '../src/repo/repository.js';
import { bufferSource } from '../src/repo/source.js';
import { repoStats } from '../src/repo/stats.js';
import { BackupWriter } from '../src/repo/writer.js';
import { prng as rng } from '../src/util/testing/index.js';
import { configOrExit, log, runMain } from './fixture.js';
import { randomStream, TextSource } from './mixed-data.js';
import { formatRatio, formatSize, numbersTable, parseSize } from './stats.js';

const USAGE = `usage: node dist/bench/repo-copy.js [options]

  --full SIZE         data of the full backup          (default 512M, $BENCH_FULL)
  --change SIZE       data rewritten per incremental   (default 50M, $BENCH_CHANGE)
  --incrementals N    incremental backups              (default 4, $BENCH_INCREMENTALS)
  --modes LIST        aes,plain                        (default both, $BENCH_MODES)
  --dir DIR           temporary directory's parent     (default /var/tmp, $BENCH_DIR)
  -h, --help          this text
`;

// As the executable does: the AWS SDK's notice about Node versions is not a result.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

const KiB = 1024;
const MiB = 1024 * KiB;
const PASSWORD = 'bench password';

type Mode = 'aes' | 'plain';

interface Config {
  full: number;
  change: number;
  incrementals: number;
  modes: Mode[];
  dir: string;
}

function readConfig(): Config | null {
  const { values } = parseArgs({
    options: {
      full: { type: 'string' },
      change: { type: 'string' },
      incrementals: { type: 'string' },
      modes: { type: 'string' },
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return null;
  const env = process.env;
  const full = parseSize(values.full ?? env['BENCH_FULL'] ?? '512M');
  const change = parseSize(values.change ?? env['BENCH_CHANGE'] ?? '50M');
  const incrementals = Number(values.incrementals ?? env['BENCH_INCREMENTALS'] ?? '4');
  const modes = (values.modes ?? env['BENCH_MODES'] ?? 'aes,plain').split(',') as Mode[];
  if (full % MiB || change % MiB || change > full) throw new Error('sizes: MiB multiples');
  if (!modes.every((m) => m === 'aes' || m === 'plain')) throw new Error('--modes: aes,plain');
  if (!(incrementals >= 0)) throw new Error('--incrementals: a number');
  return { full, change, incrementals, modes, dir: values.dir ?? env['BENCH_DIR'] ?? '/var/tmp' };
}

/** The disk's versions: the full data, then each incremental's changed ranges applied. */
function* versions(
  cfg: Config,
): Generator<{ data: Buffer; changed: { offset: number; length: number }[] }> {
  const text = new TextSource(15);
  const random = randomStream(15);
  const data = Buffer.allocUnsafe(cfg.full);
  for (let at = 0, i = 0; at < cfg.full; at += 4 * MiB, i++) {
    const piece = data.subarray(at, Math.min(cfg.full, at + 4 * MiB));
    if (i % 2 === 0) text.fill(piece);
    else random(piece);
  }
  yield { data, changed: [] };
  const r = rng(16);
  for (let n = 0; n < cfg.incrementals; n++) {
    const changed: { offset: number; length: number }[] = [];
    const used = new Set<number>();
    while (changed.length < cfg.change / MiB) {
      const offset = Math.floor((r() * (cfg.full - MiB)) / (256 * KiB)) * 256 * KiB;
      if (used.has(offset)) continue;
      used.add(offset);
      const piece = data.subarray(offset, offset + MiB);
      if (changed.length % 2 === 0) text.fill(piece);
      else random(piece);
      changed.push({ offset, length: MiB });
    }
    yield { data, changed };
  }
}

async function open(backend: Backend, encrypted: boolean): Promise<Repository> {
  await Repository.init(backend, { password: encrypted ? PASSWORD : undefined, kdf: TEST_KDF });
  return Repository.open(backend, { password: encrypted ? PASSWORD : undefined });
}

interface ModeResult {
  mode: Mode;
  uniquePlain: number;
  sourceStored: number;
  rows: string[][];
  sent: number;
  seconds: number;
  secondSent: number;
  secondSeconds: number;
  /** The same copy into a local directory, for scale. */
  localSeconds: number;
}

async function measure(cfg: Config, mode: Mode, tmp: string): Promise<ModeResult> {
  const encrypted = mode === 'aes';
  const source = await open(new LocalBackend(join(tmp, `source-${mode}`)), encrypted);
  const ids: string[] = [];
  const sums: Buffer[] = [];
  try {
    log(`${mode}: writing the source backups…`);
    let parent: string | null = null;
    for (const v of versions(cfg)) {
      const w = await BackupWriter.start(source, { vm: { name: 'bench' }, parent });
      await w.addDisk({
        name: 'vda',
        source: bufferSource(v.data),
        ...(parent ? { changedRanges: v.changed } : {}),
      });
      parent = (await w.commit()).id;
      ids.push(parent);
      sums.push(hash(v.data));
    }
    const stats = await repoStats(source);
    const local = await open(new LocalBackend(join(tmp, `target-${mode}`)), encrypted);
    const t0 = performance.now();
    try {
      await copyRepository(source, local);
    } finally {
      await local.close();
    }
    const localSeconds = (performance.now() - t0) / 1000;
    const server = await startS3Server();
    const front = await startS3FaultFront(server.endpoint);
    try {
      const location = `s3:${front.endpoint}/${server.bucket}/copy-${mode}`;
      const s3 = (): Backend => new S3Backend(location, { credentials: S3_TEST_CREDENTIALS });
      const target = await open(s3(), encrypted);
      try {
        const before = front.bytes.sent;
        const started = performance.now();
        const result = await copyRepository(source, target);
        const seconds = (performance.now() - started) / 1000;
        const sent = front.bytes.sent - before;
        const again = front.bytes.sent;
        const t2 = performance.now();
        await copyRepository(source, target);
        const secondSeconds = (performance.now() - t2) / 1000;
        const secondSent = front.bytes.sent - again;
        log(`${mode}: reading the copies back from the bucket…`);
        for (const [i, id] of ids.entries()) {
          const d = await BackupDisk.open(target, id, 'vda');
          try {
            const got = await d.read(0, d.virtualSize);
            if (!hash(got).equals(sums[i]!)) throw new Error(`backup ${id} differs in the copy`);
          } finally {
            await d.close();
          }
        }
        const rows = result.copied.map((c, i) => [
          i === 0 ? 'full' : `incremental ${i}`,
          formatSize(i === 0 ? cfg.full : cfg.change),
          formatSize(c.readBytes),
          String(c.newChunks),
          formatSize(c.newStoredBytes),
        ]);
        return {
          mode,
          uniquePlain: cfg.full + cfg.incrementals * cfg.change,
          sourceStored: stats.totalBytes,
          rows,
          sent,
          seconds,
          secondSent,
          secondSeconds,
          localSeconds,
        };
      } finally {
        await target.close();
      }
    } finally {
      await front.close();
      await server.cleanup();
    }
  } finally {
    await source.close();
  }
}

function hash(b: Buffer): Buffer {
  return createHash('sha256').update(b).digest();
}

async function main(): Promise<number> {
  const cfg = configOrExit(readConfig, USAGE);
  if (typeof cfg === 'number') return cfg;
  const tmp = await mkdtemp(join(cfg.dir, 'brankas-bench-copy-'));
  try {
    const results: ModeResult[] = [];
    for (const mode of cfg.modes) results.push(await measure(cfg, mode, tmp));
    console.log(
      `repo copy of 1 full (${formatSize(cfg.full)}) + ${cfg.incrementals} incrementals ` +
        `(${formatSize(cfg.change)} each) into s3rver on 127.0.0.1\n`,
    );
    for (const r of results) {
      console.log(
        `### ${r.mode === 'aes' ? 'encrypted → encrypted (different keys)' : 'unencrypted → unencrypted (shared ids)'}\n`,
      );
      console.log(
        numbersTable(['backup', 'changed', 'read from source', 'new chunks', 'stored new'], r.rows),
      );
      console.log('');
      console.log(
        numbersTable(
          ['', 'bytes', 'ratio'],
          [
            ['unique data (plaintext)', formatSize(r.uniquePlain), '1.00x'],
            [
              'source repository (stored)',
              formatSize(r.sourceStored),
              formatRatio(r.sourceStored / r.uniquePlain),
            ],
            [
              'sent to S3 (request bodies)',
              formatSize(r.sent),
              formatRatio(r.sent / r.uniquePlain),
            ],
            ['sent / source stored', '', formatRatio(r.sent / r.sourceStored)],
            ['second copy: sent', formatSize(r.secondSent), ''],
          ],
        ),
      );
      console.log(
        `\ncopy: ${r.seconds.toFixed(1)} s (${formatSize(r.uniquePlain / r.seconds)}/s of unique data); ` +
          `second copy ${r.secondSeconds.toFixed(2)} s; the same copy into a local directory ` +
          `${r.localSeconds.toFixed(1)} s\n`,
      );
    }
    return 0;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

runMain(main);
