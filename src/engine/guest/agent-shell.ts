/**
 * A guest shell through the QEMU guest agent (guest-exec), for labs run on a
 * user's own VM, which has no serial console brankas can drive.
 */
import type { Domain } from '../../libvirt/index.js';
import { EngineError } from '../errors.js';

/** The virtio-serial port name of the QEMU guest agent. */
export const AGENT_CHANNEL = 'org.qemu.guest_agent.0';

interface ExecStatus {
  exited: boolean;
  exitcode?: number;
  'out-data'?: string;
  'err-data'?: string;
}

export class AgentShell {
  constructor(private readonly vm: Domain) {}

  private async agent<T>(execute: string, args?: unknown): Promise<T> {
    let raw: string;
    try {
      raw = await this.vm.agentCommand(JSON.stringify({ execute, arguments: args }), 10);
    } catch (err) {
      throw new EngineError(
        'GUEST_UNAVAILABLE',
        `cannot run commands in VM '${this.vm.name}': its QEMU guest agent does not answer ` +
          `(${(err as Error).message}). Install and start qemu-guest-agent in the guest.`,
        { cause: err, details: { vm: this.vm.name } },
      );
    }
    return (JSON.parse(raw) as { return: T }).return;
  }

  async run(command: string, timeoutMs = 30_000): Promise<string> {
    const { pid } = await this.agent<{ pid: number }>('guest-exec', {
      path: '/bin/sh',
      arg: ['-c', command],
      'capture-output': true,
    });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.agent<ExecStatus>('guest-exec-status', { pid });
      if (s.exited) {
        const out = Buffer.from(s['out-data'] ?? '', 'base64').toString();
        if (s.exitcode !== 0) {
          throw new EngineError(
            'GUEST_COMMAND_FAILED',
            `command exited with ${s.exitcode} in VM '${this.vm.name}': ${command}\n${out}` +
              Buffer.from(s['err-data'] ?? '', 'base64').toString(),
            { details: { command, exitCode: s.exitcode } },
          );
        }
        return out;
      }
      if (Date.now() > deadline) {
        throw new EngineError(
          'GUEST_UNAVAILABLE',
          `command did not finish in ${timeoutMs} ms: ${command}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** After a revert the agent restarts with the guest: wait until it answers again. */
  async resync(): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await this.agent('guest-ping');
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }
}
