// Benchmark (issue #16, item 2): time to a booted guest answering on its serial console, from a
// backup, with `brankas run` (instant recovery: the disk served over NBD from the repository)
// against `brankas restore` followed by a start (every byte written to local disk first), for
// backups holding --sizes of data.
//
//   npx tsc -p tsconfig.json && node dist/bench/instant-run.js [--sizes 1G,8G] [--reps 1]
//
// Per size it makes the tiny guest's disk (an ext4 file system of 64 MiB, mounted at /data by the
// guest) that large, fills everything past the file system with random bytes (incompressible,
// not deduplicated: the backup holds SIZE of data), defines a shut-off domain
// `brankas-bench-run-<size>-<random>` over it and backs it up cold into a fresh unencrypted
// repository. Then, per repetition, each as the CLI user would run it (one process each):
//
//   run       `brankas run VM --as NAME --start`, then the console until the guest's shell answers;
//   restore   `brankas restore VM --as NAME --start`, then the same.
//
// The times are from the command's start to its return (the VM started) and to the shell's
// answer (the guest booted from it). Each new VM is removed (and its
// serving process stopped) before the next. Everything made is removed at the end, also on error.
// It prints a markdown table on stdout (progress on stderr). Nothing here asserts a speed.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Connection, DomainUndefine, type Domain } from '../src/libvirt/index.js';
import { SerialConsole } from '../src/engine/guest/serial-console.js';
import {
  BOOT_TIMEOUT_MS,
  ensureGuestImages,
  guestDomainXml,
  guestWorkDir,
} from '../src/engine/guest/tiny-guest.js';
import { brankasMain, log, PREFIX, run, runMain } from './fixture.js';
import { formatSize, numbersTable, parseSize } from './stats.js';

const MiB = 2 ** 20;

const USAGE =
  'usage: node dist/bench/instant-run.js [--sizes 1G,8G ($BENCH_SIZES)] [--reps N ($BENCH_REPS)]';

function options(): { sizes: string; reps: string } {
  try {
    const { values: v } = parseArgs({
      options: {
        sizes: { type: 'string', default: process.env['BENCH_SIZES'] ?? '1G,8G' },
        reps: { type: 'string', default: process.env['BENCH_REPS'] ?? '1' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (v.help) {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    }
    return { sizes: v.sizes, reps: v.reps };
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
}

const values = options();

const cliPath = brankasMain();

function brankas(args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string }> {
  return run(process.execPath, [cliPath, ...args], { ...process.env, ...env });
}

/** Fills [from, to) of a raw image with random bytes, 64 MiB at a time, by dd. */
async function fillRandom(image: string, from: number, to: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const dd = spawn(
      'dd',
      [
        'if=/dev/urandom',
        `of=${image}`,
        'bs=64M',
        'iflag=fullblock',
        'conv=notrunc',
        `seek=${from / (64 * MiB)}`,
        `count=${(to - from) / (64 * MiB)}`,
        'status=none',
      ],
      { stdio: 'ignore' },
    );
    dd.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`dd exited ${code}`))));
    dd.on('error', reject);
  });
}

async function consoleReady(domain: Domain): Promise<void> {
  const sock = /<serial type='unix'>\s*<source mode='bind' path='([^']+)'/.exec(
    await domain.xml(),
  )?.[1];
  if (!sock) throw new Error(`${domain.name} has no serial socket`);
  const console = await SerialConsole.connect(sock, { timeoutMs: 30_000 });
  try {
    await console.waitReady(BOOT_TIMEOUT_MS);
    await console.run('ls /data >/dev/null');
  } finally {
    console.close();
  }
}

async function removeVm(conn: Connection, name: string): Promise<void> {
  const d = await conn.lookupDomain(name).catch(() => undefined);
  if (!d) return;
  if (await d.isActive()) await d.destroy();
  await d.undefine(DomainUndefine.SNAPSHOTS_METADATA | DomainUndefine.CHECKPOINTS_METADATA);
}

async function main(): Promise<number> {
  const sizes = values.sizes.split(',').map((s) => ({ text: s, bytes: parseSize(s) }));
  const reps = Number(values.reps);
  const images = await ensureGuestImages();
  const conn = await Connection.open('qemu:///system');
  const rows: string[][] = [];
  try {
    for (const size of sizes) {
      const name = `${PREFIX}run-${size.text.toLowerCase()}-${randomBytes(3).toString('hex')}`;
      const dir = await guestWorkDir(name);
      const repo = await mkdtemp('/var/tmp/brankas-bench-run-repo-');
      await rm(repo, { recursive: true });
      const env = { BRANKAS_REPO: repo, BRANKAS_STATE_DIR: join(dir, 'state') };
      const made: string[] = [name];
      try {
        log(`${size.text}: making the disk (${formatSize(size.bytes)}, random past 64 MiB)`);
        const image = join(dir, 'vda.raw');
        await run('qemu-img', ['convert', '-O', 'raw', images.baseDisk, image]);
        await run('qemu-img', ['resize', '-f', 'raw', image, String(size.bytes)]);
        await fillRandom(image, 64 * MiB, size.bytes);
        await copyFile(images.kernel, join(dir, 'vmlinux'));
        await copyFile(images.initrd, join(dir, 'initrd.img'));
        await conn.defineDomain(
          guestDomainXml({
            name,
            kernel: join(dir, 'vmlinux'),
            initrd: join(dir, 'initrd.img'),
            disks: [{ path: image, format: 'raw', target: 'vda' }],
            serialSocket: join(dir, 'console.sock'),
          }),
        );
        await brankas(['repo', 'init', '--no-encryption'], env);
        log(`${size.text}: cold backup`);
        await brankas(['backup', name, '--mode', 'cold'], env);
        await rm(image);
        for (let rep = 0; rep < reps; rep++) {
          for (const how of ['run', 'restore'] as const) {
            const copy = `${name}-${how}${rep}`;
            made.push(copy);
            log(`${size.text}: ${how} #${rep + 1}`);
            const t0 = performance.now();
            await brankas([how, name, '--as', copy, '--start'], env);
            const command = (performance.now() - t0) / 1000;
            await consoleReady(await conn.lookupDomain(copy));
            const seconds = (performance.now() - t0) / 1000;
            log(
              `  ${command.toFixed(1)} s to the VM started, ${seconds.toFixed(1)} s to its shell`,
            );
            rows.push([`${size.text}`, how, command.toFixed(1), seconds.toFixed(1)]);
            await removeVm(conn, copy);
            if (how === 'run') await brankas(['run', '--stop', copy], env);
          }
        }
      } finally {
        for (const vm of made.reverse()) await removeVm(conn, vm).catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
        await rm(repo, { recursive: true, force: true });
      }
    }
  } finally {
    await conn.close();
  }
  console.log(numbersTable(['backup holds', 'how', 'command (s)', 'to console ready (s)'], rows));
  console.log(
    `\nload average at the end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  return 0;
}

runMain(main);
