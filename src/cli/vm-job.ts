/**
 * Commands that change a VM run as a service job on it: one at a time per
 * VM (VM_BUSY, or `--wait`), and what a killed brankas left undone on the VM
 * is put right first, and said.
 */
// Straight from the modules, not the service's index: that one loads the job database
// (better-sqlite3), the scheduler and the engine, which a one-VM command does not need.
import { VmJob, type Recovery, type VmJobEvent } from '../service/job.js';
import type { JobKind } from '../service/lock.js';
import { stateDirFrom } from '../service/state.js';
import type { ParsedArgs } from './command.js';
import type { CliContext } from './context.js';
import type { MessageKey } from './i18n.js';

export const waitOption = { wait: { type: 'boolean' } } as const;

export function stateDir(ctx: CliContext): string {
  return stateDirFrom(ctx.io.env);
}

export function jobName(ctx: CliContext, job: JobKind): string {
  return ctx.t(`job.kind.${job}` as MessageKey);
}

const RECOVERY_KEYS: Record<Recovery['outcome'], MessageKey | undefined> = {
  started: 'job.recoveredStarted',
  adopted: 'job.recoveredAdopted',
  failed: 'job.recoverFailed',
  // Running again, gone or replaced: nothing was left undone that matters now.
  'not-needed': undefined,
};

/** A job event as a line for the user (undefined: nothing worth saying). */
export function eventLine(ctx: CliContext, e: VmJobEvent): string | undefined {
  if (e.kind === 'waiting') {
    return ctx.t('job.waiting', {
      vm: e.vm,
      job: jobName(ctx, e.holder.job),
      pid: e.holder.pid,
      since: e.holder.since,
    });
  }
  const key = RECOVERY_KEYS[e.recovery.outcome];
  if (key === undefined) return undefined;
  return ctx.t(key, {
    vm: e.vm,
    job: jobName(ctx, e.change.job),
    pid: e.change.pid,
    at: e.change.at,
    message: e.recovery.outcome === 'failed' ? e.recovery.message : '',
  });
}

export interface VmJobCall {
  kind: JobKind;
  /** The command's signal, when it took one (it stops the wait). */
  signal?: AbortSignal;
  recovery?: 'restart' | 'adopt';
}

/** Runs `fn` as a job on VM `vm`; the lock is released however it ends. */
export async function withVmJob<T>(
  ctx: CliContext,
  args: ParsedArgs,
  vm: string,
  call: VmJobCall,
  fn: (job: VmJob) => Promise<T>,
): Promise<T> {
  const job = await VmJob.begin(await ctx.connect(), {
    stateDir: stateDir(ctx),
    vm,
    kind: call.kind,
    wait: args.values['wait'] === true,
    ...(call.signal ? { signal: call.signal } : {}),
    recovery: call.recovery ?? 'restart',
    // Said in JSON mode too (on stderr): a VM brankas had left off is news either way.
    onEvent: (e) => {
      const line = eventLine(ctx, e);
      if (line !== undefined) ctx.note(line);
    },
  });
  try {
    return await fn(job);
  } finally {
    await job.end();
  }
}
