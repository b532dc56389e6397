// Benchmark (issue #14), the companion of api-load.ts: does the API keep memory per request? The
// app runs in this process (`app.request()`, no sockets) against libvirt's test driver, a fresh
// repository, a job history and a schedule file in a temp directory; each endpoint is called
// --warm times, the heap collected, then --requests more times (50 at once), and collected again.
// A leak shows as heapUsed growing with the requests; RSS is printed too (it also holds what
// the allocator keeps for later).
//
//   npx tsc -p tsconfig.json && node --expose-gc dist/bench/api-heap.js [--requests 10000]
//
// A measurement, not a test: nothing asserts.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createApi } from '../src/api/index.js';
import { Connection } from '../src/libvirt/index.js';
import { LocalBackend, Repository, TEST_KDF } from '../src/repo/index.js';
import {
  JobHistory,
  JobQueue,
  ScheduleFile,
  ScheduleRuns,
  Scheduler,
} from '../src/service/index.js';

const FIXTURE = fileURLToPath(new URL('../../test/fixtures/test-host.xml', import.meta.url));
const PATHS = [
  '/api/v1/host',
  '/api/v1/vms',
  '/api/v1/backups',
  '/api/v1/jobs',
  '/api/v1/schedules',
];
const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '10000' },
    warm: { type: 'string', default: '2000' },
  },
});

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const mib = (n: number) => (n / 1048576).toFixed(1);

const dir = await mkdtemp(join(tmpdir(), 'brankas-bench-heap-'));
const conn = await Connection.open(`test://${FIXTURE}`);
const history = JobHistory.open(join(dir, 'state'));
const runs = ScheduleRuns.open(join(dir, 'state'));
try {
  await Repository.init(new LocalBackend(join(dir, 'repo')), {
    password: undefined,
    kdf: TEST_KDF,
  });
  const queue = new JobQueue({ stateDir: join(dir, 'state'), history, connect: async () => conn });
  const file = new ScheduleFile(join(dir, 'state'));
  await file.add('nightly', { vms: 'brankas-test-*', when: '30 2 * * *', 'keep-last': 7 });
  const scheduler = new Scheduler({ runs, load: () => file.read(), fire: async () => undefined });
  const app = createApi({
    token: 't',
    queue,
    connect: async () => conn,
    openRepo: () => Repository.open(new LocalBackend(join(dir, 'repo'))),
    schedules: {
      file,
      run: () => Promise.reject(new Error('not here')),
      nextRun: (p) => scheduler.nextRun(p),
      changed: () => undefined,
    },
  });
  const batch = async (path: string, n: number): Promise<void> => {
    for (let i = 0; i < n; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, n - i) }, async () => {
          const res = await app.request(path, {
            headers: { authorization: 'Bearer t', host: 'localhost' },
          });
          if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
          await res.arrayBuffer();
        }),
      );
    }
  };
  console.log(
    '| endpoint | requests | heapUsed after warm-up, MiB | heapUsed after, MiB | RSS before / after, MiB |',
  );
  console.log(
    '| -------- | -------: | --------------------------: | ------------------: | ----------------------: |',
  );
  for (const path of PATHS) {
    await batch(path, Number(values.warm));
    gc();
    const a = process.memoryUsage();
    await batch(path, Number(values.requests));
    gc();
    const b = process.memoryUsage();
    console.log(
      `| ${path} | ${values.requests} | ${mib(a.heapUsed)} | ${mib(b.heapUsed)} | ${mib(a.rss)} / ${mib(b.rss)} |`,
    );
  }
  await queue.close();
} finally {
  runs.close();
  history.close();
  await conn.close();
  await rm(dir, { recursive: true, force: true });
}
