/**
 * A guest agent stand-in for fault tests, swapped into a running tiny guest
 * through its serial console. It freezes and thaws /data for real and logs
 * each freeze/thaw request to /tmp/agent.log; files in the guest's /tmp turn
 * faults on: /tmp/agent-freeze-hangs (the freeze request freezes /data but is
 * never answered, as an agent stuck mid-freeze) and /tmp/agent-thaw-fails
 * (thaw requests are refused). guest-fsfreeze-status says what it did.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BOOT_TIMEOUT_MS, type TinyGuest } from '../../src/engine/guest/tiny-guest.js';

/*
 * The id of a request is taken without a fork (as the stock stand-in does: a sed per request
 * took seconds under TCG on a loaded host, past libvirt's 5 s guest-sync wait, and every
 * command failed "Guest agent disappeared" until the load fell).
 * It keeps the port open across end-of-file (no host side yet): closing and reopening it at
 * once, as the stock stand-in does, can race libvirt's reconnection forever.
 */
const FAULTY_AGENT = `#!/bin/sh
dev=
for p in /sys/class/virtio-ports/*; do
  [ "$(cat "$p/name" 2>/dev/null)" = org.qemu.guest_agent.0 ] && dev=/dev/\${p##*/}
done
exec 3<>"$dev"
while true; do
  while IFS= read -r line <&3; do
    id=\${line#*\\"id\\"}; id=\${id#"\${id%%[0-9]*}"}; id=\${id%%[!0-9]*}
    case "$line" in
      *guest-sync-delimited*) printf '\\377{"return": %s}\\n' "$id" ;;
      *guest-sync*) printf '{"return": %s}\\n' "$id" ;;
      *guest-ping*) printf '{"return": {}}\\n' ;;
      *guest-fsfreeze-status*)
        if [ -e /tmp/agent-frozen ]; then printf '{"return": "frozen"}\\n'
        else printf '{"return": "thawed"}\\n'; fi ;;
      *guest-fsfreeze-freeze*)
        if [ -e /tmp/agent-freeze-hangs ]; then
          fsfreeze --freeze /data && touch /tmp/agent-frozen; echo freeze-unanswered >>/tmp/agent.log
        elif fsfreeze --freeze /data; then
          touch /tmp/agent-frozen; echo freeze >>/tmp/agent.log; printf '{"return": 1}\\n'
        else printf '{"error": {"class": "GenericError", "desc": "freeze failed"}}\\n'; fi ;;
      *guest-fsfreeze-thaw*)
        if [ -e /tmp/agent-thaw-fails ]; then
          echo thaw-refused >>/tmp/agent.log
          printf '{"error": {"class": "GenericError", "desc": "thaw refused"}}\\n'
        else
          fsfreeze --unfreeze /data; rm -f /tmp/agent-frozen; echo thaw >>/tmp/agent.log
          printf '{"return": 1}\\n'
        fi ;;
      *) printf '{"error": {"class": "CommandNotFound", "desc": "no"}}\\n' ;;
    esac >&3
  done
  sleep 0.2
done
`;

/** Polls (by a deadline) until the agent answers a ping: a wait for readiness, not a decision. */
export async function agentConnected(guest: TinyGuest, timeoutMs = BOOT_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await guest.domain.agentCommand(JSON.stringify({ execute: 'guest-ping' }), 5);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
}

async function agentGone(guest: TinyGuest): Promise<void> {
  const deadline = Date.now() + BOOT_TIMEOUT_MS;
  for (;;) {
    try {
      await guest.domain.agentCommand(JSON.stringify({ execute: 'guest-ping' }), 1);
    } catch {
      return;
    }
    if (Date.now() > deadline)
      throw new Error('the guest agent still answers after it was stopped');
    await sleep(100);
  }
}

/**
 * Replaces the guest's agent with this stand-in (healthy until a fault file is made). A reopening of the port libvirt misses
 * leaves the agent "not connected", so the swap is tried again (up to three times).
 */
export async function startAgentStandIn(guest: TinyGuest): Promise<void> {
  const c = guest.console;
  await c.run(`echo ${Buffer.from(FAULTY_AGENT).toString('base64')} | base64 -d > /tmp/agent3.sh`);
  for (let attempt = 1; ; attempt++) {
    await c.run(
      'for p in /proc/[0-9]*; do grep -qE "agent[23]?\\.sh" $p/cmdline 2>/dev/null && kill ${p#/proc/}; done; true',
    );
    await agentGone(guest);
    await c.run('(sh /tmp/agent3.sh </dev/null >/dev/null 2>&1 &); true');
    try {
      await agentConnected(guest, attempt < 3 ? 10_000 * attempt : BOOT_TIMEOUT_MS);
      return;
    } catch (err) {
      if (attempt >= 3) {
        throw new Error(`the faulty agent never connected; guest: ${await c.run('ps; true')}`, {
          cause: err,
        });
      }
    }
  }
}
