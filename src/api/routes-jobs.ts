/**
 * Jobs: starting a backup (live, cold, or auto like the CLI: live when the VM runs), through
 * the service's job queue (the VM's lock and journal, one job per VM, a limit on jobs at once),
 * the job list and history, a job's events as Server-Sent Events (its state now, the engine's
 * progress, then its end), its kept log (notes and states, also after it ended), and cancel.
 */
import type { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { backupVm, type BackupMode, type BackupResult } from '../engine/index.js';
import { FINAL_STATES, jsonText, type JobEvent } from '../service/index.js';
import type { ApiDeps } from './app.js';
import { json } from './json.js';
import { badRequest } from './errors.js';
import { jsonObject, optionalBoolean, optionalInteger, queryInteger, vmName } from './validate.js';

const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function jobId(v: string | undefined): string {
  if (v === undefined || !JOB_ID.test(v))
    throw badRequest(`'${String(v).slice(0, 60)}' is not a job id`);
  return v;
}

/** What a finished backup job reports (the manifest stays in the repository). */
function backupSummary(r: BackupResult) {
  return {
    backup: r.manifest.id,
    vm: r.manifest.vm.name,
    mode: r.mode,
    consistency: r.mode === 'live' ? r.consistency : null,
    parent: r.parent,
    readBytes: r.readBytes,
    dedupBytes: r.dedupBytes,
    newStoredBytes: r.newStoredBytes,
    unchangedDisks: r.mode === 'cold' ? r.unchangedDisks : undefined,
    seconds: r.seconds,
  };
}

const BACKUP_FIELDS = [
  'wait',
  'mode',
  'shutdownTimeoutSeconds',
  'forceOffAfterTimeout',
  'reread',
  'consistency',
  'freezeTimeoutSeconds',
] as const;

const MODES: readonly BackupMode[] = ['auto', 'live', 'cold'];
const CONSISTENCIES = ['auto', 'application', 'shutdown'] as const;
type Consistency = (typeof CONSISTENCIES)[number];

/** `consistency` as the CLI's --consistency takes it; `shutdown` only where a backup may be live. */
function backupConsistency(v: unknown, mode: BackupMode): Consistency {
  if (v === undefined) return 'auto';
  if (typeof v !== 'string' || !CONSISTENCIES.includes(v as Consistency)) {
    throw badRequest(`'consistency' is one of ${CONSISTENCIES.join(', ')}`);
  }
  if (v === 'shutdown' && mode === 'cold') {
    throw badRequest(
      "'consistency' shutdown is for live backups: a cold backup is shut down already",
    );
  }
  return v as Consistency;
}

function backupMode(v: unknown): BackupMode {
  if (v === undefined) return 'auto';
  if (typeof v !== 'string' || !MODES.includes(v as BackupMode)) {
    throw badRequest(`'mode' is one of ${MODES.join(', ')}`);
  }
  return v as BackupMode;
}

export function jobRoutes(app: Hono, deps: ApiDeps): void {
  app.post('/api/v1/vms/:name/backup', async (c) => {
    const vm = vmName(c.req.param('name'));
    const body = await jsonObject(c.req, BACKUP_FIELDS);
    const wait = optionalBoolean(body, 'wait');
    const timeoutS = optionalInteger(body, 'shutdownTimeoutSeconds', 1, 3600, 120);
    const forceOff = optionalBoolean(body, 'forceOffAfterTimeout');
    const reread = optionalBoolean(body, 'reread');
    const mode = backupMode(body['mode']);
    const consistency = backupConsistency(body['consistency'], mode);
    // As the CLI's --freeze-timeout (default 10 s, at least 1 s).
    const freezeS = optionalInteger(body, 'freezeTimeoutSeconds', 1, 600, 10);
    const job = await deps.queue.submit({
      vm,
      kind: 'backup',
      wait,
      work: async ({ job: vmJob, signal, progress, note }) => {
        const conn = await deps.connect();
        const repo = await deps.openRepo();
        try {
          const r = await backupVm(conn, repo, vm, {
            mode,
            consistency,
            freezeTimeoutS: freezeS,
            shutdownTimeoutMs: timeoutS * 1000,
            forceOffAfterTimeout: forceOff,
            reread,
            signal,
            onPower: note,
            onPowerChange: vmJob.powerChange,
            onProgress: progress,
          });
          return backupSummary(r);
        } finally {
          await repo.close();
        }
      },
    });
    return json(job, 202);
  });

  app.get('/api/v1/jobs', (c) => {
    const q = c.req.query('vm');
    const vm = q === undefined ? undefined : vmName(q);
    const limit = queryInteger(c.req.query('limit'), 'limit', 1, 1000);
    return json({ jobs: deps.queue.list({ ...(vm ? { vm } : {}), ...(limit ? { limit } : {}) }) });
  });

  app.get('/api/v1/jobs/:id', (c) => json(deps.queue.get(jobId(c.req.param('id')))));

  app.get('/api/v1/jobs/:id/log', (c) => {
    const id = jobId(c.req.param('id'));
    return json({ job: id, log: deps.queue.log(id) });
  });

  app.post('/api/v1/jobs/:id/cancel', (c) => json(deps.queue.cancel(jobId(c.req.param('id')))));

  app.get('/api/v1/jobs/:id/events', (c) => {
    const id = jobId(c.req.param('id'));
    deps.queue.get(id); // a 404 before the stream starts
    return streamSSE(c, async (stream) => {
      let chain = Promise.resolve();
      await new Promise<void>((resolve) => {
        // Set after subscribe() returns; send() runs first once, synchronously, inside it.
        const sub: { off?: (() => void) | undefined } = {};
        let ended = false;
        const send = (e: JobEvent): void => {
          const data = e.type === 'state' ? e.job : e.type === 'progress' ? e.progress : e.note;
          chain = chain.then(() => stream.writeSSE({ event: e.type, data: jsonText(data) }));
          if (e.type === 'state' && FINAL_STATES.includes(e.job.state)) {
            ended = true;
            sub.off?.();
            void chain.finally(resolve);
          }
        };
        sub.off = deps.queue.subscribe(id, send);
        if (ended) sub.off?.();
        stream.onAbort(() => {
          sub.off?.();
          resolve();
        });
      });
      await chain.catch(() => undefined);
    });
  });
}
