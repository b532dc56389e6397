/**
 * What a policy's run does (docs/schedule-format.md "What a run does"): for each VM its patterns
 * match, a backup job on the service's job queue (the mode asked, then the retention: forget the
 * VM's backups by the keep rules and collect garbage), and when a restore test is due and the
 * backup succeeded, a restore test job with boot. Jobs wait in line behind a job already on the
 * VM instead of failing: a scheduled run is never lost to a busy VM.
 */
import type * as Engine from '../../engine/index.js';
import type { Connection } from '../../libvirt/index.js';
import { collectGarbage, forget } from '../../repo/index.js';
import type { Repository } from '../../repo/repository.js';
import type { JobRecord } from '../job-history.js';
import type { JobQueue } from '../job-queue.js';
import { matches, type Policy } from './format.js';
import type { ScheduleRuns } from './runs.js';

/**
 * The engine, loaded when a policy first runs: the service's front door is imported by every
 * command that takes a VM's job lock (`brankas backup` among them), and the whole engine's
 * modules (restore, instant recovery, files, mount, lab) cost such a command about 40 ms of
 * start-up (docs/benchmarks.md, "Live backups: fixed costs and the incremental").
 */
const engine = (): Promise<typeof Engine> => import('../../engine/index.js');

export interface PolicyRunDeps {
  queue: Pick<JobQueue, 'submit' | 'settled'>;
  connect: () => Promise<Connection>;
  /** Opens the repository for one job; the job closes it. */
  openRepo: () => Promise<Repository>;
  runs: Pick<ScheduleRuns, 'setLastRun' | 'lastTest' | 'setLastTest'>;
  now?: () => Date;
  /** Where restore tests restore to (default: the engine's, /var/tmp). */
  scratchDir?: string;
  /** A restore test that could not be submitted or failed to start (the queue closed...). */
  onError?: (err: unknown) => void;
}

export interface PolicyRun {
  policy: string;
  at: string;
  /** The VMs matched, in name order. */
  vms: string[];
  /** The backup jobs submitted, one per VM. */
  jobs: JobRecord[];
  /** Every job of the run as it ended, restore tests among them (never rejects). */
  ended: Promise<JobRecord[]>;
}

/** The names of the host's VMs that the policy's patterns match, in order. */
export async function matchingVms(conn: Connection, policy: Policy): Promise<string[]> {
  const names = (await conn.listDomains()).map((d) => d.name);
  return names.filter((n) => policy.vms.some((p) => matches(p, n))).sort();
}

function testDue(deps: PolicyRunDeps, policy: Policy, vm: string, now: Date): boolean {
  if (policy.restoreTestDays === null) return false;
  const last = deps.runs.lastTest(policy.id, vm);
  return !last || now.getTime() - last.getTime() >= policy.restoreTestDays * 86_400_000;
}

async function backupJob(deps: PolicyRunDeps, policy: Policy, vm: string): Promise<JobRecord> {
  return deps.queue.submit({
    vm,
    kind: 'backup',
    wait: true,
    work: async ({ job, signal, progress, note }) => {
      const conn = await deps.connect();
      const repo = await deps.openRepo();
      try {
        const { backupVm } = await engine();
        const r = await backupVm(conn, repo, vm, {
          mode: policy.mode,
          consistency: policy.consistency,
          ...(policy.freezeTimeoutSeconds !== null
            ? { freezeTimeoutS: policy.freezeTimeoutSeconds }
            : {}),
          signal,
          onPower: note,
          onPowerChange: job.powerChange,
          onProgress: progress,
        });
        let retention: Record<string, unknown> | null = null;
        if (Object.values(policy.keep).some((n) => n > 0)) {
          try {
            const f = await forget(repo, policy.keep, { vms: [vm], signal });
            const gc = await collectGarbage(repo, { signal });
            retention = {
              removed: f.removed,
              deletedPacks: gc.deletedPacks,
              deletedBytes: gc.deletedBytes,
            };
          } catch (err) {
            // The backup is made and recorded: a cancel now only cuts its retention short
            // (at a safe point; the next run's forget and gc do the rest).
            if (!signal.aborted) throw err;
            retention = { cancelled: true };
          }
        }
        return {
          policy: policy.id,
          backup: r.manifest.id,
          mode: r.mode,
          readBytes: r.readBytes,
          newStoredBytes: r.newStoredBytes,
          seconds: r.seconds,
          retention,
        };
      } finally {
        await repo.close();
      }
    },
  });
}

async function restoreTestJob(deps: PolicyRunDeps, policy: Policy, vm: string): Promise<JobRecord> {
  const now = deps.now ?? (() => new Date());
  return deps.queue.submit({
    vm,
    kind: 'verify',
    wait: true,
    work: async ({ signal, note }) => {
      const conn = await deps.connect();
      const repo = await deps.openRepo();
      try {
        const { verifyBackup } = await engine();
        const r = await verifyBackup(conn, repo, vm, {
          boot: true,
          signal,
          onStep: (step) => note({ step }),
          ...(deps.scratchDir ? { scratchDir: deps.scratchDir } : {}),
        });
        // A test that failed is a result too: the next is due in restore-test-days.
        deps.runs.setLastTest(policy.id, vm, now());
        return { policy: policy.id, ...r };
      } finally {
        await repo.close();
      }
    },
  });
}

/**
 * Runs the policy now: submits a backup job per matching VM and records the run. Resolves once
 * the jobs are queued (not done); a restore test due is queued when its backup has succeeded.
 */
export async function runPolicy(deps: PolicyRunDeps, policy: Policy): Promise<PolicyRun> {
  const now = (deps.now ?? (() => new Date()))();
  deps.runs.setLastRun(policy.id, now);
  const vms = await matchingVms(await deps.connect(), policy);
  const jobs: JobRecord[] = [];
  const chains: Promise<JobRecord[]>[] = [];
  for (const vm of vms) {
    const job = await backupJob(deps, policy, vm);
    jobs.push(job);
    const due = testDue(deps, policy, vm, now);
    chains.push(
      (async () => {
        const done = await deps.queue.settled(job.id);
        if (!due || done.state !== 'succeeded') return [done];
        try {
          const test = await restoreTestJob(deps, policy, vm);
          return [done, await deps.queue.settled(test.id)];
        } catch (err) {
          // The queue closed (the service stops) between the backup and its test.
          deps.onError?.(err);
          return [done];
        }
      })(),
    );
  }
  const ended = Promise.all(chains).then((lists) => lists.flat());
  return { policy: policy.id, at: now.toISOString(), vms, jobs, ended };
}
