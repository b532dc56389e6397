// Benchmark (issue #14): load on the HTTP API of `brankas serve`. N concurrent clients (default
// 200), each a loop of keep-alive GETs one after the other (node's fetch, undici underneath),
// for S seconds (default 30) against the read endpoints, round-robin: /host, /vms, /backups,
// /jobs, /schedules. serve runs as its own process, as a user starts it, on loopback, against
// libvirt's test driver (the fixture host of the tests) or, with --connect, a real host; with a
// fresh unencrypted repository and a state directory in a temp directory.
//
//   npx tsc -p tsconfig.json && node dist/bench/api-load.js [--clients 200] [--seconds 30]
//                                 [--connect qemu:///system] [--warmup 5] [--paths /api/v1/host,...]
//                                 [--serve-node-options --max-old-space-size=48]
//
// It reports requests per second, latency p50/p99/max, errors (a status other than 200, or a
// failed request), and the serve process's resident memory (VmRSS from /proc) at the start,
// after the warm-up, at the end, and its highest, sampled every second; memory is "flat" when the
// highest of the measurement's second half is within 10% of the highest of its first half (V8
// grows its heap for a while under a new load before it settles: a leak keeps growing). The clients run in this process on the
// same host: the figures include their own CPU use. A measurement, not a test: nothing asserts.

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { brankasMain } from './fixture.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = brankasMain(join(ROOT, 'dist'));
const FIXTURE = join(ROOT, 'test', 'fixtures', 'test-host.xml');
const ALL_PATHS = [
  '/api/v1/host',
  '/api/v1/vms',
  '/api/v1/backups',
  '/api/v1/jobs',
  '/api/v1/schedules',
];

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '5' },
    connect: { type: 'string', default: `test://${FIXTURE}` },
    /** NODE_OPTIONS for the serve process (e.g. --max-old-space-size=48: a leak would fail). */
    'serve-node-options': { type: 'string' },
    /** Endpoints, comma-separated (default: all five). */
    paths: { type: 'string' },
  },
});
const PATHS = values.paths ? values.paths.split(',') : ALL_PATHS;
const CLIENTS = Number(values.clients);
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);

function run(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${args[0]}: ${err}`)),
    );
  });
}

async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'brankas-bench-api-'));
  const env = {
    ...process.env,
    BRANKAS_STATE_DIR: join(dir, 'state'),
    BRANKAS_REPO: join(dir, 'repo'),
    LANG: 'C',
    ...(values['serve-node-options'] ? { NODE_OPTIONS: values['serve-node-options'] } : {}),
  };
  const child = spawn(
    process.execPath,
    [MAIN, 'serve', '-c', values.connect!, '--listen', '127.0.0.1:0'],
    { env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const stop = (): void => void child.kill('SIGTERM');
  process.once('SIGINT', stop);
  try {
    await run(['repo', 'init', '--no-encryption'], env);
    let said = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        said += d.toString();
        const m = /listens on (\S+) /.exec(said);
        if (m) resolve(m[1]!);
      });
      child.on('exit', () => reject(new Error(`serve exited: ${said}`)));
    });
    const token = (await run(['serve', '--print-token'], env)).trim();
    const headers = { authorization: `Bearer ${token}` };
    const pid = child.pid!;
    const rssStart = await rssKiB(pid);

    let latencies = new Float64Array(1 << 20);
    let count = 0;
    let errors = 0;
    const errorKinds = new Map<string, number>();
    let measuring = false;
    let running = true;
    const samples: number[] = [];

    async function client(i: number): Promise<void> {
      for (let n = i; running; n++) {
        const path = PATHS[n % PATHS.length]!;
        const t0 = performance.now();
        try {
          const res = await fetch(url + path, { headers });
          await res.arrayBuffer();
          if (!measuring) continue;
          if (res.status !== 200) {
            errors++;
            errorKinds.set(
              `${path} ${res.status}`,
              (errorKinds.get(`${path} ${res.status}`) ?? 0) + 1,
            );
            continue;
          }
        } catch (err) {
          if (!measuring) continue;
          errors++;
          const k = `${path} ${(err as Error).message}`;
          errorKinds.set(k, (errorKinds.get(k) ?? 0) + 1);
          continue;
        }
        if (count === latencies.length) {
          const bigger = new Float64Array(latencies.length * 2);
          bigger.set(latencies);
          latencies = bigger;
        }
        latencies[count++] = performance.now() - t0;
      }
    }

    const sampler = setInterval(() => {
      void rssKiB(pid).then((r) => samples.push(r));
    }, 1000);
    const clients = Array.from({ length: CLIENTS }, (_, i) => client(i));
    process.stderr.write(`warm-up ${WARMUP} s with ${CLIENTS} clients...\n`);
    await new Promise((r) => setTimeout(r, WARMUP * 1000));
    const rssWarm = await rssKiB(pid);
    measuring = true;
    const t0 = performance.now();
    const firstSample = samples.length;
    process.stderr.write(`measuring ${SECONDS} s...\n`);
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    measuring = false;
    const elapsed = (performance.now() - t0) / 1000;
    const rssEnd = await rssKiB(pid);
    running = false;
    await Promise.all(clients);
    clearInterval(sampler);

    const sorted = latencies.subarray(0, count).sort();
    const mib = (kib: number) => (kib / 1024).toFixed(1);
    const measured = samples.slice(firstSample);
    const half = Math.floor(measured.length / 2);
    const firstHalf = Math.max(...measured.slice(0, half));
    const secondHalf = Math.max(...measured.slice(half));
    const flat = secondHalf <= firstHalf * 1.1;
    console.log(
      `| clients | seconds | requests | requests/s | p50 ms | p99 ms | max ms | errors |`,
    );
    console.log(
      `| ------: | ------: | -------: | ---------: | -----: | -----: | -----: | -----: |`,
    );
    console.log(
      `| ${CLIENTS} | ${elapsed.toFixed(1)} | ${count} | ${(count / elapsed).toFixed(0)} | ` +
        `${percentile(sorted, 50).toFixed(1)} | ${percentile(sorted, 99).toFixed(1)} | ` +
        `${sorted[sorted.length - 1]!.toFixed(1)} | ${errors} |`,
    );
    console.log('');
    console.log(
      `| serve RSS | start | after warm-up | end | highest | highest, 1st / 2nd half | flat |`,
    );
    console.log(
      `| --------- | ----: | ------------: | --: | ------: | ----------------------: | :--- |`,
    );
    console.log(
      `| MiB | ${mib(rssStart)} | ${mib(rssWarm)} | ${mib(rssEnd)} | ${mib(Math.max(...samples))} | ${mib(firstHalf)} / ${mib(secondHalf)} | ${flat ? 'yes' : 'no'} |`,
    );
    for (const [k, n] of errorKinds) console.log(`error: ${k}: ${n}`);
    console.log('');
    console.log(
      `RSS every 5 s (MiB): ${samples
        .filter((_, i) => i % 5 === 4)
        .map(mib)
        .join(' ')}`,
    );
    console.log('');
    console.log(
      `(${cpus().length} CPUs, load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}; libvirt ${values.connect}; endpoints ${PATHS.join(', ')})`,
    );
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
