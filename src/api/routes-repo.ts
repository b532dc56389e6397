/**
 * The repository: what it is (the engine's repositoryInfo, as `brankas repo info` shows it), its
 * figures and growth (engine's repoOverview), the check of its structure or
 * of every byte, and forgetting by a keep policy (prune) and collecting garbage (gc). Prune and
 * gc are destructive: `{"dryRun": true}` returns what they would do (in the request),
 * `{"confirm": true}` does it. The check, prune and gc run as jobs on the queue's repository key
 * (202 with the job; progress, cancel and history like any job), one at a time; beside backups
 * the repository's own locks keep them safe. A running check stops at its next pack when
 * cancelled; a running prune or gc at its next safe point (src/repo/gc.ts: the repository stays
 * consistent, what was left goes at the next gc). A queued one never starts.
 */
import type { Hono } from 'hono';
import { pruneRepository, repoOverview, repoSpace, repositoryInfo } from '../engine/index.js';
import { collectGarbage, verifyRepository, type KeepPolicy } from '../repo/index.js';
import type { Repository } from '../repo/repository.js';
import type { RepoJobKind, RepoJobWork } from '../service/index.js';
import type { ApiDeps } from './app.js';
import { badRequest } from './errors.js';
import { json } from './json.js';
import { confirmation, jsonObject, optionalBoolean, optionalInteger } from './validate.js';

const KEEP = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;

async function withRepo<T>(deps: ApiDeps, fn: (repo: Repository) => Promise<T>): Promise<T> {
  const repo = await deps.openRepo();
  try {
    return await fn(repo);
  } finally {
    await repo.close();
  }
}

function policyOf(body: Record<string, unknown>): KeepPolicy {
  const policy: Record<string, number> = {};
  for (const k of KEEP) {
    const name = `keep${k[0]!.toUpperCase()}${k.slice(1)}`;
    const v = optionalInteger(body, name, 0, 100_000, -1);
    if (v >= 0) policy[k] = v;
  }
  if (Object.keys(policy).length === 0) {
    throw badRequest(
      `prune needs a keep policy: one of ${KEEP.map((k) => `keep${k[0]!.toUpperCase()}${k.slice(1)}`).join(', ')}`,
    );
  }
  return policy as KeepPolicy;
}

/** Queues work on the repository as a job: 202 with the job. */
async function repoJob(deps: ApiDeps, kind: RepoJobKind, work: RepoJobWork): Promise<Response> {
  return json(await deps.queue.submit({ repo: true, kind, work }), 202);
}

export function repoRoutes(app: Hono, deps: ApiDeps): void {
  // What `brankas repo info --json` prints (the engine's repositoryInfo), with the figures.
  app.get('/api/v1/repo', async () =>
    json(
      await withRepo(deps, async (repo) => ({
        ...(await repositoryInfo(repo)),
        ...(await repoOverview(repo)),
      })),
    ),
  );

  // Cheap (no listing of the repository's objects): what the overview asks on every visit.
  app.get('/api/v1/repo/space', async () =>
    json({ space: await withRepo(deps, (repo) => repoSpace(repo)) }),
  );

  app.post('/api/v1/repo/verify', async (c) => {
    const body = await jsonObject(c.req, ['readData']);
    const readData = optionalBoolean(body, 'readData');
    return repoJob(deps, 'repo-verify', ({ signal, progress }) =>
      withRepo(deps, (repo) =>
        verifyRepository(repo, {
          readData,
          onProgress: (p) => {
            progress(p);
            // Between packs only: verify releases its lock on the way out and writes nothing.
            if (p.phase === 'data') signal.throwIfAborted();
          },
        }),
      ),
    );
  });

  app.post('/api/v1/repo/prune', async (c) => {
    const body = await jsonObject(c.req, [
      'confirm',
      'dryRun',
      ...KEEP.map((k) => `keep${k[0]!.toUpperCase()}${k.slice(1)}`),
    ]);
    const policy = policyOf(body);
    if (confirmation(body, 'prune') === 'plan') {
      return json(await withRepo(deps, (repo) => pruneRepository(repo, policy, { dryRun: true })));
    }
    return repoJob(deps, 'prune', ({ signal, progress }) =>
      withRepo(deps, (repo) => pruneRepository(repo, policy, { signal, onProgress: progress })),
    );
  });

  app.post('/api/v1/repo/gc', async (c) => {
    const body = await jsonObject(c.req, ['confirm', 'dryRun']);
    if (confirmation(body, 'gc') === 'plan') {
      return json(await withRepo(deps, (repo) => collectGarbage(repo, { dryRun: true })));
    }
    return repoJob(deps, 'gc', ({ signal, progress }) =>
      withRepo(deps, (repo) => collectGarbage(repo, { signal, onProgress: progress })),
    );
  });
}
