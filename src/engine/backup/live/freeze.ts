/**
 * Consistency of a live backup. Without a guest agent the backup point is
 * what a power cut would leave: "crash-consistent". With the QEMU guest agent
 * answering, the guest's filesystems are frozen for the instant the point is
 * taken (freeze, BackupBegin, thaw) and always thawed, also when taking the
 * point fails: "application-consistent".
 *
 * An agent that never answers the freeze must not hang the backup nor leave
 * the guest frozen. libvirt waits for the agent for ever by default, holding
 * the domain's agent job (every other agent call, the thaw too, then fails
 * after 30 s), so the freeze runs under an agent response timeout of our own
 * (virDomainAgentSetResponseTimeout) and is followed by a thaw in every case:
 * an agent that timed out may still freeze late. The backup then goes on
 * crash-consistent, reason `freeze-timeout`. A thaw that keeps failing fails
 * the backup (BACKUP_LIVE_THAW_FAILED) and leaves a marked job directory, so
 * `brankas doctor` (and the VM's next backup) find the guest frozen and thaw it.
 * See docs/live-backups.md "Faults".
 */
import { performance } from 'node:perf_hooks';
import {
  AgentTimeout,
  isAgentUnresponsive,
  isTimeout,
  type Domain,
} from '../../../libvirt/index.js';
import { AGENT_CHANNEL } from '../../guest/agent-shell.js';
import { EngineError } from '../../errors.js';
import { privateTempDir } from '../../../util/private-temp.js';
import { DEFAULT_WORK_ROOT, guestFrozen, WORK_DIR_PREFIX, writeMarker } from './leftovers.js';

/** `shut-down`: the point taken after a clean shutdown, before the guest ran again (--consistency shutdown). */
export type Consistency = 'crash-consistent' | 'application-consistent' | 'shut-down';

export interface FreezePlan {
  consistency: Consistency;
  /** Why not application-consistent, when it is not. */
  reason?: 'no-agent-channel' | 'agent-not-answering' | 'freeze-failed' | 'freeze-timeout';
  /** Filesystems frozen (application-consistent only). */
  frozen?: number;
  /**
   * Seconds from the freeze asked to the thaw answered: at most what the guest was frozen
   * (the backup point is taken between). Undefined when no freeze was asked.
   */
  frozenSeconds?: number;
  around: { before(): Promise<void>; after(): Promise<void> };
}

export interface FreezeOptions {
  /** Seconds the guest agent gets to answer the freeze and each thaw (default 10). */
  freezeTimeoutS?: number;
  /** Where a thaw that kept failing leaves its marked directory for doctor (default /var/tmp). */
  workRoot?: string;
}

/** Seconds the agent gets to answer a ping before the backup goes on without it. */
const PING_TIMEOUT_S = 5;
export const DEFAULT_FREEZE_TIMEOUT_S = 10;
const THAW_ATTEMPTS = 3;
/** Between thaw attempts: an agent busy for a moment gets it (not a deadline, a courtesy). */
const THAW_PAUSE_MS = 1_000;
/** Our own wait for the daemon beyond the agent's timeout (the daemon answers by then). */
const RPC_MARGIN_MS = 30_000;

/**
 * Decides how the point is taken and returns the hooks to run around it.
 * The freeze itself happens in `before`; when it fails or times out the
 * backup still goes on, crash-consistent, with the reason recorded.
 */
export async function planFreeze(
  domain: Domain,
  liveXml: string,
  o: FreezeOptions = {},
): Promise<FreezePlan> {
  const plan: FreezePlan = {
    consistency: 'crash-consistent',
    around: { before: async () => {}, after: async () => {} },
  };
  if (!liveXml.includes(AGENT_CHANNEL)) {
    plan.reason = 'no-agent-channel';
    return plan;
  }
  try {
    await domain.agentCommand(JSON.stringify({ execute: 'guest-ping' }), PING_TIMEOUT_S);
  } catch {
    plan.reason = 'agent-not-answering';
    return plan;
  }
  const timeoutS = o.freezeTimeoutS ?? DEFAULT_FREEZE_TIMEOUT_S;
  const rpc = { timeoutMs: timeoutS * 1000 + RPC_MARGIN_MS };
  // Whether a freeze was asked for (answered or not): then a thaw is owed.
  let asked = false;
  let askedAt = 0;
  let confirmed = false;
  plan.around = {
    before: async () => {
      // Decided anew at each attempt: a retried BackupBegin may find the agent gone.
      plan.consistency = 'crash-consistent';
      delete plan.frozen;
      delete plan.frozenSeconds;
      try {
        // Without a bound of libvirt's own the freeze could block the agent for ever.
        await domain.agentSetResponseTimeout(timeoutS);
      } catch {
        plan.reason = 'freeze-failed';
        return;
      }
      asked = true;
      askedAt = performance.now();
      try {
        plan.frozen = await domain.fsFreeze([], rpc);
        confirmed = true;
        plan.consistency = 'application-consistent';
        delete plan.reason;
      } catch (err) {
        plan.reason =
          isAgentUnresponsive(err) || isTimeout(err) ? 'freeze-timeout' : 'freeze-failed';
      }
    },
    after: async () => {
      if (!asked) return;
      const wasConfirmed = confirmed;
      asked = confirmed = false;
      try {
        await thaw(domain, rpc, wasConfirmed, o.workRoot);
        plan.frozenSeconds = (performance.now() - askedAt) / 1000;
      } finally {
        // Back to libvirt's default (wait for ever) for everyone else's agent calls.
        await domain.agentSetResponseTimeout(AgentTimeout.BLOCK).catch(() => undefined);
      }
    },
  };
  return plan;
}

/**
 * Thaws, retrying: a guest left frozen is worse than a slow backup. After a freeze that failed
 * or timed out, a thaw that fails is only retried (and an error) when the agent says frozen.
 */
async function thaw(
  domain: Domain,
  rpc: { timeoutMs: number },
  frozen: boolean,
  workRoot: string | undefined,
): Promise<void> {
  let last: unknown;
  for (let i = 0; i < THAW_ATTEMPTS; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, THAW_PAUSE_MS));
    try {
      await domain.fsThaw([], rpc);
      return;
    } catch (err) {
      last = err;
    }
    if (i === 0 && !frozen && !(await guestFrozen(domain, await domain.xml().catch(() => '')))) {
      return;
    }
  }
  // A marked job directory: doctor and the next backup take the frozen guest for a leftover.
  const dir = await privateTempDir(WORK_DIR_PREFIX, {
    root: workRoot ?? DEFAULT_WORK_ROOT,
    emptyOnly: true,
  }).catch(() => undefined);
  if (dir) {
    await writeMarker(dir, {
      vm: domain.name,
      uuid: domain.uuid,
      pid: process.pid,
      checkpoint: null,
      startedAt: new Date().toISOString(),
    }).catch(() => undefined);
  }
  const agentError = last instanceof Error ? last.message : String(last);
  throw new EngineError(
    'BACKUP_LIVE_THAW_FAILED',
    `the guest agent of VM '${domain.name}' did not thaw its filesystems after ${THAW_ATTEMPTS} attempts (${agentError}): the guest may still be frozen`,
    { details: { vm: domain.name, attempts: THAW_ATTEMPTS, agentError }, cause: last },
  );
}
