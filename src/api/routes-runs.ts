/**
 * Instant recovery in the API (docs/instant-recovery.md): a VM run straight from a backup as
 * a job on the new VM (`start` as `brankas run --start`), the runs with their states, stopping
 * one's serving process (refused with the engine's RUN_VM_DEPENDS while the VM reads from it;
 * `force` needs `confirm`), and persisting one as a job on its VM (its job lock, as any
 * restore). The operations are the CLI's own (`src/cli/run-ops.ts`), handed in by
 * `brankas serve`: the serving process is a face's to own.
 */
import type { Hono } from 'hono';
import type {
  PersistResult,
  RunFacts,
  RunInspection,
  RunPlan,
  StartedRun,
} from '../engine/index.js';
import { ServiceError, type RunRecord } from '../service/index.js';
import type { ApiDeps } from './app.js';
import { ApiError, badRequest } from './errors.js';
import { json } from './json.js';
import { backupId, confirmation, jsonObject, optionalBoolean, vmName } from './validate.js';

export interface RunStartRequest {
  as: string;
  start?: boolean;
  allowHostAccess?: boolean;
  skipDamaged?: boolean;
}

/** What the API needs of instant recovery (the CLI's run-ops satisfy it). */
export interface RunDeps {
  plan(ref: string, r: RunStartRequest): Promise<RunPlan>;
  start(
    ref: string,
    r: RunStartRequest,
    signal?: AbortSignal,
  ): Promise<{ plan: RunPlan; record: RunRecord; started: StartedRun }>;
  list(): Promise<{ record: RunRecord; facts: RunFacts; inspection: RunInspection }[]>;
  stop(vm: string, force: boolean): Promise<{ vm: string; backup: string; forced: boolean }>;
  persist(
    vm: string,
    o: {
      signal?: AbortSignal;
      onProgress?: (e: { disk: string; done: bigint; total: bigint }) => void;
    },
  ): Promise<PersistResult & { backup: string }>;
}

function runsOf(deps: ApiDeps): RunDeps {
  if (!deps.runs) {
    throw new ApiError('API_NOT_FOUND', 'this server does not run VMs from backups', {
      details: { method: 'GET', path: '/api/v1/runs' },
    });
  }
  return deps.runs;
}

/** A plan without its XML (a console password may be in it). */
function planSummary(p: RunPlan) {
  return {
    backup: p.backup,
    source: p.source,
    vm: p.vm,
    disks: p.disks,
    bootFiles: p.bootFiles.map((b) => b.path),
    hostAccess: p.hostAccess,
  };
}

export function runRoutes(app: Hono, deps: ApiDeps): void {
  app.get('/api/v1/runs', async () => {
    const rows = await runsOf(deps).list();
    return json({
      runs: rows.map(({ record, facts, inspection }) => ({
        ...record,
        serverAlive: facts.serverAlive,
        ...inspection,
      })),
    });
  });

  app.post('/api/v1/backups/:id/run', async (c) => {
    const runs = runsOf(deps);
    const id = backupId(c.req.param('id'));
    const body = await jsonObject(c.req, [
      'as',
      'start',
      'allowHostAccess',
      'skipDamaged',
      'dryRun',
      'wait',
    ]);
    if (typeof body['as'] !== 'string') throw badRequest("'as' must be the new VM's name");
    const request: RunStartRequest = {
      as: vmName(body['as']),
      start: optionalBoolean(body, 'start'),
      allowHostAccess: optionalBoolean(body, 'allowHostAccess'),
      skipDamaged: optionalBoolean(body, 'skipDamaged'),
    };
    if (optionalBoolean(body, 'dryRun')) {
      return json({ plan: planSummary(await runs.plan(id, request)) });
    }
    const job = await deps.queue.submit({
      vm: request.as,
      kind: 'restore',
      wait: optionalBoolean(body, 'wait'),
      work: async ({ job: vmJob, signal }) => {
        const r = await runs.start(id, request, signal);
        // Defined (and started, when asked) over the export: nothing to put back.
        await vmJob.settle();
        return {
          ...planSummary(r.plan),
          uuid: r.started.uuid,
          started: r.started.started,
          server: r.record.server,
          since: r.record.since,
        };
      },
    });
    return json(job, 202);
  });

  app.post('/api/v1/runs/:vm/stop', async (c) => {
    const runs = runsOf(deps);
    const vm = vmName(c.req.param('vm'));
    const body = await jsonObject(c.req, ['force', 'confirm', 'dryRun']);
    const force = optionalBoolean(body, 'force');
    // Stopping under a VM that reads from the export pauses it: that asks first.
    const dryRun = force
      ? confirmation(body, 'stop serving a VM that reads from it') === 'plan'
      : optionalBoolean(body, 'dryRun');
    if (dryRun) {
      const row = (await runs.list()).find((r) => r.record.vm === vm);
      if (!row) {
        throw new ServiceError('RUN_NOT_FOUND', `no VM named '${vm}' runs from a backup here`, {
          details: { vm },
        });
      }
      return json({ plan: { ...row.inspection, serverAlive: row.facts.serverAlive } });
    }
    return json(await runs.stop(vm, force));
  });

  app.post('/api/v1/runs/:vm/persist', async (c) => {
    const runs = runsOf(deps);
    const vm = vmName(c.req.param('vm'));
    const body = await jsonObject(c.req, ['wait']);
    const job = await deps.queue.submit({
      vm,
      kind: 'restore',
      wait: optionalBoolean(body, 'wait'),
      work: async ({ signal, progress }) => {
        const r = await runs.persist(vm, {
          signal,
          onProgress: (e) =>
            progress({ disk: e.disk, done: Number(e.done), total: Number(e.total) }),
        });
        return r;
      },
    });
    return json(job, 202);
  });
}
