/**
 * Does the restored guest answer? The two probes verify --boot has: the
 * QEMU guest agent (guest-ping through libvirt, for a VM whose XML has the
 * agent's channel) and otherwise a shell on a serial console on a unix
 * socket (the tiny test guest's, or any guest that runs one). Each returns
 * undefined when the guest answered, else why not.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Domain } from '../../libvirt/index.js';
import { untilAborted } from '../../util/abort.js';
import { errorMessage } from '../../util/errors.js';
import { attr, child, children, parseXml, type Element } from '../../util/xml.js';
import { SerialConsole } from '../guest/serial-console.js';
import { AGENT_CHANNEL } from '../guest/agent-shell.js';

function devices(xml: string): Element[] {
  const d = child(parseXml(xml).documentElement!, 'devices');
  return d ? [d] : [];
}

/** The unix socket of the first bind-mode serial console, if any. */
export function serialSocket(xml: string): string | undefined {
  for (const d of devices(xml)) {
    for (const s of children(d, 'serial')) {
      const src = child(s, 'source');
      if (attr(s, 'type') === 'unix' && attr(src, 'mode') === 'bind') return attr(src, 'path');
    }
  }
  return undefined;
}

/** Whether the domain has the QEMU guest agent's virtio-serial channel. */
export function hasAgentChannel(xml: string): boolean {
  for (const d of devices(xml)) {
    for (const c of children(d, 'channel')) {
      const target = child(c, 'target');
      if (attr(target, 'type') === 'virtio' && attr(target, 'name') === AGENT_CHANNEL) return true;
    }
  }
  return false;
}

/** guest-ping through libvirt, again every second until it answers or timeoutMs passes. */
export async function pingAgent(
  vm: Domain,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    signal?.throwIfAborted();
    try {
      await vm.agentCommand(JSON.stringify({ execute: 'guest-ping' }), 5);
      return undefined;
    } catch (err) {
      // Until the guest opens its end of the channel libvirt says the agent is not connected.
      last = errorMessage(err);
    }
    if (Date.now() >= deadline) {
      return `the QEMU guest agent did not answer within ${Math.round(timeoutMs / 1000)} s (${last})`;
    }
    await sleep(1000, undefined, signal ? { signal } : {});
  }
}

/** Runs `echo` in the shell on the serial console at `socket` once the guest is ready. */
export async function probeSerial(
  socket: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<string | undefined> {
  let console: SerialConsole | undefined;
  try {
    console = await SerialConsole.connect(socket, { timeoutMs: 10_000 });
    await untilAborted(console.waitReady(timeoutMs), signal);
    const said = (await console.run('echo brankas-verify')).trim();
    return said === 'brankas-verify' ? undefined : `the serial console answered '${said}'`;
  } catch (err) {
    signal?.throwIfAborted();
    return `the guest did not answer on its serial console: ${errorMessage(err)}`;
  } finally {
    console?.close();
  }
}
