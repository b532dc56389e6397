// Benchmark: brankas's pure-TypeScript libvirt RPC client versus virsh, side by side in one run.
//
//   npx tsc -p tsconfig.json && node dist/bench/libvirt-client.js [options]
//
// It defines a few throwaway, shut-off domains named `brankas-bench-<run>-<i>` (type='qemu', one
// tiny qcow2 each, in a temporary directory), creates a handful of internal snapshots on the
// first one, then times list-domains, get-XML and snapshot-list through the client (on an open
// connection, and connect + call + close per call) and through `virsh`, plus the throughput of
// sequential and concurrent get-XML calls on one connection. It prints a markdown table on
// stdout (progress goes to stderr) and writes the raw numbers as JSON under bench/out/.
// Everything it created is removed at the end, also on error and on SIGINT/SIGTERM.
//
// This is a measurement, not a test: nothing here asserts a speed.

import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Connection, DomainUndefine, type Domain } from '../src/libvirt/index.js';
import {
  PREFIX,
  Teardown,
  cellOf,
  configOrExit,
  describeMachine,
  domainXml,
  errorText,
  lines,
  loadAverageLine,
  log,
  lookupForRemoval,
  machineLines,
  newSamples,
  noteError,
  ratioOf,
  removeOrUndefine,
  repoRoot,
  run,
  runMain,
  sameList,
  virsh,
  writeJson,
  type Check,
  type Machine,
  type Samples,
} from './fixture.js';
import { formatMs, formatRate, markdownTable, median, summarize, type Summary } from './stats.js';

const USAGE = `usage: node dist/bench/libvirt-client.js [options]

  --iterations N        client calls per operation and variant   (default 200, $BENCH_ITERATIONS)
  --virsh-iterations N  virsh invocations per operation           (default 50, $BENCH_VIRSH_ITERATIONS)
  --throughput N        get-XML calls in each throughput run      (default 1000, $BENCH_THROUGHPUT)
  --throughput-runs N   repetitions of each throughput run        (default 3, $BENCH_THROUGHPUT_RUNS)
  --domains N           throwaway domains to define               (default 3, $BENCH_DOMAINS)
  --snapshots N         snapshots on the first domain             (default 5, $BENCH_SNAPSHOTS)
  --rounds N            interleaved rounds the samples are split in (default 5, $BENCH_ROUNDS)
  --uri URI             libvirt URI        (default $BENCH_URI, $LIBVIRT_DEFAULT_URI or qemu:///system)
  --json PATH           where to write the raw results (default bench/out/libvirt-client-<time>.json)
  --no-json             do not write JSON
  -h, --help            this text
`;

interface Config {
  uri: string;
  iterations: number;
  virshIterations: number;
  throughput: number;
  throughputRuns: number;
  domains: number;
  snapshots: number;
  rounds: number;
  json: string | null;
}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`${name} must be a positive integer, got "${value}"`);
  }
  return n;
}

function readConfig(): Config | null {
  const { values } = parseArgs({
    options: {
      iterations: { type: 'string' },
      'virsh-iterations': { type: 'string' },
      throughput: { type: 'string' },
      'throughput-runs': { type: 'string' },
      domains: { type: 'string' },
      snapshots: { type: 'string' },
      rounds: { type: 'string' },
      uri: { type: 'string' },
      json: { type: 'string' },
      'no-json': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return null;
  const env = process.env;
  const rounds = positiveInt('--rounds', values.rounds ?? env['BENCH_ROUNDS'], 5);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return {
    uri: values.uri ?? env['BENCH_URI'] ?? env['LIBVIRT_DEFAULT_URI'] ?? 'qemu:///system',
    iterations: positiveInt('--iterations', values.iterations ?? env['BENCH_ITERATIONS'], 200),
    virshIterations: positiveInt(
      '--virsh-iterations',
      values['virsh-iterations'] ?? env['BENCH_VIRSH_ITERATIONS'],
      50,
    ),
    throughput: positiveInt('--throughput', values.throughput ?? env['BENCH_THROUGHPUT'], 1000),
    throughputRuns: positiveInt(
      '--throughput-runs',
      values['throughput-runs'] ?? env['BENCH_THROUGHPUT_RUNS'],
      3,
    ),
    domains: positiveInt('--domains', values.domains ?? env['BENCH_DOMAINS'], 3),
    snapshots: positiveInt('--snapshots', values.snapshots ?? env['BENCH_SNAPSHOTS'], 5),
    rounds,
    json: values['no-json']
      ? null
      : (values.json ?? join(repoRoot(), 'bench', 'out', `libvirt-client-${stamp}.json`)),
  };
}

/** The repository root: the first directory above this module holding a package.json. */
// ---------------------------------------------------------------------------------------------
// What this run created, and its removal

const created = new Teardown({
  announce: () => {
    if (created.domains.length > 0) log(`cleaning up ${created.domains.length} domain(s)…`);
  },
  waitingMessage: 'cleanup: waiting for the set-up call in flight to answer…',
  removeDomains: async (uri) => {
    let conn: Connection | undefined;
    if (created.domains.length > 0) {
      try {
        conn = await Connection.open(uri, { connectTimeoutMs: 10_000, callTimeoutMs: 120_000 });
      } catch (err) {
        log(`cleanup: cannot open a client connection (${errorText(err)}); falling back to virsh`);
      }
    }
    for (const name of created.domains) {
      const c = conn;
      await removeOrUndefine(
        uri,
        name,
        c && (() => removeDomain(c, name, created.unconfirmed.has(name))),
      );
    }
    if (conn) await conn.close().catch(() => undefined);
  },
});
const checkNotStopping = (): void => created.checkNotStopping();
const track = <T>(start: () => Promise<T>): Promise<T> => created.track(start);

async function removeDomain(conn: Connection, name: string, unconfirmed: boolean): Promise<void> {
  const dom = await lookupForRemoval(conn, name, unconfirmed);
  // Leaves first: deleting a snapshot that has children would re-parent them anyway, but
  // deleting children first keeps each deletion a plain "remove one internal snapshot".
  const snaps = await dom.listSnapshots();
  for (const snap of snaps.reverse()) await snap.delete();
  await dom.undefine(DomainUndefine.SNAPSHOTS_METADATA | DomainUndefine.CHECKPOINTS_METADATA);
}

// ---------------------------------------------------------------------------------------------
// Set-up

interface Fixture {
  runId: string;
  domains: Domain[];
  /** The domain with the snapshots; its XML is what get-XML fetches. */
  target: Domain;
  snapshotNames: string[];
  setupMs: { define: number; snapshots: number };
}

async function setUp(conn: Connection, config: Config): Promise<Fixture> {
  const runId = randomBytes(3).toString('hex');
  created.tmpDir = await mkdtemp(join(tmpdir(), `${PREFIX}${runId}-`));
  const domains: Domain[] = [];
  let t0 = performance.now();
  for (let i = 0; i < config.domains; i++) {
    const name = `${PREFIX}${runId}-${i}`;
    const disk = join(created.tmpDir, `${name}.qcow2`);
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M']);
    domains.push(await created.define(conn, name, domainXml(name, disk)));
  }
  const defineMs = performance.now() - t0;
  const target = domains[0];
  if (!target) throw new Error('no domain was defined');
  const snapshotNames: string[] = [];
  t0 = performance.now();
  for (let i = 1; i <= config.snapshots; i++) {
    const name = `${PREFIX}snap-${i}`;
    const snap = await track(() =>
      target.createSnapshot(
        `<domainsnapshot><name>${name}</name><description>benchmark</description></domainsnapshot>`,
      ),
    );
    if (snap.name !== name) throw new Error(`snapshot created as "${snap.name}", not "${name}"`);
    snapshotNames.push(name);
  }
  const snapshotsMs = performance.now() - t0;
  return {
    runId,
    domains,
    target,
    snapshotNames,
    setupMs: { define: defineMs, snapshots: snapshotsMs },
  };
}

// ---------------------------------------------------------------------------------------------
// Sanity: both sides see the same thing (run before timing)

async function crossCheck(conn: Connection, uri: string, fx: Fixture): Promise<Check[]> {
  const checks: Check[] = [];
  const benchNames = fx.domains.map((d) => d.name).sort();

  const clientNames = (await conn.listDomains()).map((d) => d.name);
  const virshNames = lines(await virsh(uri, ['list', '--all', '--name']));
  const clientMissing = benchNames.filter((n) => !clientNames.includes(n));
  const virshMissing = benchNames.filter((n) => !virshNames.includes(n));
  checks.push({
    what: 'list-domains: both list the benchmark domains',
    ok: clientMissing.length === 0 && virshMissing.length === 0,
    detail:
      `client saw ${clientNames.length} domain(s), virsh ${virshNames.length}` +
      (clientMissing.length ? `; client misses ${clientMissing.join(', ')}` : '') +
      (virshMissing.length ? `; virsh misses ${virshMissing.join(', ')}` : ''),
  });

  const clientXml = await fx.target.xml();
  const virshXml = await virsh(uri, ['dumpxml', fx.target.name]);
  const sameXml = clientXml === virshXml;
  // virsh prints the XML it gets followed by one more newline.
  const plusNewline = `${clientXml}\n` === virshXml;
  const sameTrimmed = clientXml.trimEnd() === virshXml.trimEnd();
  checks.push({
    what: 'get-XML: client XML equals `virsh dumpxml`',
    ok: sameTrimmed,
    detail: sameXml
      ? `identical, ${clientXml.length} bytes`
      : plusNewline
        ? `identical, ${clientXml.length} bytes; virsh prints one more newline after it`
        : sameTrimmed
          ? `equal but for trailing whitespace (client ${clientXml.length} bytes, virsh ${virshXml.length})`
          : `DIFFERENT (client ${clientXml.length} bytes, virsh ${virshXml.length})`,
  });

  const clientSnaps = (await fx.target.listSnapshots()).map((s) => s.name).sort();
  const virshSnaps = lines(await virsh(uri, ['snapshot-list', fx.target.name, '--name'])).sort();
  const expected = [...fx.snapshotNames].sort();
  checks.push({
    what: 'snapshot-list: client, virsh and what was created agree',
    ok: sameList(clientSnaps, expected) && sameList(virshSnaps, expected),
    detail: `client [${clientSnaps.join(', ')}], virsh [${virshSnaps.join(', ')}]`,
  });
  return checks;
}

// ---------------------------------------------------------------------------------------------
// Timing

async function timeCalls(n: number, fn: () => Promise<unknown>, into: Samples): Promise<void> {
  for (let i = 0; i < n; i++) {
    checkNotStopping();
    const t0 = performance.now();
    try {
      await fn();
      into.times.push(performance.now() - t0);
    } catch (err) {
      noteError(into, err);
    }
  }
}

async function warm(n: number, fn: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < n; i++) {
    checkNotStopping();
    await fn();
  }
}

type VariantKey = 'client' | 'clientConnect' | 'virsh';

interface Operation {
  name: string;
  /** On the benchmark's open connection (absent: not meaningful for this row). */
  client?: () => Promise<unknown>;
  /** On a fresh connection the variant opens and closes around it. */
  clientFresh: (conn: Connection) => Promise<unknown>;
  virshArgs: string[];
}

interface OperationResult {
  name: string;
  virshCommand: string;
  samples: Record<VariantKey, Samples | null>;
  summaries: Record<VariantKey, Summary | null>;
}

/** Splits `total` into `parts` near-equal positive chunks. */
function chunks(total: number, parts: number): number[] {
  const p = Math.min(parts, total);
  return Array.from({ length: p }, (_, i) => Math.floor(((i + 1) * total) / p - (i * total) / p));
}

async function measureLatency(
  conn: Connection,
  config: Config,
  fx: Fixture,
): Promise<OperationResult[]> {
  const uri = config.uri;
  const target = fx.target;
  const names = (list: { name: string }[]): string[] => list.map((x) => x.name);
  const operations: Operation[] = [
    {
      name: 'list-domains',
      client: async () => names(await conn.listDomains()),
      clientFresh: async (c) => names(await c.listDomains()),
      virshArgs: ['list', '--all', '--name'],
    },
    {
      name: 'get-XML',
      client: () => target.xml(),
      clientFresh: async (c) => (await c.lookupDomain(target.name)).xml(),
      virshArgs: ['dumpxml', target.name],
    },
    {
      name: 'snapshot-list',
      client: async () => names(await target.listSnapshots()),
      clientFresh: async (c) => names(await (await c.lookupDomain(target.name)).listSnapshots()),
      virshArgs: ['snapshot-list', target.name, '--name'],
    },
    {
      name: 'connect + close only',
      clientFresh: async () => undefined,
      virshArgs: ['uri'],
    },
  ];

  const fresh = (op: Operation) => async (): Promise<unknown> => {
    const c = await Connection.open(uri);
    try {
      return await op.clientFresh(c);
    } finally {
      await c.close();
    }
  };
  const viaVirsh = (op: Operation) => (): Promise<unknown> => virsh(uri, op.virshArgs);

  const results: OperationResult[] = operations.map((op) => ({
    name: op.name,
    virshCommand: `virsh -c ${uri} ${op.virshArgs.join(' ')}`,
    samples: {
      client: op.client ? newSamples() : null,
      clientConnect: newSamples(),
      virsh: newSamples(),
    },
    summaries: { client: null, clientConnect: null, virsh: null },
  }));

  log('warming up…');
  for (const op of operations) {
    if (op.client) await warm(20, op.client);
    await warm(10, fresh(op));
    await warm(3, viaVirsh(op));
  }

  const clientChunks = chunks(config.iterations, config.rounds);
  const virshChunks = chunks(config.virshIterations, config.rounds);
  const rounds = Math.max(clientChunks.length, virshChunks.length);
  for (let r = 0; r < rounds; r++) {
    log(`round ${r + 1}/${rounds}…`);
    for (const [i, op] of operations.entries()) {
      const res = results[i] as OperationResult;
      const nClient = clientChunks[r] ?? 0;
      const nVirsh = virshChunks[r] ?? 0;
      if (op.client && res.samples.client) await timeCalls(nClient, op.client, res.samples.client);
      await timeCalls(nClient, fresh(op), res.samples.clientConnect as Samples);
      await timeCalls(nVirsh, viaVirsh(op), res.samples.virsh as Samples);
    }
  }
  for (const res of results) {
    for (const key of ['client', 'clientConnect', 'virsh'] as const) {
      const s = res.samples[key];
      res.summaries[key] = s ? summarize(s.times) : null;
    }
  }
  return results;
}

interface ThroughputResult {
  mode: 'sequential' | 'concurrent';
  calls: number;
  /** Wall time of each run, ms. */
  totalsMs: number[];
  /** Per-call latency over all runs (for concurrent: from issue to its own reply). */
  latency: Summary;
  errors: number;
  firstErrors: string[];
  /** Replies that did not equal the expected XML. */
  mismatches: number;
}

async function measureThroughput(config: Config, fx: Fixture): Promise<ThroughputResult[]> {
  const expected = await fx.target.xml();
  const results: ThroughputResult[] = [];
  for (const mode of ['sequential', 'concurrent'] as const) {
    const res: ThroughputResult = {
      mode,
      calls: config.throughput,
      totalsMs: [],
      latency: summarize([]),
      errors: 0,
      firstErrors: [],
      mismatches: 0,
    };
    const latencies: number[] = [];
    const one = async (): Promise<void> => {
      const t0 = performance.now();
      try {
        const xml = await fx.target.xml();
        latencies.push(performance.now() - t0);
        if (xml !== expected) res.mismatches++;
      } catch (err) {
        noteError(res, err);
      }
    };
    for (let run = 1; run <= config.throughputRuns; run++) {
      checkNotStopping();
      log(`throughput: ${mode} ×${config.throughput}, run ${run}/${config.throughputRuns}…`);
      const t0 = performance.now();
      if (mode === 'sequential') {
        for (let i = 0; i < config.throughput; i++) await one();
      } else {
        await Promise.all(Array.from({ length: config.throughput }, () => one()));
      }
      res.totalsMs.push(performance.now() - t0);
    }
    res.latency = summarize(latencies);
    results.push(res);
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// Report

function report(
  config: Config,
  machine: Machine,
  fx: Fixture,
  checks: Check[],
  latency: OperationResult[],
  throughput: ThroughputResult[],
  spawnBaseline: Summary,
  date: Date,
): string {
  const out: string[] = [];
  out.push(`## libvirt RPC client vs virsh`);
  out.push('');
  out.push(...machineLines(machine, date));
  out.push(
    `- libvirt: daemon ${machine.libvirtDaemon} (${machine.hypervisor}), virsh ${machine.virsh}; URI ${config.uri}`,
  );
  out.push(loadAverageLine(machine));
  out.push(
    `- fixture: ${fx.domains.length} shut-off domain(s) \`${PREFIX}${fx.runId}-*\`, ` +
      `${fx.snapshotNames.length} internal snapshot(s) on \`${fx.target.name}\` ` +
      `(defined in ${formatMs(fx.setupMs.define)}, snapshots created in ${formatMs(fx.setupMs.snapshots)})`,
  );
  out.push(
    `- samples: ${config.iterations} client calls and ${config.virshIterations} virsh invocations ` +
      `per operation, interleaved in ${config.rounds} rounds, after a warm-up`,
  );
  out.push('');
  out.push('### Latency per call (median / p90)');
  out.push('');
  const rows = latency.map((r) => [
    r.name,
    cellOf(r.summaries.client),
    cellOf(r.summaries.clientConnect),
    cellOf(r.summaries.virsh),
    ratioOf(r.summaries.virsh, r.summaries.client),
    ratioOf(r.summaries.virsh, r.summaries.clientConnect),
  ]);
  out.push(
    markdownTable(
      [
        'operation',
        'client, open connection',
        'client, connect + call + close',
        'virsh (one process per call)',
        'virsh ÷ client (open)',
        'virsh ÷ client (connect)',
      ],
      rows,
      ['left', 'right', 'right', 'right', 'right', 'right'],
    ),
  );
  out.push('');
  out.push('virsh commands timed (spawned from Node, stdout captured):');
  out.push('');
  for (const r of latency) out.push(`- ${r.name}: \`${r.virshCommand}\``);
  out.push('');
  out.push(
    `For scale: spawning \`/bin/true\` from Node takes ${formatMs(spawnBaseline.median)} ` +
      `(median, p90 ${formatMs(spawnBaseline.p90)}) on this machine.`,
  );
  out.push('');
  out.push(`### Throughput of get-XML on one connection`);
  out.push('');
  const trows = throughput.map((t) => {
    const total = median(t.totalsMs);
    return [
      `${t.calls} ${t.mode}${t.mode === 'concurrent' ? ' (Promise.all)' : ''}`,
      formatMs(total),
      `${formatMs(Math.min(...t.totalsMs))} – ${formatMs(Math.max(...t.totalsMs))}`,
      formatRate((t.calls / total) * 1000),
      `${formatMs(t.latency.median)} / ${formatMs(t.latency.p90)}`,
    ];
  });
  out.push(
    markdownTable(
      [
        'run',
        `total (median of ${config.throughputRuns})`,
        'total, min – max',
        'calls/s',
        'per call median / p90',
      ],
      trows,
      ['left', 'right', 'right', 'right', 'right'],
    ),
  );
  out.push('');
  out.push(
    'For concurrent calls, "per call" is the time from issuing a call to its own reply, so it ' +
      'includes queueing behind the others.',
  );
  out.push('');
  out.push('### Checks');
  out.push('');
  for (const c of checks) out.push(`- ${c.ok ? 'ok' : 'FAILED'}: ${c.what} (${c.detail})`);
  const problems: string[] = [];
  for (const r of latency) {
    for (const key of ['client', 'clientConnect', 'virsh'] as const) {
      const s = r.samples[key];
      if (s && s.errors > 0) {
        problems.push(
          `${r.name} / ${key}: ${s.errors} error(s), e.g. ${s.firstErrors.join(' | ')}`,
        );
      }
    }
  }
  for (const t of throughput) {
    if (t.errors > 0) {
      problems.push(
        `throughput ${t.mode}: ${t.errors} error(s), e.g. ${t.firstErrors.join(' | ')}`,
      );
    }
    if (t.mismatches > 0) {
      problems.push(`throughput ${t.mode}: ${t.mismatches} reply(ies) differed from the XML`);
    }
  }
  if (problems.length === 0) {
    out.push('- ok: no call failed, every throughput reply equalled the expected XML');
  }
  for (const p of problems) out.push(`- FAILED: ${p}`);
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  const cfg = configOrExit(readConfig, USAGE);
  if (typeof cfg === 'number') return cfg;

  created.installHandlers(cfg.uri);

  const date = new Date();
  try {
    const conn = await created.connect(cfg.uri);
    const machine = await describeMachine(conn);

    log('setting up the fixture…');
    const fx = await setUp(conn, cfg);
    log(
      `defined ${fx.domains.map((d) => d.name).join(', ')}; ` +
        `${fx.snapshotNames.length} snapshot(s) on ${fx.target.name}`,
    );

    const checks = await crossCheck(conn, cfg.uri, fx);
    for (const c of checks) if (!c.ok) log(`check FAILED: ${c.what}: ${c.detail}`);

    const spawnSamples = newSamples();
    await warm(3, () => run('/bin/true', []));
    await timeCalls(cfg.virshIterations, () => run('/bin/true', []), spawnSamples);

    const latency = await measureLatency(conn, cfg, fx);
    const throughput = await measureThroughput(cfg, fx);
    machine.loadAverageEnd = loadavg();

    const text = report(
      cfg,
      machine,
      fx,
      checks,
      latency,
      throughput,
      summarize(spawnSamples.times),
      date,
    );
    process.stdout.write(`${text}\n`);

    if (cfg.json) {
      const data = {
        date: date.toISOString(),
        config: cfg,
        machine,
        fixture: {
          runId: fx.runId,
          domains: fx.domains.map((d) => d.name),
          target: fx.target.name,
          snapshots: fx.snapshotNames,
          setupMs: fx.setupMs,
        },
        checks,
        spawnBaseline: summarize(spawnSamples.times),
        latency: latency.map((r) => ({
          name: r.name,
          virshCommand: r.virshCommand,
          summaries: r.summaries,
          errors: Object.fromEntries(
            Object.entries(r.samples).map(([k, s]) => [
              k,
              s ? { count: s.errors, first: s.firstErrors } : null,
            ]),
          ),
          samplesMs: Object.fromEntries(
            Object.entries(r.samples).map(([k, s]) => [k, s ? s.times : null]),
          ),
        })),
        throughput,
      };
      await writeJson(cfg.json, data);
    }
    const failed =
      checks.some((c) => !c.ok) ||
      latency.some((r) => Object.values(r.samples).some((s) => s !== null && s.errors > 0)) ||
      throughput.some((t) => t.errors > 0 || t.mismatches > 0);
    return failed ? 1 : 0;
  } finally {
    await created.cleanup(cfg.uri);
  }
}

runMain(main);
