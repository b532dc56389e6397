// Benchmark: snapshot create, list, revert and delete through brankas versus virsh, side by side.
//
//   npx tsc -p tsconfig.json && node dist/bench/snapshot-ops.js [options]
//
// It defines one throwaway, shut-off domain named `brankas-bench-<run>` (type='qemu', one small
// qcow2 disk in a temporary directory) holding a few internal snapshots, and then, round after
// round, lets three tools each take a snapshot of it, list its snapshots, revert to the new
// snapshot and delete it again:
//
//   - the brankas engine functions (createSnapshot, snapshotTree, planRevert + executeRevert,
//     planDelete + executeDelete) on a connection opened once: brankas used as a library;
//   - the `brankas` CLI, one `node dist/cli/brankas.js snapshot …` process per operation;
//   - `virsh snapshot-create-as|snapshot-list|snapshot-revert|snapshot-delete`, one process per
//     operation.
//
// The domain is shut off, so every snapshot is an internal snapshot of the disk alone: what is
// measured is the tools and the daemon, not QEMU saving a guest's memory. Each tool's four steps
// leave the domain as they found it, and the order of the tools rotates from round to round.
// It prints a markdown table on stdout (progress goes to stderr) and writes the raw numbers as
// JSON under bench/out/. Everything it created is removed at the end, also on error and on
// SIGINT/SIGTERM.
//
// This is a measurement, not a test: nothing here asserts a speed.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  createSnapshot,
  executeDelete,
  executeRevert,
  parseSnapshotXml,
  planDelete,
  planRevert,
  snapshotTree,
} from '../src/engine/snapshot/index.js';
import { Connection, DomainUndefine, type Domain } from '../src/libvirt/index.js';
import {
  brankasMain,
  cellOf,
  type Check,
  configOrExit,
  describeMachine,
  domainXml,
  errorText,
  lines,
  loadAverageLine,
  log,
  lookupForRemoval,
  type Machine,
  machineLines,
  newSamples,
  noteError,
  PREFIX,
  ratioOf,
  removeOrUndefine,
  repoRoot,
  run,
  runMain,
  sameList,
  type Samples,
  Teardown,
  virsh,
  writeJson,
} from './fixture.js';
import { formatMs, markdownTable, summarize, type Summary } from './stats.js';

const USAGE = `usage: node dist/bench/snapshot-ops.js [options]

  --iterations N   timed rounds: samples per operation and tool   (default 20, $BENCH_ITERATIONS)
  --warmup N       untimed rounds before them                     (default 2, $BENCH_WARMUP)
  --snapshots N    snapshots the domain holds all along            (default 3, $BENCH_SNAPSHOTS)
  --disk-size SIZE size of the throwaway qcow2 disk, for qemu-img (default 64M, $BENCH_DISK_SIZE)
  --uri URI        libvirt URI  (default $BENCH_URI, $LIBVIRT_DEFAULT_URI or qemu:///system)
  --json PATH      where to write the raw results (default bench/out/snapshot-ops-<time>.json)
  --no-json        do not write JSON
  -h, --help       this text
`;

interface Config {
  uri: string;
  iterations: number;
  warmup: number;
  snapshots: number;
  diskSize: string;
  json: string | null;
}

function positiveInt(name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new Error(`${name} must be an integer >= ${min}, got "${value}"`);
  }
  return n;
}

function readConfig(): Config | null {
  const { values } = parseArgs({
    options: {
      iterations: { type: 'string' },
      warmup: { type: 'string' },
      snapshots: { type: 'string' },
      'disk-size': { type: 'string' },
      uri: { type: 'string' },
      json: { type: 'string' },
      'no-json': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return null;
  const env = process.env;
  const diskSize = values['disk-size'] ?? env['BENCH_DISK_SIZE'] ?? '64M';
  if (!/^\d+[KMG]?$/.test(diskSize)) {
    throw new Error(`--disk-size must look like 64M, got "${diskSize}"`);
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return {
    uri: values.uri ?? env['BENCH_URI'] ?? env['LIBVIRT_DEFAULT_URI'] ?? 'qemu:///system',
    iterations: positiveInt('--iterations', values.iterations ?? env['BENCH_ITERATIONS'], 20),
    warmup: positiveInt('--warmup', values.warmup ?? env['BENCH_WARMUP'], 2, 0),
    snapshots: positiveInt('--snapshots', values.snapshots ?? env['BENCH_SNAPSHOTS'], 3, 0),
    diskSize,
    json: values['no-json']
      ? null
      : (values.json ?? join(repoRoot(), 'bench', 'out', `snapshot-ops-${stamp}.json`)),
  };
}

/** The compiled brankas CLI, next to this compiled benchmark (dist/bench → dist/src/cli). */
function cliPath(): string {
  return brankasMain(join(dirname(fileURLToPath(import.meta.url)), '..'));
}

/** The CLI always speaks English here, whatever $LANG says, so every run does the same work. */
const CLI_ENV: NodeJS.ProcessEnv = { ...process.env, LANG: 'C', LC_ALL: 'C' };

/** `brankas WORD WORD -c URI ARGS…`: the global -c may follow the command's words. */
async function brankas(uri: string, words: readonly string[], args: readonly string[]) {
  return (await run(process.execPath, [cliPath(), ...words, '-c', uri, ...args], CLI_ENV)).stdout;
}

// ---------------------------------------------------------------------------------------------
// What this run created, and its removal

const created = new Teardown({
  announce: () => {
    const name = created.domains[0];
    if (name) log(`cleaning up ${name}…`);
  },
  waitingMessage: 'cleanup: waiting for the call in flight to answer…',
  removeDomains: async (uri) => {
    const name = created.domains[0];
    if (!name) return;
    await removeOrUndefine(uri, name, async () => {
      const conn = await Connection.open(uri, { connectTimeoutMs: 10_000, callTimeoutMs: 120_000 });
      try {
        await removeDomain(conn, name, created.unconfirmed.has(name));
      } finally {
        await conn.close().catch(() => undefined);
      }
    });
  },
});
const checkNotStopping = (): void => created.checkNotStopping();
const track = <T>(start: () => Promise<T>): Promise<T> => created.track(start);

async function removeDomain(conn: Connection, name: string, unconfirmed: boolean): Promise<void> {
  const dom = await lookupForRemoval(conn, name, unconfirmed);
  // It was defined shut off and nothing here starts it; should anything have, stop it first.
  if (await dom.isActive()) await dom.destroy();
  await deleteSnapshots(dom, () => true);
  await dom.undefine(DomainUndefine.SNAPSHOTS_METADATA | DomainUndefine.CHECKPOINTS_METADATA);
}

/** Deletes the domain's snapshots that `which` selects, leaves first. Returns their names. */
async function deleteSnapshots(dom: Domain, which: (name: string) => boolean): Promise<string[]> {
  const deleted: string[] = [];
  for (;;) {
    const nodes = await snapshotTree(dom);
    const selected = nodes.filter((n) => which(n.name));
    // A leaf if there is one; otherwise libvirt hands the children to the parent.
    const next = selected.filter((n) => n.children.length === 0).pop() ?? selected[0];
    if (!next) return deleted;
    await (await dom.lookupSnapshot(next.name)).delete();
    deleted.push(next.name);
  }
}

// ---------------------------------------------------------------------------------------------
// Set-up

interface Fixture {
  runId: string;
  vm: Domain;
  /** The snapshots the domain holds between the tools' steps, oldest first. */
  baseSnapshots: string[];
  setupMs: { disk: number; define: number; snapshots: number };
}

async function setUp(conn: Connection, config: Config): Promise<Fixture> {
  const runId = randomBytes(3).toString('hex');
  const name = `${PREFIX}${runId}`;
  created.tmpDir = await mkdtemp(join(tmpdir(), `${name}-`));
  const disk = join(created.tmpDir, `${name}.qcow2`);
  let t0 = performance.now();
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, config.diskSize]);
  const diskMs = performance.now() - t0;
  t0 = performance.now();
  const vm = await created.define(conn, name, domainXml(name, disk));
  const defineMs = performance.now() - t0;
  if (await vm.isActive()) throw new Error(`${name} is running: it should be shut off`);
  const baseSnapshots: string[] = [];
  t0 = performance.now();
  for (let i = 1; i <= config.snapshots; i++) {
    const snap = `base-${i}`;
    await track(() =>
      vm.createSnapshot(
        `<domainsnapshot><name>${snap}</name><description>benchmark base</description></domainsnapshot>`,
      ),
    );
    baseSnapshots.push(snap);
  }
  const snapshotsMs = performance.now() - t0;
  return {
    runId,
    vm,
    baseSnapshots,
    setupMs: { disk: diskMs, define: defineMs, snapshots: snapshotsMs },
  };
}

// ---------------------------------------------------------------------------------------------
// The tools and their operations

const TOOLS = ['engine', 'cli', 'virsh'] as const;
type Tool = (typeof TOOLS)[number];
const OPERATIONS = ['create', 'list', 'revert', 'delete'] as const;
type Operation = (typeof OPERATIONS)[number];

type Step = (snapshot: string) => Promise<unknown>;

function toolSteps(tool: Tool, uri: string, vm: Domain): Record<Operation, Step> {
  const name = vm.name;
  switch (tool) {
    case 'engine':
      return {
        create: (s) => createSnapshot(vm, { name: s }),
        list: () => snapshotTree(vm),
        revert: async (s) => executeRevert(vm, await planRevert(vm, s)),
        delete: async (s) => executeDelete(vm, await planDelete(vm, s)),
      };
    case 'cli':
      return {
        create: (s) => brankas(uri, ['snapshot', 'create'], [name, s]),
        list: () => brankas(uri, ['snapshot', 'list'], [name]),
        revert: (s) => brankas(uri, ['snapshot', 'revert'], [name, s, '--yes']),
        delete: (s) => brankas(uri, ['snapshot', 'delete'], [name, s]),
      };
    case 'virsh':
      return {
        create: (s) => virsh(uri, ['snapshot-create-as', name, s]),
        list: () => virsh(uri, ['snapshot-list', name]),
        revert: (s) => virsh(uri, ['snapshot-revert', name, s]),
        delete: (s) => virsh(uri, ['snapshot-delete', name, s]),
      };
  }
}

/** The command line each tool's operation runs, for the report. */
function commandOf(tool: Tool, op: Operation, uri: string): string {
  const cli = {
    create: 'snapshot create VM NAME',
    list: 'snapshot list VM',
    revert: 'snapshot revert VM NAME --yes',
    delete: 'snapshot delete VM NAME',
  }[op];
  const vsh = {
    create: 'snapshot-create-as VM NAME',
    list: 'snapshot-list VM',
    revert: 'snapshot-revert VM NAME',
    delete: 'snapshot-delete VM NAME',
  }[op];
  const engine = {
    create: 'createSnapshot(vm, { name })',
    list: 'snapshotTree(vm)',
    revert: 'executeRevert(vm, await planRevert(vm, name))',
    delete: 'executeDelete(vm, await planDelete(vm, name))',
  }[op];
  switch (tool) {
    case 'engine':
      return engine;
    case 'cli':
      return `node ${relative(repoRoot(), cliPath())} ${cli.replace(' VM', ` -c ${uri} VM`)}`;
    case 'virsh':
      return `virsh -c ${uri} ${vsh}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Timing

/** Runs one step, timing it into `into` if given; false if it failed. */
async function timeOne(fn: () => Promise<unknown>, into: Samples | null): Promise<boolean> {
  checkNotStopping();
  const t0 = performance.now();
  try {
    await track(fn);
    into?.times.push(performance.now() - t0);
    return true;
  } catch (err) {
    if (created.stopping) throw err;
    if (into) {
      noteError(into, err);
    } else {
      log(`warm-up: ${errorText(err)}`);
    }
    return false;
  }
}

type Table = Record<Operation, Record<Tool, Samples>>;

interface Measured {
  samples: Table;
  /** Per tool: process start only (`--version`), for scale; the engine has none. */
  startup: { cli: Samples; virsh: Samples; node: Samples };
  checks: Check[];
  /** Rounds after which the domain's snapshots were not the base set again. */
  drift: string[];
}

/** The tools' order in round r: rotated, so none is always first or always last. */
function order(r: number): Tool[] {
  return TOOLS.map((_, i) => TOOLS[(i + r) % TOOLS.length] as Tool);
}

async function measure(config: Config, fx: Fixture): Promise<Measured> {
  const uri = config.uri;
  const vm = fx.vm;
  const steps = Object.fromEntries(TOOLS.map((t) => [t, toolSteps(t, uri, vm)])) as Record<
    Tool,
    Record<Operation, Step>
  >;
  const samples = Object.fromEntries(
    OPERATIONS.map((op) => [op, Object.fromEntries(TOOLS.map((t) => [t, newSamples()]))]),
  ) as Table;
  const startup = { cli: newSamples(), virsh: newSamples(), node: newSamples() };
  const checks: Check[] = [];
  const drift: string[] = [];
  const base = new Set(fx.baseSnapshots);
  const lastBase = fx.baseSnapshots[fx.baseSnapshots.length - 1];

  // All three tools see the same snapshots before anything is timed.
  const engineNames = (await snapshotTree(vm)).map((n) => n.name).sort();
  const cliJson = JSON.parse(await brankas(uri, ['snapshot', 'list'], [vm.name, '--json'])) as {
    snapshots: { name: string }[];
  };
  const cliNames = cliJson.snapshots.map((n) => n.name).sort();
  const virshNames = lines(await virsh(uri, ['snapshot-list', vm.name, '--name'])).sort();
  const expected = [...fx.baseSnapshots].sort();
  checks.push({
    what: 'before timing, engine, CLI and virsh list the same snapshots',
    ok:
      sameList(engineNames, expected) &&
      sameList(cliNames, expected) &&
      sameList(virshNames, expected),
    detail: `engine [${engineNames.join(', ')}], CLI [${cliNames.join(', ')}], virsh [${virshNames.join(', ')}]`,
  });

  /** Puts the domain back to its base snapshots (untimed) and says what it had to undo. */
  const restore = async (): Promise<string | undefined> => {
    const nodes = await snapshotTree(vm);
    const extra = nodes.filter((n) => !base.has(n.name)).map((n) => n.name);
    const current = nodes.find((n) => n.current)?.name;
    const missing = fx.baseSnapshots.filter((n) => !nodes.some((x) => x.name === n));
    if (extra.length === 0 && missing.length === 0 && current === lastBase) return undefined;
    await deleteSnapshots(vm, (n) => !base.has(n));
    return (
      `extra [${extra.join(', ')}], missing [${missing.join(', ')}], ` +
      `current ${current ?? 'none'} (expected ${lastBase ?? 'none'})`
    );
  };

  const createdKinds: string[] = [];
  const rounds = config.warmup + config.iterations;
  for (let r = 0; r < rounds; r++) {
    const warm = r < config.warmup;
    const label = warm ? `w${r + 1}` : String(r - config.warmup + 1);
    log(warm ? `warm-up round ${r + 1}/${config.warmup}…` : `round ${label}/${config.iterations}…`);
    for (const tool of order(r)) {
      const snap = `bench-${tool}-${label}`;
      for (const op of OPERATIONS) {
        const into = warm ? null : samples[op][tool];
        const ok = await timeOne(() => steps[tool][op](snap), into);
        if (!ok) break;
        if (warm && op === 'create') {
          // What each tool made: an internal snapshot of a shut-off domain, the same for all.
          const xml = await track(async () => (await vm.lookupSnapshot(snap)).xml());
          const facts = parseSnapshotXml(xml);
          createdKinds.push(`${tool}: ${facts.location}/${facts.state}/memory ${facts.memory}`);
        }
      }
      checkNotStopping();
      const undone = await track(restore);
      if (undone) drift.push(`round ${label}, after ${tool}: ${undone}`);
    }
    // Process start alone, for scale: no libvirt connection at all.
    const startInto = warm ? null : startup;
    await timeOne(
      () => run(process.execPath, [cliPath(), '--version'], CLI_ENV),
      startInto?.cli ?? null,
    );
    await timeOne(() => run('virsh', ['--version']), startInto?.virsh ?? null);
    await timeOne(() => run(process.execPath, ['-e', '']), startInto?.node ?? null);
  }
  if (config.warmup > 0) {
    const kinds = new Set(createdKinds.map((k) => k.slice(k.indexOf(':') + 2)));
    checks.push({
      what: 'every tool created the same kind of snapshot (location/state/memory)',
      ok: kinds.size === 1 && [...kinds][0] === 'internal/shutoff/memory no',
      detail: [...new Set(createdKinds)].join('; '),
    });
  }
  checks.push({
    what: "every tool's create, list, revert and delete left the domain as it found it",
    ok: drift.length === 0,
    detail: drift.length === 0 ? `${rounds} rounds × ${TOOLS.length} tools` : drift.join(' | '),
  });
  const vmActive = await vm.isActive();
  checks.push({
    what: 'the domain stayed shut off',
    ok: !vmActive,
    detail: vmActive ? 'it is running' : 'shut off',
  });
  return { samples, startup, checks, drift };
}

// ---------------------------------------------------------------------------------------------
// Report

function report(config: Config, machine: Machine, fx: Fixture, m: Measured, date: Date): string {
  const out: string[] = [];
  out.push(`## Snapshot operations: brankas vs virsh`);
  out.push('');
  out.push(...machineLines(machine, date));
  out.push(
    `- libvirt: daemon ${machine.libvirtDaemon} (${machine.hypervisor}), virsh ${machine.virsh}, ` +
      `qemu-img ${machine.qemuImg ?? 'unknown'}; URI ${config.uri}`,
  );
  out.push(loadAverageLine(machine));
  out.push(
    `- fixture: shut-off domain \`${fx.vm.name}\` with a ${config.diskSize} qcow2 disk and ` +
      `${fx.baseSnapshots.length} internal snapshot(s) (disk made in ${formatMs(fx.setupMs.disk)}, ` +
      `defined in ${formatMs(fx.setupMs.define)}, snapshots in ${formatMs(fx.setupMs.snapshots)})`,
  );
  out.push(
    `- samples: ${config.iterations} per operation and tool, one per round, after ` +
      `${config.warmup} warm-up round(s); in each round every tool in turn (order rotated) ` +
      `creates its own snapshot, lists, reverts to it and deletes it`,
  );
  out.push('');
  out.push('### Latency per operation (median / p90)');
  out.push('');
  const s = (op: Operation, tool: Tool): Summary => summarize(m.samples[op][tool].times);
  const rows = OPERATIONS.map((op) => [
    op,
    cellOf(s(op, 'engine')),
    cellOf(s(op, 'cli')),
    cellOf(s(op, 'virsh')),
    ratioOf(s(op, 'virsh'), s(op, 'engine')),
    ratioOf(s(op, 'virsh'), s(op, 'cli')),
  ]);
  const cliStart = summarize(m.startup.cli.times);
  const virshStart = summarize(m.startup.virsh.times);
  rows.push([
    'process start only (`--version`)',
    '—',
    cellOf(cliStart),
    cellOf(virshStart),
    '—',
    ratioOf(virshStart, cliStart),
  ]);
  out.push(
    markdownTable(
      [
        'operation',
        'brankas engine, open connection',
        'brankas CLI process',
        'virsh process',
        'virsh ÷ engine',
        'virsh ÷ CLI',
      ],
      rows,
      ['left', 'right', 'right', 'right', 'right', 'right'],
    ),
  );
  out.push('');
  out.push('What was timed (processes spawned from Node, output captured):');
  out.push('');
  for (const op of OPERATIONS) {
    out.push(
      `- ${op}: \`${commandOf('engine', op, config.uri)}\`; ` +
        `\`${commandOf('cli', op, config.uri)}\`; \`${commandOf('virsh', op, config.uri)}\``,
    );
  }
  const nodeStart = summarize(m.startup.node.times);
  out.push('');
  out.push(
    `For scale: \`node -e ''\` takes ${formatMs(nodeStart.median)} (median, p90 ` +
      `${formatMs(nodeStart.p90)}) on this machine.`,
  );
  out.push('');
  out.push('### Checks');
  out.push('');
  for (const c of m.checks) out.push(`- ${c.ok ? 'ok' : 'FAILED'}: ${c.what} (${c.detail})`);
  const problems: string[] = [];
  for (const op of OPERATIONS) {
    for (const tool of TOOLS) {
      const x = m.samples[op][tool];
      if (x.errors > 0) {
        problems.push(`${op} / ${tool}: ${x.errors} error(s), e.g. ${x.firstErrors.join(' | ')}`);
      }
    }
  }
  for (const [tool, x] of Object.entries(m.startup)) {
    if (x.errors > 0) problems.push(`start / ${tool}: ${x.errors} error(s)`);
  }
  if (problems.length === 0) out.push('- ok: no timed operation failed');
  for (const p of problems) out.push(`- FAILED: ${p}`);
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  const cfg = configOrExit(readConfig, USAGE);
  if (typeof cfg === 'number') return cfg;
  if (!existsSync(cliPath())) {
    process.stderr.write(`${cliPath()} is missing: run npx tsc -p tsconfig.json first\n`);
    return 2;
  }

  created.installHandlers(cfg.uri);

  const date = new Date();
  try {
    const conn = await created.connect(cfg.uri);
    const machine = await describeMachine(conn, { qemuImg: true });

    log('setting up the fixture…');
    const fx = await setUp(conn, cfg);
    log(`defined ${fx.vm.name} with ${fx.baseSnapshots.length} snapshot(s)`);

    const measured = await measure(cfg, fx);
    machine.loadAverageEnd = loadavg();
    for (const c of measured.checks) if (!c.ok) log(`check FAILED: ${c.what}: ${c.detail}`);

    const text = report(cfg, machine, fx, measured, date);
    process.stdout.write(`${text}\n`);

    if (cfg.json) {
      const data = {
        date: date.toISOString(),
        config: cfg,
        machine,
        fixture: {
          runId: fx.runId,
          domain: fx.vm.name,
          baseSnapshots: fx.baseSnapshots,
          setupMs: fx.setupMs,
        },
        checks: measured.checks,
        operations: OPERATIONS.map((op) => ({
          name: op,
          commands: Object.fromEntries(TOOLS.map((t) => [t, commandOf(t, op, cfg.uri)])),
          summaries: Object.fromEntries(
            TOOLS.map((t) => [t, summarize(measured.samples[op][t].times)]),
          ),
          errors: Object.fromEntries(
            TOOLS.map((t) => {
              const x = measured.samples[op][t];
              return [t, { count: x.errors, first: x.firstErrors }];
            }),
          ),
          samplesMs: Object.fromEntries(TOOLS.map((t) => [t, measured.samples[op][t].times])),
        })),
        startup: Object.fromEntries(
          Object.entries(measured.startup).map(([k, x]) => [
            k,
            { summary: summarize(x.times), errors: x.errors, samplesMs: x.times },
          ]),
        ),
      };
      await writeJson(cfg.json, data);
    }
    const failed =
      measured.checks.some((c) => !c.ok) ||
      OPERATIONS.some((op) => TOOLS.some((t) => measured.samples[op][t].errors > 0));
    return failed ? 1 : 0;
  } finally {
    await created.cleanup(cfg.uri);
  }
}

runMain(main);
