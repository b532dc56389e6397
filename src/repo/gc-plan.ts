/**
 * GC plans (docs/repository-format.md, "Garbage collection"): what phase 1
 * marked for deletion and which lock holders phase 2 must outlive. Writers
 * read them to avoid marked packs.
 */
import { randomBytes } from 'node:crypto';
import type { Backend } from './backend/types.js';
import { isObjectNotFound, RepoError } from './errors.js';

export interface GcPlan {
  format: 'brankas-gc-plan';
  version: 1;
  id: string;
  created: string;
  state: 'marking' | 'marked';
  /** Locks that were live when the plan was made: phase 2 waits until all are gone. */
  waitFor: string[];
  /** Hex pack ids that no manifest referred to. */
  deletePacks: string[];
  /** Hex pack ids partly dead: their live records are copied to new packs, then they go. */
  repackPacks?: string[];
  /** Backup ids with objects but no manifest (crashed writers). */
  partialBackups: string[];
}

export function newPlan(): GcPlan {
  return {
    format: 'brankas-gc-plan',
    version: 1,
    id: randomBytes(16).toString('hex'),
    created: new Date().toISOString(),
    state: 'marking',
    waitFor: [],
    deletePacks: [],
    repackPacks: [],
    partialBackups: [],
  };
}

export function writePlan(backend: Backend, p: GcPlan): Promise<void> {
  return backend.put(`gc/${p.id}`, Buffer.from(JSON.stringify(p) + '\n'));
}

export async function readPlans(backend: Backend): Promise<GcPlan[]> {
  const out: GcPlan[] = [];
  for await (const o of backend.list('gc/')) {
    if (!/^gc\/[0-9a-f]{32}$/.test(o.name)) continue;
    let bytes: Buffer;
    try {
      bytes = await backend.get(o.name);
    } catch (err) {
      if (isObjectNotFound(err)) continue; // swept while we listed
      throw err;
    }
    try {
      out.push(JSON.parse(bytes.toString('utf8')) as GcPlan);
    } catch (err) {
      // A plan that cannot be read could list packs writers must avoid: stop rather than guess.
      throw new RepoError('REPO_BAD_FORMAT', `garbage collection plan ${o.name} is unreadable`, {
        cause: err,
      });
    }
  }
  return out.sort((a, b) => a.created.localeCompare(b.created));
}
