// Benchmark: reading a whole backup's disk through `brankas mount` (the NBD server, chunks
// decrypted, decompressed and verified on demand) with `qemu-img convert -O raw NBD_URI`,
// versus `brankas restore --disk --format raw` of the same backup (the engine's restoreDisk),
// and qemu-nbd serving the source file read the same way (the NBD path's ceiling), side by
// side in one run, taking turns.
//
//   npx tsc -p tsconfig.json && node dist/bench/mount-read.js [--data 256] [--runs 3]
//
// The source is a raw disk of --data MiB: text-like data (it compresses about 3:1) with every
// fourth MiB left a hole, backed up into an encrypted repository (zstd, the default chunk
// size). Outputs are sparse raw files in /dev/shm; the median of --runs after one warm-up is
// reported. Every file it created is removed at the end, also on error.
//
// This is a measurement, not a test: nothing here asserts a speed.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdtemp, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs, promisify } from 'node:util';
import { mountBackup, restoreDisk } from '../src/engine/index.js';
import { openImage } from '../src/image/index.js';
import { LocalBackend } from '../src/repo/backend/local.js';
import { TEST_KDF } from '../src/repo/keys.js';
import { Repository } from '../src/repo/repository.js';
import { BackupWriter } from '../src/repo/writer.js';

const exec = promisify(execFile);
const MiB = 2 ** 20;
const PASSWORD = 'bench password';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Text-like MiBs, every fourth one a hole (the file is sparse there). */
async function source(path: string, mib: number): Promise<void> {
  const words = Array.from({ length: 512 }, () => randomBytes(6).toString('base64url'));
  const f = await open(path, 'w');
  try {
    let line = 0;
    for (let m = 0; m < mib; m++) {
      if (m % 4 === 3) continue;
      const parts: string[] = [];
      let size = 0;
      while (size < MiB) {
        const l = `${new Date(1_700_000_000_000 + line * 1000).toISOString()} host-${line % 17} ${words[line % 512]} ${words[(line * 7) % 512]} request ${line} served in ${line % 997} ms\n`;
        parts.push(l);
        size += l.length;
        line++;
      }
      await f.write(Buffer.from(parts.join('')).subarray(0, MiB), 0, MiB, m * MiB);
    }
    await f.truncate(mib * MiB);
  } finally {
    await f.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string', default: process.env['BENCH_DATA'] ?? '256' },
      runs: { type: 'string', default: process.env['BENCH_RUNS'] ?? '3' },
      dir: { type: 'string', default: '/var/tmp' },
    },
  });
  const dataMiB = Number.parseInt(values.data!, 10);
  const runs = Number.parseInt(values.runs!, 10);
  const dir = await mkdtemp(join(values.dir!, 'brankas-bench-mount-'));
  const shm = await mkdtemp('/dev/shm/brankas-bench-');
  let repo: Repository | undefined;
  let qemuNbd: ChildProcess | undefined;
  try {
    const raw = join(dir, 'src.raw');
    process.stderr.write(`writing ${dataMiB} MiB (a quarter of it holes)\n`);
    await source(raw, dataMiB);
    const location = join(dir, 'repo');
    await Repository.init(new LocalBackend(location), { password: PASSWORD, kdf: TEST_KDF });
    repo = await Repository.open(new LocalBackend(location), { password: PASSWORD });
    const w = await BackupWriter.start(repo, { vm: { name: 'bench' }, parent: null });
    const img = await openImage(raw, { format: 'raw' });
    try {
      await w.addDisk({ name: 'vda', source: img });
    } finally {
      await img.close();
    }
    const id = (await w.commit()).id;
    process.stderr.write(`backed up as ${id}\n`);
    const r = repo;
    const out = join(shm, 'out.raw');
    const tools: Record<string, () => Promise<unknown>> = {
      'brankas mount + qemu-img convert -O raw': async () => {
        const m = await mountBackup(r, id);
        try {
          await exec('qemu-img', ['convert', '-O', 'raw', m.uri, out]);
        } finally {
          await m.close();
        }
      },
      'brankas restore --disk vda --format raw': () =>
        restoreDisk(r, id, 'vda', out, { format: 'raw', force: true, noSpaceCheck: true }),
    };
    // The ceiling of the NBD path: qemu-nbd serving the source file itself, read the same way.
    const qsock = join(dir, 'qemu-nbd.sock');
    qemuNbd = spawn('qemu-nbd', ['-r', '-t', '-f', 'raw', '-k', qsock, raw], {
      stdio: 'ignore',
    });
    for (;;) {
      try {
        await access(qsock);
        break;
      } catch {
        await new Promise((res) => setTimeout(res, 50));
      }
    }
    tools['qemu-nbd of the source file + qemu-img convert -O raw'] = () =>
      exec('qemu-img', ['convert', '-O', 'raw', `nbd+unix:///?socket=${qsock}`, out]);
    const times: Record<string, number[]> = {};
    for (const [name, t] of Object.entries(tools)) {
      times[name] = [];
      await t(); // warm-up, and a check that both copies are right
      await exec('qemu-img', ['compare', '-q', '-f', 'raw', '-F', 'raw', raw, out]);
      await rm(out, { force: true });
    }
    for (let i = 0; i < runs; i++) {
      const order = Object.keys(tools);
      if (i % 2) order.reverse();
      for (const name of order) {
        const t0 = performance.now();
        await tools[name]!();
        times[name]!.push((performance.now() - t0) / 1000);
        await rm(out, { force: true });
      }
    }
    console.log(
      `| reader (${dataMiB} MiB disk, ${(dataMiB * 3) / 4} MiB data) | median s | MiB/s |`,
    );
    console.log('| --- | ---: | ---: |');
    for (const [name, ts] of Object.entries(times)) {
      const s = median(ts);
      console.log(`| ${name} | ${s.toFixed(3)} | ${(dataMiB / s).toFixed(0)} |`);
    }
  } finally {
    qemuNbd?.kill();
    await repo?.close();
    await rm(dir, { recursive: true, force: true });
    await rm(shm, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
