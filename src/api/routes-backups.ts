/**
 * A backup in full (its manifest and whether its signature was verified: what `brankas repo info
 * BACKUP` shows), and work on a backup that is already in the repository, as jobs of the service's queue: the
 * restore test (`verify`: every chunk read back and re-hashed, and with `boot` restored as an
 * isolated copy and booted; the result is recorded in the backup's manifest) and the restore.
 * A restore that replaces a VM still defined (`force`) is destructive: it needs
 * `{"confirm": true}`, and `{"dryRun": true}` returns the engine's plan.
 */
import type { Hono } from 'hono';
import {
  backupInfo,
  resolveBackup,
  restoreBackup,
  verifyBackup,
  type RestoreResult,
} from '../engine/index.js';
import type { ApiDeps } from './app.js';
import { badRequest } from './errors.js';
import { json } from './json.js';
import {
  backupId,
  confirmation,
  jsonObject,
  optionalBoolean,
  optionalInteger,
  vmName,
} from './validate.js';

/** The VM a backup belongs to (the one whose lock its jobs take). */
async function vmOf(deps: ApiDeps, id: string): Promise<string> {
  const repo = await deps.openRepo();
  try {
    return (await resolveBackup(repo, id)).vm.name;
  } finally {
    await repo.close();
  }
}

/** A restore's result without its XML (console passwords may be in it). */
function restoreSummary(r: RestoreResult) {
  return {
    backup: r.backup,
    vm: r.vm,
    disks: r.disks,
    started: r.started,
    droppedSnapshots: r.droppedSnapshots,
    hostAccess: r.hostAccess,
    dryRun: r.dryRun,
    seconds: r.seconds,
  };
}

export function backupRoutes(app: Hono, deps: ApiDeps): void {
  app.get('/api/v1/backups/:id', async (c) => {
    const id = backupId(c.req.param('id'));
    const repo = await deps.openRepo();
    try {
      return json(await backupInfo(repo, id));
    } finally {
      await repo.close();
    }
  });

  app.post('/api/v1/backups/:id/verify', async (c) => {
    const id = backupId(c.req.param('id'));
    const body = await jsonObject(c.req, ['boot', 'bootTimeoutSeconds', 'wait']);
    const boot = optionalBoolean(body, 'boot');
    const bootTimeoutS = optionalInteger(body, 'bootTimeoutSeconds', 10, 3600, 300);
    const vm = await vmOf(deps, id);
    const job = await deps.queue.submit({
      vm,
      kind: 'verify',
      wait: optionalBoolean(body, 'wait'),
      work: async ({ signal, note }) => {
        const conn = await deps.connect();
        const repo = await deps.openRepo();
        try {
          return await verifyBackup(conn, repo, id, {
            boot,
            bootTimeoutMs: bootTimeoutS * 1000,
            signal,
            onStep: (step) => note({ step }),
          });
        } finally {
          await repo.close();
        }
      },
    });
    return json(job, 202);
  });

  app.post('/api/v1/backups/:id/restore', async (c) => {
    const id = backupId(c.req.param('id'));
    const body = await jsonObject(c.req, ['as', 'start', 'force', 'confirm', 'dryRun', 'wait']);
    const asText = body['as'];
    if (asText !== undefined && typeof asText !== 'string')
      throw badRequest("'as' must be a VM name");
    const as = asText === undefined ? undefined : vmName(asText);
    const start = optionalBoolean(body, 'start');
    const force = optionalBoolean(body, 'force');
    // Only replacing a VM is destructive; a copy under a new name or a VM that is gone is not.
    const dryRun = force
      ? confirmation(body, 'restore over a VM') === 'plan'
      : optionalBoolean(body, 'dryRun');
    const options = { as, start, force };
    if (dryRun) {
      const conn = await deps.connect();
      const repo = await deps.openRepo();
      try {
        return json({
          plan: restoreSummary(await restoreBackup(conn, repo, id, { ...options, dryRun })),
        });
      } finally {
        await repo.close();
      }
    }
    const job = await deps.queue.submit({
      vm: as ?? (await vmOf(deps, id)),
      kind: 'restore',
      wait: optionalBoolean(body, 'wait'),
      work: async ({ job: vmJob, signal, progress }) => {
        const conn = await deps.connect();
        const repo = await deps.openRepo();
        try {
          const r = await restoreBackup(conn, repo, id, {
            ...options,
            signal,
            onProgress: progress,
          });
          // Defined anew from the backup, started or not as asked: nothing left to undo.
          await vmJob.settle();
          return restoreSummary(r);
        } finally {
          await repo.close();
        }
      },
    });
    return json(job, 202);
  });
}
