/**
 * Consistency of a live backup. Without a guest agent the backup point is
 * what a power cut would leave: "crash-consistent". With the QEMU guest agent
 * answering, the guest's filesystems are frozen for the instant the point is
 * taken (freeze, BackupBegin, thaw) and always thawed, also when taking the
 * point fails: "application-consistent".
 */
import type { Domain } from '../../../libvirt/index.js';
import { AGENT_CHANNEL } from '../../guest/agent-shell.js';

/** `shut-down`: the point taken after a clean shutdown, before the guest ran again (--consistency shutdown). */
export type Consistency = 'crash-consistent' | 'application-consistent' | 'shut-down';

export interface FreezePlan {
  consistency: Consistency;
  /** Why not application-consistent, when it is not. */
  reason?: 'no-agent-channel' | 'agent-not-answering' | 'freeze-failed';
  /** Filesystems frozen (application-consistent only). */
  frozen?: number;
  around: { before(): Promise<void>; after(): Promise<void> };
}

/** Seconds the agent gets to answer a ping before the backup goes on without it. */
const PING_TIMEOUT_S = 5;

/**
 * Decides how the point is taken and returns the hooks to run around it.
 * The freeze itself happens in `before`; when it fails the backup still
 * goes on, crash-consistent, with the reason recorded.
 */
export async function planFreeze(domain: Domain, liveXml: string): Promise<FreezePlan> {
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
  let frozen = false;
  plan.around = {
    before: async () => {
      // Decided anew at each attempt: a retried BackupBegin may find the agent gone.
      plan.consistency = 'crash-consistent';
      delete plan.frozen;
      try {
        plan.frozen = await domain.fsFreeze();
        frozen = true;
        plan.consistency = 'application-consistent';
        delete plan.reason;
      } catch {
        plan.reason = 'freeze-failed';
      }
    },
    after: async () => {
      if (!frozen) return;
      frozen = false;
      // A thaw that fails is tried again: a guest left frozen is worse than a slow backup.
      for (let i = 0; ; i++) {
        try {
          await domain.fsThaw();
          return;
        } catch (err) {
          if (i >= 2) throw err;
        }
      }
    },
  };
  return plan;
}
