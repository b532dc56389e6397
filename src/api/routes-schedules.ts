/**
 * Schedules (docs/schedule-format.md): the policies of the schedule file with their last and
 * next runs, adding one (validated like the file, written atomically), removing one, and running
 * one now through the job queue, as its time would.
 */
import type { Hono } from 'hono';
import { policyJson, SCHEDULE_KEYS, type Policy, type PolicyFields } from '../service/index.js';
import type { ApiDeps, ScheduleDeps } from './app.js';
import { ApiError, badRequest } from './errors.js';
import { json } from './json.js';
import { jsonObject } from './validate.js';

function schedules(deps: ApiDeps, method: string, path: string): ScheduleDeps {
  if (!deps.schedules) {
    throw new ApiError('API_NOT_FOUND', `no such endpoint: ${method} ${path}`, {
      details: { method, path },
    });
  }
  return deps.schedules;
}

function policyId(v: string | undefined): string {
  if (v === undefined || !/^[a-z0-9][a-z0-9_-]{0,63}$/.test(v)) {
    throw badRequest(`'${String(v).slice(0, 80)}' is not a policy id`);
  }
  return v;
}

function row(s: ScheduleDeps, p: Policy) {
  return {
    ...policyJson(p),
    lastRun: s.lastRun?.(p)?.toISOString() ?? null,
    nextRun: s.nextRun(p)?.toISOString() ?? null,
  };
}

/** The body of POST /schedules: the file's keys, as strings or numbers (`vms` also a list). */
function fieldsOf(body: Record<string, unknown>): { id: string; fields: PolicyFields } {
  if (typeof body['id'] !== 'string') throw badRequest("'id' is required: the policy's id");
  const fields: PolicyFields = {};
  for (const key of SCHEDULE_KEYS) {
    let v = body[key];
    if (v === undefined) continue;
    if (key === 'vms' && Array.isArray(v) && v.every((x) => typeof x === 'string')) v = v.join(' ');
    if (typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) {
      throw badRequest(`'${key}' must be a string or a number`);
    }
    fields[key] = v;
  }
  return { id: policyId(body['id']), fields };
}

export function scheduleRoutes(app: Hono, deps: ApiDeps): void {
  app.get('/api/v1/schedules', async (c) => {
    const s = schedules(deps, 'GET', c.req.path);
    return json({ file: s.file.path, policies: (await s.file.read()).map((p) => row(s, p)) });
  });

  app.post('/api/v1/schedules', async (c) => {
    const s = schedules(deps, 'POST', c.req.path);
    const { id, fields } = fieldsOf(await jsonObject(c.req, ['id', ...SCHEDULE_KEYS]));
    const added = await s.file.add(id, fields);
    s.changed();
    return json(row(s, added), 201);
  });

  app.delete('/api/v1/schedules/:id', async (c) => {
    const s = schedules(deps, 'DELETE', c.req.path);
    const removed = await s.file.remove(policyId(c.req.param('id')));
    s.changed();
    return json(policyJson(removed));
  });

  app.post('/api/v1/schedules/:id/run', async (c) => {
    const s = schedules(deps, 'POST', c.req.path);
    const policy = await s.file.get(policyId(c.req.param('id')));
    const run = await s.run(policy);
    return json({ policy: run.policy, at: run.at, vms: run.vms, jobs: run.jobs }, 202);
  });
}
