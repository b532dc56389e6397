/**
 * Instant recovery's operations as the faces share them: `brankas run` (commands/run.ts) and
 * the HTTP API's runs (routes-runs.ts, handed these by `brankas serve`). The engine plans,
 * defines and persists; these own what a face owns, the detached serving process
 * (commands/run-server.ts), and keep the run records (service/runs.ts). Persisting takes the
 * VM's job lock from its caller: the CLI runs it as a `VmJob`, the API as a queue job.
 */
import { mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  checkStoppable,
  defineRun,
  EngineError,
  inspectRun,
  persistRun,
  planRun,
  qemuOwner,
  type PersistResult,
  type RunFacts,
  type RunInspection,
  type RunPlan,
  type StartedRun,
} from '../engine/index.js';
import type { RunDeps } from '../api/index.js';
import type { Connection } from '../libvirt/index.js';
import type { Repository } from '../repo/repository.js';
import {
  listRunRecords,
  readRunRecord,
  removeRunRecord,
  writeRunRecord,
  type RunRecord,
} from '../service/index.js';
import { serverRunning, startServer, stopServer } from './commands/run-server.js';

export interface RunAccess {
  stateDir: string;
  connect: () => Promise<Connection>;
  /** The repository's location (absolute) and password, handed to the serving process. */
  location: string;
  password: string | undefined;
  /** Opens the repository at `location`; the caller closes it. */
  openRepo: () => Promise<Repository>;
  env: NodeJS.ProcessEnv;
}

export interface RunRequest {
  as: string;
  toDir?: string;
  allowHostAccess?: boolean;
  skipDamaged?: boolean;
  start?: boolean;
}

export interface StartedRunResult {
  plan: RunPlan;
  record: RunRecord;
  started: StartedRun;
}

export interface RunRow {
  record: RunRecord;
  facts: RunFacts;
  inspection: RunInspection;
}

export interface StopResult {
  vm: string;
  backup: string;
  stopped: true;
  forced: boolean;
}

/**
 * For tests only: `BRANKAS_TEST_KILL_AT=POINT` kills this process with SIGKILL at that point,
 * so a test can put a real kill exactly where a hole was (test/run.test.ts).
 */
export function killPoint(env: NodeJS.ProcessEnv, point: string): void {
  if (env['BRANKAS_TEST_KILL_AT'] === point) process.kill(process.pid, 'SIGKILL');
}

export function factsOf(r: RunRecord): RunFacts {
  return {
    vm: r.vm,
    backup: r.backup,
    sockets: r.disks.map((d) => d.socket),
    serverAlive: serverRunning(r.server),
    serverPid: r.server.pid,
    persisted: r.persisted !== null,
  };
}

function options(r: RunRequest) {
  return {
    as: r.as,
    ...(r.toDir !== undefined ? { toDir: r.toDir } : {}),
    allowHostAccess: r.allowHostAccess === true,
    skipDamaged: r.skipDamaged === true,
  };
}

/** The plan alone (`--dry-run`): nothing is created. */
export async function planRunOf(a: RunAccess, ref: string, r: RunRequest): Promise<RunPlan> {
  const conn = await a.connect();
  const repo = await a.openRepo();
  try {
    return await planRun(conn, repo, ref, options(r));
  } finally {
    await repo.close();
  }
}

/**
 * Plans, starts the serving process (which writes the run's record before it says it is
 * ready), then defines (and with `start` starts) the VM; a failure after the server started
 * stops it and removes its record.
 */
export async function startRun(
  a: RunAccess,
  ref: string,
  r: RunRequest,
  signal?: AbortSignal,
): Promise<StartedRunResult> {
  const conn = await a.connect();
  const repo = await a.openRepo();
  try {
    const plan = await planRun(conn, repo, ref, options(r));
    const disks = plan.disks.map((d) => ({ disk: d.disk, socket: d.socket, overlay: d.overlay }));
    // --to DIR may not exist yet: the server binds its sockets there before the overlays are made.
    for (const d of new Set(disks.map((x) => dirname(x.socket)))) {
      await mkdir(d, { recursive: true });
    }
    const server = await startServer({
      stateDir: a.stateDir,
      vm: plan.vm,
      backup: plan.backup,
      location: a.location,
      password: a.password,
      disks,
      owner: qemuOwner(await conn.capabilities()),
      env: a.env,
      record: {
        vm: plan.vm,
        backup: plan.backup,
        repo: a.location,
        disks,
        persisted: null,
      },
    });
    try {
      killPoint(a.env, 'run:server-started');
      const record = await readRunRecord(a.stateDir, plan.vm);
      const started = await defineRun(conn, repo, plan, {
        start: r.start === true,
        ...(signal ? { signal } : {}),
      });
      return { plan, record: { ...record, server }, started };
    } catch (err) {
      await stopServer(server);
      await removeRunRecord(a.stateDir, plan.vm);
      throw err;
    }
  } finally {
    await repo.close();
  }
}

export async function listRuns(a: Pick<RunAccess, 'stateDir' | 'connect'>): Promise<RunRow[]> {
  const records = await listRunRecords(a.stateDir);
  const conn = records.length > 0 ? await a.connect() : undefined;
  const rows: RunRow[] = [];
  for (const record of records) {
    const facts = factsOf(record);
    rows.push({ record, facts, inspection: await inspectRun(conn!, facts) });
  }
  return rows;
}

/** Stops the serving process and forgets the run; RUN_VM_DEPENDS while the VM reads from it. */
export async function stopRun(
  a: Pick<RunAccess, 'stateDir' | 'connect'>,
  vm: string,
  force: boolean,
): Promise<StopResult> {
  const record = await readRunRecord(a.stateDir, vm);
  const facts = factsOf(record);
  const i = await checkStoppable(await a.connect(), facts, force);
  await stopServer(record.server);
  await removeRunRecord(a.stateDir, vm);
  return {
    vm,
    backup: record.backup,
    stopped: true,
    forced: i.dependsOnExport && facts.serverAlive,
  };
}

/**
 * Moves a run onto local disks (the engine's persistRun), records it, then stops serving and
 * removes the overlays. The caller holds the VM's job lock.
 */
export async function persistRecordedRun(
  a: Pick<RunAccess, 'stateDir' | 'connect'>,
  vm: string,
  o: {
    signal?: AbortSignal;
    onProgress?: (e: { disk: string; done: bigint; total: bigint }) => void;
  } = {},
): Promise<PersistResult & { backup: string }> {
  const record = await readRunRecord(a.stateDir, vm);
  if (record.persisted) {
    const disks = record.persisted.disks.map((d) => d.path).join(', ');
    throw new EngineError(
      'RUN_ALREADY_PERSISTED',
      `VM '${vm}' already runs from local disks: ${disks}`,
      { details: { vm, disks } },
    );
  }
  if (!serverRunning(record.server)) {
    const message = `its serving process (${record.server.pid}) is gone: brankas run --resume ${vm} first`;
    throw new EngineError(
      'RUN_PERSIST_FAILED',
      `VM '${vm}' could not be moved onto local disks (disk -: ${message}); it goes on running over backup ${record.backup}`,
      { details: { vm, disk: '-', message, backup: record.backup } },
    );
  }
  const result = await persistRun(await a.connect(), vm, record.disks, {
    backup: record.backup,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  });
  await writeRunRecord(a.stateDir, {
    ...record,
    persisted: { at: new Date().toISOString(), disks: result.disks },
  });
  // Nothing reads the export or the overlays any more.
  await stopServer(record.server);
  for (const d of record.disks) await unlink(d.overlay).catch(() => undefined);
  return { backup: record.backup, ...result };
}

/** The operations as the HTTP API takes them (`brankas serve`). */
export function runOperations(a: RunAccess): RunDeps {
  return {
    plan: (ref, r) => planRunOf(a, ref, r),
    start: (ref, r, signal) => startRun(a, ref, r, signal),
    list: () => listRuns(a),
    stop: (vm, force) => stopRun(a, vm, force),
    persist: (vm, o) => persistRecordedRun(a, vm, o),
  };
}
