/**
 * Power state around a cold backup (the seed's `virsh shutdown web01` ...
 * `virsh start web01`): shut the VM down gracefully and wait until it is
 * really off, with a timeout; afterwards put it back as it was found.
 */
import { DomainShutdown, type Domain, type DomainStateName } from '../../libvirt/index.js';
import { EngineError } from '../errors.js';

export interface ShutdownOptions {
  timeoutMs: number;
  /** Power off (virsh destroy) when the guest ignores the request. */
  forceOffAfterTimeout?: boolean;
  signal?: AbortSignal;
  onEvent?: (e: PowerEvent) => void;
  onChange?: PowerChangeFn;
}

/**
 * A power change that must outlive the process: 'stopping' comes (and is
 * awaited) before a VM that must run again is asked to stop, 'restored' once
 * it is back as found. A caller writes them down (the service's journal), so
 * a VM left off by a killed process is started again by the next one.
 */
export type PowerChange =
  | { kind: 'stopping'; vm: string; uuid: string; initial: DomainStateName }
  /** Started paused after the shutdown (--consistency shutdown): resumed when found paused. */
  | { kind: 'starting-paused'; vm: string; uuid: string }
  | { kind: 'restored'; vm: string; uuid: string };

export type PowerChangeFn = (change: PowerChange) => Promise<void>;

/** The states restorePower brings a VM back to. */
function restartable(state: DomainStateName): boolean {
  return state === 'running' || state === 'paused' || state === 'blocked';
}

export type PowerEvent =
  | { kind: 'shutdown-requested'; vm: string }
  | { kind: 'shut-off'; vm: string; seconds: number }
  | { kind: 'forced-off'; vm: string }
  /** Stopped while the guest shuts down: waiting for it to be off, to start it again. */
  | { kind: 'stopping-waits-for-off'; vm: string }
  | { kind: 'started'; vm: string }
  /** Started paused for the backup point (--consistency shutdown): no guest code runs yet. */
  | { kind: 'started-paused'; vm: string };

export interface PowerPlan {
  /** The state the VM was found in. */
  initial: DomainStateName;
  /** What was done to get it off: nothing, a clean shutdown, or a forced power-off. */
  action: 'none' | 'shutdown' | 'forced-off';
}

const RESEND_MS = 10_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function ensureShutOff(vm: Domain, o: ShutdownOptions): Promise<PowerPlan> {
  const { state: initial } = await vm.state();
  if (initial === 'shutoff' || initial === 'crashed') return { initial, action: 'none' };
  const started = Date.now();
  if (restartable(initial)) {
    await o.onChange?.({ kind: 'stopping', vm: vm.name, uuid: vm.uuid, initial });
  }
  // Default flags: libvirt uses the guest agent when there is one, ACPI otherwise.
  await vm.shutdown(DomainShutdown.DEFAULT);
  o.onEvent?.({ kind: 'shutdown-requested', vm: vm.name });
  let lastRequest = started;
  while (Date.now() - started < o.timeoutMs) {
    if (o.signal?.aborted) {
      // Asked to stop, the guest may be on its way down: see it off and start it again rather
      // than leave it to go off behind our back (a second signal stops brankas at once).
      o.onEvent?.({ kind: 'stopping-waits-for-off', vm: vm.name });
      await untilOff(vm, started + o.timeoutMs);
      await restorePower(vm, { initial, action: 'shutdown' }, o.onEvent, o.onChange);
      o.signal.throwIfAborted();
    }
    // A request that arrives while the guest is still booting (before its ACPI
    // daemon runs) is lost: ask again now and then, as a patient admin would.
    if (Date.now() - lastRequest >= RESEND_MS) {
      lastRequest = Date.now();
      await vm.shutdown(DomainShutdown.DEFAULT).catch(() => undefined);
    }
    if ((await vm.state()).state === 'shutoff') {
      o.onEvent?.({ kind: 'shut-off', vm: vm.name, seconds: (Date.now() - started) / 1000 });
      return { initial, action: 'shutdown' };
    }
    await sleep(250);
  }
  if (o.forceOffAfterTimeout) {
    await vm.destroy();
    o.onEvent?.({ kind: 'forced-off', vm: vm.name });
    return { initial, action: 'forced-off' };
  }
  throw new EngineError(
    'BACKUP_SHUTDOWN_TIMEOUT',
    `VM '${vm.name}' did not shut down within ${o.timeoutMs / 1000} s; it is left running and ` +
      `nothing was backed up. Check that the guest reacts to ACPI shutdown (or runs the QEMU ` +
      `guest agent), give it longer with --shutdown-timeout, or use --force-off-after-timeout.`,
    { details: { vm: vm.name, timeoutSeconds: o.timeoutMs / 1000 } },
  );
}

/** Waits until the VM is off, or the deadline. */
async function untilOff(vm: Domain, deadline: number): Promise<void> {
  while (Date.now() < deadline && (await vm.state()).state !== 'shutoff') await sleep(250);
}

/** Brings a VM back to the state it was found in (running or paused), if it is off now. */
export async function restorePower(
  vm: Domain,
  plan: PowerPlan,
  onEvent?: (e: PowerEvent) => void,
  onChange?: PowerChangeFn,
): Promise<void> {
  if (!restartable(plan.initial)) return;
  if ((await vm.state()).state === 'shutoff') {
    // A paused VM cannot be restarted paused with its memory: it comes back running, then paused.
    await vm.start();
    onEvent?.({ kind: 'started', vm: vm.name });
    if (plan.initial === 'paused') await vm.suspend();
  }
  if (plan.action !== 'none') await onChange?.({ kind: 'restored', vm: vm.name, uuid: vm.uuid });
}
