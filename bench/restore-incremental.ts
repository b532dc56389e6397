// Benchmark (issue #13): restoring the fifth backup of an incremental-forever line (a full,
// then four incrementals of scattered changes) against restoring a full backup of the same disk
// state. A restore never replays a chain, so both should take the same time. (Against the
// line's first full, which holds less data, the fifth is slower by what was added since.)
//
//   npm run build && node dist/bench/restore-incremental.js [--rounds 4] [--writes 200] [--reps 3]
//
// A shut-off throwaway domain with one qcow2 disk (--virtual, holding --data in 4 MiB pieces of
// text and random bytes, bench/mixed-data.ts); the line's backups are `brankas backup VM` into
// one repository, each after --writes random 256 KiB writes at scattered offsets made with
// `qemu-io` (the offline incremental reads the qcow2's dirty bitmap); then a full of the last
// state into a second repository. Restores (`brankas restore ID --disk vda --to FILE`) of the
// two alternate, --reps each; each restored image is compared with the disk (`qemu-img compare`).
// This is a measurement, not a test.

import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { domainTeardown } from './live-guest.js';
import { brankasMain, domainXml, log, PREFIX, run, runMain } from './fixture.js';
import { guestWorkDir } from '../src/engine/guest/tiny-guest.js';
import { writeMixedImage } from './mixed-data.js';
import { markdownTable, median, parseSize } from './stats.js';

const CHUNK = 256 * 1024;
const created = domainTeardown();

async function timedCli(args: string[]): Promise<{ seconds: number; stdout: string }> {
  const start = performance.now();
  const r = await run(process.execPath, [brankasMain(), ...args]);
  return { seconds: (performance.now() - start) / 1000, stdout: r.stdout };
}

async function backup(vm: string, repo: string): Promise<string> {
  const r = await timedCli(['backup', vm, '--repo', repo, '--json']);
  return (JSON.parse(r.stdout) as { manifest: { id: string } }).manifest.id;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      virtual: { type: 'string', default: '10G' },
      data: { type: 'string', default: '1G' },
      rounds: { type: 'string', default: '4' },
      writes: { type: 'string', default: '200' },
      reps: { type: 'string', default: '3' },
      uri: { type: 'string', default: process.env['BENCH_URI'] ?? 'qemu:///system' },
    },
  });
  const virtual = parseSize(values.virtual!);
  const data = parseSize(values.data!);
  const [rounds, writes, reps] = [values.rounds, values.writes, values.reps].map(Number);
  if (!(virtual >= data) || !(data > 0) || !(rounds! > 0) || !(writes! > 0) || !(reps! > 0)) {
    log(
      'usage: node dist/bench/restore-incremental.js [--virtual SIZE] [--data SIZE] [--rounds N] [--writes N] [--reps N]',
    );
    return 2;
  }
  created.installHandlers(values.uri!);
  const name = `${PREFIX}restinc-${process.pid}`;
  try {
    const conn = await created.connect(values.uri!);
    const dir = await guestWorkDir(name);
    created.tmpDir = dir;
    const raw = join(dir, 'data.raw');
    const disk = join(dir, 'disk.qcow2');
    log(`writing ${values.data} of data…`);
    await writeMixedImage(raw, data, 11);
    await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, disk]);
    await run('qemu-img', ['resize', '-q', disk, String(virtual)]);
    await rm(raw);
    await created.define(conn, name, domainXml(name, disk, 'qcow2'));
    const line = join(dir, 'line');
    const fresh = join(dir, 'fresh');
    for (const r of [line, fresh]) {
      await run(process.execPath, [brankasMain(), 'repo', 'init', '--no-encryption', '--repo', r]);
    }
    const ids = [await backup(name, line)];
    const piece = join(dir, 'piece.bin');
    for (let round = 0; round < rounds!; round++) {
      const args: string[] = [];
      for (let i = 0; i < writes!; i++) {
        const file = `${piece}.${i}`;
        await writeFile(file, randomBytes(CHUNK));
        const slot = Math.floor(Math.random() * (virtual / CHUNK));
        args.push('-c', `write -s ${file} ${slot * CHUNK} ${CHUNK}`);
      }
      await run('qemu-io', ['-f', 'qcow2', ...args, disk]);
      ids.push(await backup(name, line));
      log(`round ${round + 1}: backup ${ids.at(-1)}`);
    }
    const full = await backup(name, fresh);
    const out = join(dir, 'out');
    const times = { fifth: [] as number[], full: [] as number[] };
    for (let rep = 0; rep < reps!; rep++) {
      for (const which of rep % 2 ? (['full', 'fifth'] as const) : (['fifth', 'full'] as const)) {
        await rm(out, { recursive: true, force: true });
        await mkdir(out);
        const [id, repo] = which === 'fifth' ? [ids.at(-1)!, line] : [full, fresh];
        const target = join(out, 'vda.qcow2');
        const t = await timedCli(['restore', id, '--disk', 'vda', '--to', target, '--repo', repo]);
        await run('qemu-img', ['compare', '-q', target, disk]);
        times[which].push(t.seconds);
      }
    }
    const m = { fifth: median(times.fifth), full: median(times.full) };
    console.log(
      `## Restore of the ${ids.length}th backup of a line against a full of the same disk (${values.virtual} disk, ${values.data} data, ${rounds} rounds of ${writes} scattered 256 KiB writes)\n`,
    );
    console.log(
      markdownTable(
        ['restore of', 'median s', 'runs (s)', 'its time / the full of the same state'],
        (['fifth', 'full'] as const).map((w) => [
          w === 'fifth' ? `the ${ids.length}th backup of the line` : 'a full of the same state',
          m[w].toFixed(2),
          times[w].map((x) => x.toFixed(2)).join(', '),
          `${(m[w] / m.full).toFixed(2)}x`,
        ]),
        ['left', 'right', 'left', 'right'],
      ),
    );
    console.log('\nEvery restored image `qemu-img compare`-identical to the disk.');
    return 0;
  } finally {
    await created.cleanup(values.uri!);
  }
}

runMain(main);
