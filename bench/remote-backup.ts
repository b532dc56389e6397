// Benchmark (issue #15): a cold backup of a shut-off VM through `qemu+ssh://` to this machine
// itself against the same backup made locally (`qemu:///system`), and against `virtnbdbackup
// -U qemu+ssh://...` on the same VM, side by side in one run.
//
//   npm run build && node dist/bench/remote-backup.js [--virtual 4G] [--data 1G] [--reps 3] [--base DIST]
//
// It starts a private sshd on 127.0.0.1 (test/support/sshd.ts: its own host and client keys in a
// temporary directory), writes --data bytes of random data (incompressible: the data path is what
// is measured, not zstd) in 4 MiB pieces at scattered offsets of a --virtual qcow2, and defines
// one throwaway shut-off domain `brankas-bench-<run>-remote`. Per repetition, the order of the
// tools rotating: brankas local and brankas over ssh each back up into a fresh repository (so
// nothing is deduplicated against an earlier run, and with a temp directory of its own, so no ssh
// connection an earlier run left is reused), virtnbdbackup -l copy into a fresh directory.
// Every timed command is one process, as a user would run it. Markdown on stdout, progress on
// stderr. Everything it made (domain, files, sshd) is removed at the end, also on error.
//
// This is a measurement, not a test: nothing here asserts a speed.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Connection, DomainUndefine } from '../src/libvirt/index.js';
import { TestSshd } from '../test/support/sshd.js';
import { brankasMain, domainXml, log, PREFIX, run, runMain } from './fixture.js';
import { formatSize, markdownTable, median, parseSize } from './stats.js';

const MiB = 1024 * 1024;

interface Tool {
  label: string;
  /** Runs one backup into `out` (a fresh path); resolves with the milliseconds it took. */
  backup(vm: string, out: string): Promise<number>;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      virtual: { type: 'string', default: process.env['BENCH_VIRTUAL'] ?? '4G' },
      data: { type: 'string', default: process.env['BENCH_DATA'] ?? '1G' },
      reps: { type: 'string', default: process.env['BENCH_REPS'] ?? '3' },
      dir: { type: 'string', default: process.env['BENCH_DIR'] ?? '/var/tmp' },
      // Another build's dist/ (say the commit before a change): its ssh backup joins the rotation.
      base: { type: 'string' },
    },
  });
  const virtual = parseSize(values.virtual!);
  const data = parseSize(values.data!);
  const reps = Number(values.reps);
  const dir = await mkdtemp(join(values.dir!, `${PREFIX}remote-`));
  const vm = `${PREFIX}${process.pid}-remote`;
  const conn = await Connection.open('qemu:///system');
  const sshd = await TestSshd.start();
  try {
    const disk = join(dir, 'disk.qcow2');
    await makeDisk(disk, virtual, data);
    await conn.defineDomain(domainXml(vm, disk));
    const ssh = `qemu+ssh://root@127.0.0.1:${sshd.port}/system?keyfile=${sshd.clientKey}&known_hosts=${sshd.knownHosts}`;
    const brankas =
      (uri: string, cli = brankasMain()): Tool['backup'] =>
      async (name, out) => {
        // A temp directory of its own: brankas shares one ssh connection per host between the
        // sessions of a command, in $TMPDIR, and the connection outlives the command by 10 s;
        // the repetition before would hand this one a connection already made (no key
        // exchange, no login). Each backup here pays for its own, as a single backup does. A
        // short path: builds before c13bd87 fail outright when the socket's path is too long.
        const tmp = await mkdtemp('/tmp/bb-');
        const env = {
          ...process.env,
          BRANKAS_REPO: out,
          BRANKAS_STATE_DIR: join(dir, 'state'),
          TMPDIR: tmp,
        };
        try {
          await run('node', [cli, 'repo', 'init', '--no-encryption'], env);
          const t = performance.now();
          await run('node', [cli, 'backup', name, '--mode', 'cold', '-c', uri], env);
          return performance.now() - t;
        } finally {
          await rm(tmp, { recursive: true, force: true });
        }
      };
    const tools: Record<string, Tool> = {
      local: { label: 'brankas, local (`qemu:///system`)', backup: brankas('qemu:///system') },
      ssh: { label: 'brankas over ssh (`qemu+ssh://root@127.0.0.1`)', backup: brankas(ssh) },
    };
    if (values.base) {
      tools['ssh-base'] = {
        label: `brankas over ssh, build ${values.base}`,
        backup: brankas(ssh, brankasMain(values.base)),
      };
    }
    if (spawnSync('virtnbdbackup', ['--version']).status === 0) {
      tools['virtnbdbackup'] = {
        label: 'virtnbdbackup -U qemu+ssh://… -l copy',
        backup: async (name, out) => {
          const t = performance.now();
          await run('virtnbdbackup', [
            '-U',
            `qemu+ssh://root@127.0.0.1:${sshd.port}/system?keyfile=${sshd.clientKey}&known_hosts=${sshd.knownHosts}&no_verify=1`,
            '--ssh-user',
            'root',
            // Offline over a remote URI it runs qemu-nbd there on a TCP port and reads it directly.
            '-I',
            '127.0.0.1',
            '-P',
            String(10809 + (process.pid % 1000)),
            '-d',
            name,
            '-l',
            'copy',
            '-o',
            out,
          ]);
          return performance.now() - t;
        },
      };
    }
    const loadStart = loadavg()[0]!.toFixed(1);
    const times: Record<string, number[]> = {};
    const failures: Record<string, string> = {};
    const names = Object.keys(tools);
    for (let rep = 0; rep < reps; rep++) {
      // The order rotates, so no tool always reads a cache another warmed.
      for (const key of [
        ...names.slice(rep % names.length),
        ...names.slice(0, rep % names.length),
      ]) {
        if (failures[key]) continue;
        const out = join(dir, `out-${key}-${rep}`);
        log(`rep ${rep + 1}/${reps}: ${key}`);
        try {
          const ms = await tools[key]!.backup(vm, out);
          (times[key] ??= []).push(ms);
        } catch (err) {
          failures[key] = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
          log(`${key} failed: ${failures[key]}`);
        } finally {
          await rm(out, { recursive: true, force: true });
        }
      }
    }
    const local = times['local'] ? median(times['local']) : NaN;
    process.stdout.write(
      `Cold backup, ${formatSize(virtual)} virtual qcow2 with ${formatSize(data)} of random data, ` +
        `median of ${reps} (${new Date().toISOString()}; load average ${loadStart} at the start, ` +
        `${loadavg()[0]!.toFixed(1)} at the end):\n\n` +
        markdownTable(
          ['tool', 'median', 'runs (s)', 'vs local', 'MB/s'],
          names.map((k) => {
            const s = times[k];
            if (!s?.length) return [tools[k]!.label, 'failed', failures[k] ?? '', '', ''];
            const m = median(s);
            return [
              tools[k]!.label,
              `${(m / 1000).toFixed(2)} s`,
              s.map((x) => (x / 1000).toFixed(2)).join(', '),
              `${(m / local).toFixed(2)}x`,
              (data / MiB / (m / 1000)).toFixed(0),
            ];
          }),
          ['left', 'right', 'right', 'right', 'right'],
        ) +
        '\n',
    );
    return 0;
  } finally {
    const d = await conn.lookupDomain(vm).catch(() => undefined);
    // With its checkpoint records: a cold backup leaves one, and libvirt keeps a domain that has any.
    await d
      ?.undefine(DomainUndefine.SNAPSHOTS_METADATA | DomainUndefine.CHECKPOINTS_METADATA)
      .catch(() => undefined);
    await conn.close();
    await sshd.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** A qcow2 of `virtual` bytes holding `data` bytes of random data in 4 MiB pieces, spread out. */
async function makeDisk(path: string, virtual: number, data: number): Promise<void> {
  const raw = `${path}.raw`;
  const f = await open(raw, 'w');
  try {
    await f.truncate(virtual);
    const pieces = Math.ceil(data / (4 * MiB));
    const stride = Math.floor(virtual / pieces / (4 * MiB)) * 4 * MiB;
    for (let i = 0; i < pieces; i++) await f.write(randomBytes(4 * MiB), 0, 4 * MiB, i * stride);
  } finally {
    await f.close();
  }
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, path]);
  await rm(raw);
}

runMain(main);
