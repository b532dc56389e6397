/**
 * Forget policies (docs/repository-format.md, "Forget and prune"): which
 * backups to keep, per VM, by keep-last and calendar buckets in UTC. Pure:
 * plan() decides, forget.ts executes.
 */
import { RepoError } from './errors.js';

export interface KeepPolicy {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
}

export interface PolicyInput {
  id: string;
  vm: { name: string; uuid: string | null };
  startedAt: string;
}

export interface ForgetDecision {
  id: string;
  vm: string;
  startedAt: string;
  keep: boolean;
  /** The rules that keep it, e.g. ["last", "daily"]; empty when removed. */
  reasons: string[];
}

const BUCKETS: [keyof KeepPolicy, (d: Date) => string][] = [
  ['hourly', (d) => d.toISOString().slice(0, 13)],
  ['daily', (d) => d.toISOString().slice(0, 10)],
  ['weekly', isoWeek],
  ['monthly', (d) => d.toISOString().slice(0, 7)],
  ['yearly', (d) => d.toISOString().slice(0, 4)],
];

/** "2026-W48": ISO 8601 week of a UTC date. */
export function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((t.getTime() - yearStart) / 86400000 + 1) / 7);
  return `${t.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

export function policyIsEmpty(p: KeepPolicy): boolean {
  return !Object.values(p).some((n) => typeof n === 'number' && n > 0);
}

export function planForget(backups: PolicyInput[], policy: KeepPolicy): ForgetDecision[] {
  for (const [k, v] of Object.entries(policy)) {
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) {
      throw new RepoError('REPO_INVALID_ARGUMENT', `keep-${k} must be a whole number, not ${v}`);
    }
  }
  if (policyIsEmpty(policy)) {
    throw new RepoError(
      'REPO_POLICY_EMPTY',
      'a policy with no keep rule would remove every backup',
    );
  }
  const groups = new Map<string, PolicyInput[]>();
  for (const b of backups) {
    const key = b.vm.uuid ?? `name:${b.vm.name}`;
    groups.set(key, [...(groups.get(key) ?? []), b]);
  }
  const out: ForgetDecision[] = [];
  for (const group of groups.values()) {
    const newest = [...group].sort(
      (a, b) => b.startedAt.localeCompare(a.startedAt) || b.id.localeCompare(a.id),
    );
    const reasons = new Map<string, string[]>(newest.map((b) => [b.id, []]));
    newest.slice(0, policy.last ?? 0).forEach((b) => reasons.get(b.id)!.push('last'));
    for (const [rule, bucketOf] of BUCKETS) {
      const n = policy[rule] ?? 0;
      const seen = new Set<string>();
      for (const b of newest) {
        if (seen.size >= n) break;
        const bucket = bucketOf(new Date(b.startedAt));
        if (seen.has(bucket)) continue;
        seen.add(bucket);
        reasons.get(b.id)!.push(rule);
      }
    }
    for (const b of newest) {
      const r = reasons.get(b.id)!;
      out.push({ id: b.id, vm: b.vm.name, startedAt: b.startedAt, keep: r.length > 0, reasons: r });
    }
  }
  return out;
}
