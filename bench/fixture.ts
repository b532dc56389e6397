// Shared plumbing of the libvirt benchmarks (bench/libvirt-client.ts, bench/snapshot-ops.ts):
// running processes and virsh, error text, the throwaway domain's XML, tracking what a run
// created and the set-up call in flight, removing all of it again (also on error and on
// SIGINT/SIGTERM/SIGHUP), timing samples and the machine description at the top of a report.
// What each benchmark measures and reports stays in its own script.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Connection, versionString, type Domain } from '../src/libvirt/index.js';
import { formatMs, formatRatio, type Summary } from './stats.js';

/** Every libvirt object these benchmarks create is named with this prefix. */
export const PREFIX = 'brankas-bench-';

/** The repository root: the first directory above this module holding a package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
}

/**
 * The `brankas` executable of a build's dist folder (this build's by default): the bundle that
 * `npm run build` makes (dist/cli/brankas.js, package.json's bin), or for an older build
 * without one, its module tree's main.js.
 */
export function brankasMain(dist: string = join(repoRoot(), 'dist')): string {
  const bundle = join(dist, 'cli', 'brankas.js');
  return existsSync(bundle) ? bundle : join(dist, 'src', 'cli', 'main.js');
}

export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** Runs `main`, sets the exit code to what it returns, and reports a failure it throws. */
export function runMain(main: () => Promise<number>): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      log(`benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exitCode = 1;
    },
  );
}

/**
 * Reads the options: the config, or the exit code when there is nothing to run (2 after a bad
 * option, with the usage on stderr; 0 after --help, with the usage on stdout).
 */
export function configOrExit<C>(readConfig: () => C | null, usage: string): C | number {
  let config: C | null;
  try {
    config = readConfig();
  } catch (err) {
    process.stderr.write(`${errorText(err)}\n\n${usage}`);
    return 2;
  }
  if (!config) {
    process.stdout.write(usage);
    return 0;
  }
  return config;
}

/** Writes the raw results as JSON to `path`, making its directory first. */
export async function writeJson(path: string, data: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(data, null, 2)}\n`);
  log(`raw results written to ${relative(process.cwd(), path) || path}`);
}

// ---------------------------------------------------------------------------------------------
// Processes

export function run(
  command: string,
  args: readonly string[],
  env?: NodeJS.ProcessEnv,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { maxBuffer: 64 * 1024 * 1024, env }, (err, stdout, stderr) => {
      if (err) {
        const detail = stderr.trim() || err.message;
        reject(new Error(`${command} ${args.join(' ')}: ${detail}`));
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
}

export async function virsh(uri: string, args: readonly string[]): Promise<string> {
  return (await run('virsh', ['-c', uri, ...args])).stdout;
}

/** Non-empty, trimmed lines of a command's output. */
export function lines(text: string): string[] {
  return text
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

// ---------------------------------------------------------------------------------------------
// Errors

export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = errorCode(err);
    return code ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

// ---------------------------------------------------------------------------------------------
// The throwaway domain

export function domainXml(name: string, disk: string, format: 'qcow2' | 'raw' = 'qcow2'): string {
  return `<domain type='qemu'>
  <name>${name}</name>
  <description>brankas benchmark throwaway domain; safe to undefine</description>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type>hvm</type>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='${format}'/>
      <source file='${disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
`;
}

// ---------------------------------------------------------------------------------------------
// What a run created, and its removal

export interface TeardownSteps {
  /** Says what is about to be removed (before waiting for the call in flight). */
  announce: () => void;
  /** Logged when cleanup has to wait for a call in flight. */
  waitingMessage: string;
  /** Removes the run's domains; must not throw. */
  removeDomains: (uri: string) => Promise<void>;
}

/**
 * What a benchmark run created (domains, a temporary directory, its main connection) and the
 * call in flight, so that cleanup, on success, error or signal, can wait for that call and
 * then remove everything.
 */
export class Teardown {
  tmpDir: string | undefined = undefined;
  /** Names of the domains this run defined (or tried to: recorded before the call). */
  readonly domains: string[] = [];
  /** Names whose define call has not answered (yet, or ever: it may have timed out). */
  readonly unconfirmed = new Set<string>();
  mainConnection: Connection | undefined = undefined;
  /** The call in flight, if any: cleanup lets it finish before looking. */
  private inFlight: Promise<unknown> | undefined = undefined;
  private cleanupPromise: Promise<void> | undefined = undefined;
  /** Set when cleanup begins: from then on the benchmark starts nothing new. */
  private stoppingFlag = false;

  constructor(private readonly steps: TeardownSteps) {}

  get stopping(): boolean {
    return this.stoppingFlag;
  }

  checkNotStopping(): void {
    if (this.stoppingFlag) throw new Error('interrupted: cleaning up');
  }

  /** Starts a call (unless cleanup has begun) and records it as in flight until it settles. */
  async track<T>(start: () => Promise<T>): Promise<T> {
    this.checkNotStopping();
    const p = start();
    this.inFlight = p;
    try {
      return await p;
    } finally {
      this.inFlight = undefined;
    }
  }

  /** Defines a domain, recording its name before the call so that cleanup finds it anyway. */
  async define(conn: Connection, name: string, xml: string): Promise<Domain> {
    this.checkNotStopping();
    this.domains.push(name);
    this.unconfirmed.add(name);
    const dom = await this.track(() => conn.defineDomain(xml));
    this.unconfirmed.delete(name);
    return dom;
  }

  /** Removes everything this run created. Idempotent; never throws; reports what it could not do. */
  cleanup(uri: string): Promise<void> {
    this.stoppingFlag = true;
    this.cleanupPromise ??= this.doCleanup(uri);
    return this.cleanupPromise;
  }

  private async doCleanup(uri: string): Promise<void> {
    this.steps.announce();
    // A define or snapshot still running in the daemon (or in a process we started) would
    // otherwise land after the removal.
    if (this.inFlight) {
      log(this.steps.waitingMessage);
      while (this.inFlight) await this.inFlight.catch(() => undefined);
    }
    await this.steps.removeDomains(uri);
    if (this.mainConnection) await this.mainConnection.close().catch(() => undefined);
    if (this.tmpDir) {
      const dir = this.tmpDir;
      await rm(dir, { recursive: true, force: true }).catch((err: unknown) => {
        log(`cleanup: could not remove ${dir}: ${errorText(err)}`);
      });
    }
  }

  /** Opens the run's main connection (cleanup closes it). */
  async connect(uri: string): Promise<Connection> {
    log(`connecting to ${uri}…`);
    // Long call timeout: defining a domain can take the daemon tens of seconds when it re-probes
    // QEMU's capabilities; a timeout here would only leave a define running behind our back.
    const conn = await Connection.open(uri, { callTimeoutMs: 600_000 });
    this.mainConnection = conn;
    return conn;
  }

  /** Cleans up before exiting on SIGINT, SIGTERM, SIGHUP, an uncaught exception or rejection. */
  installHandlers(uri: string): void {
    let cleaningUpOnSignal = false;
    const onSignal = (signal: NodeJS.Signals, code: number) => (): void => {
      if (cleaningUpOnSignal) {
        log(`${signal} again: still cleaning up, please wait`);
        return;
      }
      cleaningUpOnSignal = true;
      log(`\n${signal}: cleaning up before exiting…`);
      void this.cleanup(uri).finally(() => process.exit(code));
    };
    process.on('SIGINT', onSignal('SIGINT', 130));
    process.on('SIGTERM', onSignal('SIGTERM', 143));
    process.on('SIGHUP', onSignal('SIGHUP', 129));
    const onFatal = (err: unknown): void => {
      log(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      void this.cleanup(uri).finally(() => process.exit(1));
    };
    process.on('uncaughtException', onFatal);
    process.on('unhandledRejection', onFatal);
  }
}

/**
 * Removes one domain through the client (`viaClient`, if given), falling back to
 * `virsh undefine` when that fails for another reason than the domain being gone.
 */
export async function removeOrUndefine(
  uri: string,
  name: string,
  viaClient: (() => Promise<void>) | undefined,
): Promise<void> {
  let done = false;
  if (viaClient) {
    try {
      await viaClient();
      done = true;
    } catch (err) {
      if (errorCode(err) === 'LIBVIRT_NO_DOMAIN') {
        done = true;
      } else {
        log(`cleanup: client could not remove ${name}: ${errorText(err)}; trying virsh`);
      }
    }
  }
  if (!done) {
    try {
      await virsh(uri, ['undefine', name, '--snapshots-metadata', '--checkpoints-metadata']);
    } catch (err) {
      const text = errorText(err);
      if (!/failed to get domain|Domain not found/i.test(text)) {
        log(`cleanup: virsh could not remove ${name} either: ${text}`);
      }
    }
  }
}

/** Looks a domain up; if its define is unconfirmed, keeps looking a while (it may still land). */
export async function lookupForRemoval(
  conn: Connection,
  name: string,
  unconfirmed: boolean,
): Promise<Domain> {
  // A define whose call timed out on our side may still complete in the daemon: look a while.
  const deadline = performance.now() + (unconfirmed ? 30_000 : 0);
  for (;;) {
    try {
      return await conn.lookupDomain(name);
    } catch (err) {
      if (errorCode(err) !== 'LIBVIRT_NO_DOMAIN' || performance.now() >= deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Timing and checks

export interface Samples {
  times: number[];
  errors: number;
  firstErrors: string[];
}

export function newSamples(): Samples {
  return { times: [], errors: 0, firstErrors: [] };
}

/** Counts a failed sample, keeping the first few error texts. */
export function noteError(into: { errors: number; firstErrors: string[] }, err: unknown): void {
  into.errors++;
  if (into.firstErrors.length < 3) into.firstErrors.push(errorText(err));
}

export interface Check {
  what: string;
  ok: boolean;
  detail: string;
}

export function cellOf(s: Summary | null): string {
  return s && s.n > 0 ? `${formatMs(s.median)} / ${formatMs(s.p90)}` : '—';
}

export function ratioOf(virshSummary: Summary | null, other: Summary | null): string {
  if (!virshSummary || !other || virshSummary.n === 0 || other.n === 0) return '—';
  return formatRatio(virshSummary.median / other.median);
}

// ---------------------------------------------------------------------------------------------
// Machine

export interface Machine {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  libvirtDaemon: string;
  hypervisor: string;
  virsh: string;
  /** Only when asked for (`describeMachine(conn, { qemuImg: true })`). */
  qemuImg?: string;
  loadAverageStart: number[];
  loadAverageEnd?: number[];
}

export async function describeMachine(
  conn: Connection,
  options: { qemuImg?: boolean } = {},
): Promise<Machine> {
  let nproc = availableParallelism();
  try {
    nproc = Number((await run('nproc', [])).stdout.trim()) || nproc;
  } catch {
    // availableParallelism() it is
  }
  let cpuModel = 'unknown';
  try {
    const cpuinfo = await readFile('/proc/cpuinfo', 'utf8');
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpuModel;
  } catch {
    // not Linux
  }
  const hvType = await conn.hypervisorType();
  let virshVersion = 'unknown';
  try {
    virshVersion = (await run('virsh', ['--version'])).stdout.trim();
  } catch {
    // reported as unknown
  }
  let qemuImg: string | undefined;
  if (options.qemuImg) {
    qemuImg = 'unknown';
    try {
      qemuImg =
        /version\s+(\S+)/.exec((await run('qemu-img', ['--version'])).stdout)?.[1] ?? qemuImg;
    } catch {
      // reported as unknown
    }
  }
  return {
    nproc,
    cpuModel,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    libvirtDaemon: versionString(await conn.libVersion()),
    hypervisor: `${hvType} ${versionString(await conn.hypervisorVersion())}`,
    virsh: virshVersion,
    ...(qemuImg === undefined ? {} : { qemuImg }),
    loadAverageStart: loadavg(),
  };
}

/** The report's first lines: date, machine, kernel and Node. */
export function machineLines(machine: Machine, date: Date): string[] {
  return [
    `- date: ${date.toISOString()}`,
    `- machine: ${machine.nproc} CPU(s), ${machine.cpuModel}, ${machine.memoryGiB} GiB RAM`,
    `- kernel ${machine.kernel}, Node ${machine.node}`,
  ];
}

/** The report's load-average line, at start and at end. */
export function loadAverageLine(machine: Machine): string {
  const loads = (l: number[] | undefined): string =>
    l ? l.map((x) => x.toFixed(2)).join(' ') : '?';
  return `- load average (1/5/15 min): ${loads(machine.loadAverageStart)} at start, ${loads(machine.loadAverageEnd)} at end`;
}
