// Benchmark: one file out of a backup with `brankas files get`, two ways (the host's own ext4
// reader, which reads just the filesystem blocks it needs straight from the repository, and
// `--helper`, a helper VM reading them over NBD), versus the way without it: restore the whole
// disk (the engine's restoreDisk, raw) and take the file out of the restored image (debugfs -R
// dump, as the host cannot loop-mount here). Issue #16 item 3's target: >= 10x.
//
//   npx tsc -p tsconfig.json && node dist/bench/files-get.js [--disk-gib 8] [--fill-gib 2] [--file-mib 100]
//
// The disk is a --disk-gib GiB raw image holding one ext4 filesystem (mkfs.ext4 -d) with the
// --file-mib MiB file wanted and --fill-gib GiB of other random files (the rest is free space:
// holes, which a restore skips, so --fill-gib is what a full restore must read and write).
// It is backed up into an encrypted repository (zstd, default chunk size). The host reader runs
// three times, alternating with the others (its median is reported), the helper and the restore
// once each (a boot and a multi-GiB restore are long enough); the file each way returns is
// checked against the original's sha256. Needs libvirtd (qemu:///system).
// Every file it created is removed at the end, also on error.
//
// This is a measurement, not a test: nothing here asserts a speed.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs, promisify } from 'node:util';
import { getFiles, restoreDisk } from '../src/engine/index.js';
import { openImage } from '../src/image/index.js';
import { Connection } from '../src/libvirt/index.js';
import { LocalBackend } from '../src/repo/backend/local.js';
import { TEST_KDF } from '../src/repo/keys.js';
import { Repository } from '../src/repo/repository.js';
import { BackupWriter } from '../src/repo/writer.js';
import { log, PREFIX, runMain } from './fixture.js';

const exec = promisify(execFile);
const MiB = 2 ** 20;
const PASSWORD = 'bench password';

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await fn();
  return [r, (performance.now() - t0) / 1000];
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      'disk-gib': { type: 'string', default: '8' },
      'fill-gib': { type: 'string', default: '2' },
      'file-mib': { type: 'string', default: '100' },
    },
  });
  const diskGiB = Number(values['disk-gib']);
  const fillGiB = Number(values['fill-gib']);
  const fileMiB = Number(values['file-mib']);
  const dir = await mkdtemp(join('/var/tmp', PREFIX));
  let conn: Connection | undefined;
  let repo: Repository | undefined;
  try {
    log(`making a ${diskGiB} GiB ext4 disk: a ${fileMiB} MiB file and ${fillGiB} GiB of others`);
    const src = join(dir, 'src');
    await mkdir(join(src, 'fill'), { recursive: true });
    await exec('sh', ['-c', `head -c ${fileMiB * MiB} /dev/urandom > ${src}/wanted.bin`]);
    for (let i = 0; i < Math.ceil((fillGiB * 1024) / 256); i++) {
      const mib = Math.min(256, fillGiB * 1024 - i * 256);
      await exec('sh', ['-c', `head -c ${mib * MiB} /dev/urandom > ${src}/fill/f${i}.bin`]);
    }
    const raw = join(dir, 'disk.raw');
    await writeFile(raw, '');
    await truncate(raw, diskGiB * 1024 * MiB);
    await exec('mkfs.ext4', ['-q', '-F', '-d', src, raw]);
    const want = await sha256(join(src, 'wanted.bin'));
    await rm(src, { recursive: true });

    log('backing it up');
    const location = join(dir, 'repo');
    await Repository.init(new LocalBackend(location), { password: PASSWORD, kdf: TEST_KDF });
    repo = await Repository.open(new LocalBackend(location), { password: PASSWORD });
    const w = await BackupWriter.start(repo, { vm: { name: 'bench-files' }, parent: null });
    const img = await openImage(raw, { format: 'raw' });
    try {
      await w.addDisk({ name: 'vda', source: img });
    } finally {
      await img.close();
    }
    const id = (await w.commit()).id;
    await rm(raw);
    conn = await Connection.open('qemu:///system');

    const r = repo;
    const c = conn;
    let n = 0;
    const filesGet = async (helper: boolean): Promise<[number, boolean]> => {
      const to = join(dir, `out-files-${n++}`);
      const [, sec] = await timed(() =>
        getFiles(() => Promise.resolve(c), r, id, ['/wanted.bin'], { to, helper }),
      );
      const ok = (await sha256(join(to, 'wanted.bin'))) === want;
      await rm(to, { recursive: true, force: true });
      return [sec, ok];
    };
    const hostRuns: [number, boolean][] = [];
    log('files get (host reader)');
    hostRuns.push(await filesGet(false));
    log('files get --helper (helper VM)');
    const [helperSec, helperOk] = await filesGet(true);
    log('files get (host reader)');
    hostRuns.push(await filesGet(false));

    log('full restore, then debugfs dump');
    const restored = join(dir, 'restored.raw');
    const [, restoreSec] = await timed(async () => {
      await restoreDisk(r, id, 'vda', restored, { format: 'raw', force: true, noSpaceCheck: true });
      await exec('debugfs', ['-R', `dump /wanted.bin ${join(dir, 'out-restore.bin')}`, restored]);
    });
    const restoreOk = (await sha256(join(dir, 'out-restore.bin'))) === want;
    await rm(restored, { force: true });
    log('files get (host reader)');
    hostRuns.push(await filesGet(false));

    const hostSecs = hostRuns.map(([s]) => s).sort((a, b) => a - b);
    const hostSec = hostSecs[1]!;
    const hostOk = hostRuns.every(([, ok]) => ok);
    const filesOk = hostOk && helperOk;
    const rows = [
      ['way', 'seconds', 'same bytes'],
      [
        'files get (host reader)',
        `${hostSec.toFixed(2)} (${hostSecs.map((x) => x.toFixed(2)).join(', ')})`,
        String(hostOk),
      ],
      ['files get --helper (VM)', helperSec.toFixed(1), String(helperOk)],
      ['restore disk + debugfs dump', restoreSec.toFixed(1), String(restoreOk)],
    ];
    process.stdout.write(
      `one ${fileMiB} MiB file out of a ${diskGiB} GiB disk holding ${fillGiB} GiB of other data\n` +
        rows.map((row) => row.map((v, i) => v.padEnd(i === 0 ? 30 : 26)).join('')).join('\n') +
        `\nfiles get (host reader) is ${(restoreSec / hostSec).toFixed(1)}x faster than the restore, ` +
        `${(helperSec / hostSec).toFixed(1)}x faster than --helper\n` +
        `load average: ${loadavg()
          .map((l) => l.toFixed(1))
          .join(' ')}\n`,
    );
    return filesOk && restoreOk ? 0 : 1;
  } finally {
    await repo?.close();
    await conn?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

runMain(main);
