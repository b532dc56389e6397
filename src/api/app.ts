/**
 * The HTTP API (`brankas serve`): a face like the CLI. It checks the Host and the token, reads
 * and validates the request, calls the service (the job queue) or the engine, and renders JSON;
 * errors become statuses in one place (errors.ts). It owns no socket: `server.ts` puts it on
 * one, and tests call `app.request()` in-process.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Connection } from '../libvirt/index.js';
import type { Repository } from '../repo/repository.js';
import type { JobQueue, Policy, PolicyRun, ScheduleFile } from '../service/index.js';
import { bearerAuth, hostCheck, LOOPBACK_HOSTS } from './auth.js';
import { ApiError, errorBody, statusOf } from './errors.js';
import { json } from './json.js';
import { backupRoutes } from './routes-backups.js';
import { jobRoutes } from './routes-jobs.js';
import { repoRoutes } from './routes-repo.js';
import { snapshotRoutes } from './routes-snapshots.js';
import { vmRoutes } from './routes-vms.js';
import { scheduleRoutes } from './routes-schedules.js';
import { fileRoutes } from './routes-files.js';
import { runRoutes, type RunDeps } from './routes-runs.js';
import { OPENAPI } from './openapi.js';
import { webRoutes } from '../web/assets.js';

export interface ApiDeps {
  token: string;
  queue: JobQueue;
  /** The libvirt connection (shared; the server closes it). */
  connect: () => Promise<Connection>;
  /** Opens the repository for one request or job; the caller closes it. */
  openRepo: () => Promise<Repository>;
  /** Host header names accepted (default: the loopback names). */
  allowedHosts?: readonly string[];
  /** Largest request body in bytes (default 64 KiB). */
  bodyLimit?: number;
  /** The scheduler's file and runs (`brankas serve`); without it /schedules is 404. */
  schedules?: ScheduleDeps;
  /** Instant recovery (`brankas serve` hands the CLI's run-ops); without it /runs is 404. */
  runs?: RunDeps;
  /** Where errors that are not ours (bugs) are told: the server's log. */
  onInternalError?: (err: unknown) => void;
}

export interface ScheduleDeps {
  file: ScheduleFile;
  /** Runs a policy now through the job queue (as its time would). */
  run: (policy: Policy) => Promise<PolicyRun>;
  nextRun: (policy: Policy) => Date | undefined;
  /** When it last ran (or was first seen); undefined before the scheduler has seen it. */
  lastRun?: (policy: Policy) => Date | undefined;
  /** Told after the file changed: the scheduler looks again at once. */
  changed: () => void;
}

export type ApiApp = Hono;

export function createApi(deps: ApiDeps): ApiApp {
  const app = new Hono();
  const limit = deps.bodyLimit ?? 64 * 1024;
  app.onError((err, _c) => {
    const status = statusOf(err);
    if (status === 500) deps.onInternalError?.(err);
    return json(errorBody(err), status);
  });
  app.notFound((c) => {
    const err = new ApiError('API_NOT_FOUND', `no such endpoint: ${c.req.method} ${c.req.path}`, {
      details: { method: c.req.method, path: c.req.path },
    });
    return json(errorBody(err), 404);
  });
  app.use('*', hostCheck(deps.allowedHosts ?? LOOPBACK_HOSTS));
  // The dashboard's page and scripts are public; every call of the API needs the token.
  app.use('/api/*', bearerAuth(deps.token));
  app.use(
    '*',
    bodyLimit({
      maxSize: limit,
      onError: () => {
        throw new ApiError('API_BODY_TOO_LARGE', `the request body is larger than ${limit} bytes`, {
          details: { limit },
        });
      },
    }),
  );
  app.get('/api/v1/openapi.json', () => json(OPENAPI));
  vmRoutes(app, deps);
  jobRoutes(app, deps);
  scheduleRoutes(app, deps);
  snapshotRoutes(app, deps);
  backupRoutes(app, deps);
  fileRoutes(app, deps);
  runRoutes(app, deps);
  repoRoutes(app, deps);
  webRoutes(app);
  return app;
}
