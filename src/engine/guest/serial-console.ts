/**
 * A client for a guest's shell on its serial console (a unix socket in bind
 * mode): the way brankas looks inside its throwaway test guests, for the labs
 * and restore tests. Commands are framed by markers the shell prints, so the
 * output returned is exactly the command's, whatever the terminal echoes.
 * Every wait has a timeout, and every error quotes the last console output.
 */
import { randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { EngineError } from '../errors.js';

/** Printed alone on a line of the console when the tiny guest's shell is ready. */
/**
 * How long a command may run by default: the guest's commands take a moment, but under TCG on a
 * loaded host (the labs, the tests) a moment can stretch a lot; the bound is there for a hang.
 */
const COMMAND_TIMEOUT_MS = 60_000;

export const READY_MARKER = 'BRANKAS-GUEST-READY';

/** The result of SerialConsole.exec. */
export interface CommandResult {
  output: string;
  exitCode: number;
}

const HISTORY_CHARS = 4000;
const MAX_BUFFER_CHARS = 8 * 1024 * 1024;

function sleep(ms: number): Promise<void> {
  return new Promise((resolvePromise) => setTimeout(resolvePromise, ms));
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * A client for the guest's shell on its serial console (a unix socket in bind mode).
 *
 * Output not yet consumed by waitFor/run stays buffered. Every wait has a timeout, and every
 * error quotes the last console output seen. Commands are serialized.
 */
export class SerialConsole {
  private buffer = '';
  private history = '';
  private closedReason: string | undefined;
  private readonly decoder = new StringDecoder('utf8');
  private readonly listeners = new Set<() => void>();
  private queue: Promise<unknown> = Promise.resolve();
  private sequence = 0;
  private readonly tag = randomBytes(3).toString('hex');

  private constructor(
    private readonly socket: Socket,
    readonly socketPath: string,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(this.decoder.write(chunk)));
    socket.on('error', (err) => this.onClose(`console socket error: ${err.message}`));
    socket.on('close', () => this.onClose('console socket closed (guest stopped?)'));
  }

  /** Connects to the socket, retrying until it exists and accepts (default 30 s). */
  static async connect(
    socketPath: string,
    options: { timeoutMs?: number } = {},
  ): Promise<SerialConsole> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    let lastError = 'never tried';
    for (;;) {
      try {
        const socket = await new Promise<Socket>((resolvePromise, reject) => {
          const s = netConnect(socketPath);
          const onConnect = (): void => {
            clearTimeout(timer);
            s.removeListener('error', onError);
            resolvePromise(s);
          };
          const onError = (err: Error): void => {
            clearTimeout(timer);
            s.removeListener('connect', onConnect);
            s.destroy();
            reject(err);
          };
          const timer = setTimeout(
            () => onError(new Error('connect timed out')),
            Math.max(100, deadline - Date.now()),
          );
          s.once('connect', onConnect);
          s.once('error', onError);
        });
        return new SerialConsole(socket, socketPath);
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() >= deadline) {
        throw new EngineError(
          'GUEST_UNAVAILABLE',
          `SerialConsole: cannot connect to ${socketPath} within ${timeoutMs} ms: ${lastError}`,
        );
      }
      await sleep(100);
    }
  }

  /** The last few thousand characters received (consumed or not), for diagnostics. */
  get lastOutput(): string {
    return this.history;
  }

  /** Whether the connection is gone (closed by us, or the guest stopped). */
  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  /**
   * Waits until `text` appears in the output not yet consumed, consumes the output up to the end
   * of the match and returns it.
   */
  async waitFor(text: string | RegExp, timeoutMs = 30_000): Promise<string> {
    const what = typeof text === 'string' ? JSON.stringify(text) : String(text);
    const pattern =
      typeof text === 'string'
        ? undefined
        : new RegExp(text.source, text.flags.replace(/[gy]/g, ''));
    return this.until(
      () => {
        let end: number;
        if (pattern === undefined) {
          const at = this.buffer.indexOf(text as string);
          if (at < 0) return undefined;
          end = at + (text as string).length;
        } else {
          const match = pattern.exec(this.buffer);
          if (match === null) return undefined;
          end = match.index + match[0].length;
        }
        const consumed = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end);
        return consumed;
      },
      timeoutMs,
      `waiting for ${what}`,
    );
  }

  /**
   * Waits until the guest's shell answers. Waits for READY_MARKER and, in case it was printed
   * before we connected, also probes the shell every second.
   */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    const probe = `__R_${this.tag}_${++this.sequence}__`;
    const half = Math.floor(probe.length / 2);
    const probeCommand = `printf '%s%s\\n' '${probe.slice(0, half)}' '${probe.slice(half)}'\n`;
    const deadline = Date.now() + timeoutMs;
    const timer = setInterval(() => {
      if (!this.closed) this.socket.write(probeCommand);
    }, 1000);
    try {
      await this.until(
        () => {
          const at = Math.max(this.buffer.indexOf(READY_MARKER), this.buffer.indexOf(probe));
          return at < 0 ? undefined : true;
        },
        deadline - Date.now(),
        `waiting for the guest to be ready (${READY_MARKER})`,
      );
    } finally {
      clearInterval(timer);
    }
    // Let any probe in flight be answered, then drop everything seen so far.
    await sleep(150);
    this.buffer = '';
  }

  /**
   * Runs a shell command in the guest and returns exactly its output (stdout and stderr, merged).
   * Throws if it exits non-zero (use exec for the exit code) or does not finish in time.
   * The command runs in the guest's one shell (cd and variables persist between commands), with
   * stdin from /dev/null; it may span several lines. A syntax error gives exit code 2.
   */
  async run(command: string, timeoutMs = COMMAND_TIMEOUT_MS): Promise<string> {
    const result = await this.exec(command, timeoutMs);
    if (result.exitCode !== 0) {
      throw new EngineError(
        'GUEST_COMMAND_FAILED',
        `SerialConsole: command exited with ${result.exitCode}: ${command}\n--- output ---\n${result.output}`,
        { details: { command, exitCode: result.exitCode } },
      );
    }
    return result.output;
  }

  /** Like run, but returns the exit code instead of throwing on failure. */
  exec(command: string, timeoutMs = COMMAND_TIMEOUT_MS): Promise<CommandResult> {
    const next = this.queue.then(() => this.execNow(command, timeoutMs));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async execNow(command: string, timeoutMs: number): Promise<CommandResult> {
    const id = `${this.tag}_${++this.sequence}`;
    const begin = `__B_${id}__\n`;
    const endPattern = new RegExp(`\r?\n__E_${id}__(\\d+)\r?\n`);
    // The markers are assembled by printf, so an echo of the typed line never matches them.
    // The newline printed before the end marker ends output that has no final newline, and is
    // taken off again. The command is syntax-checked in a child shell first: a syntax error
    // would make the guest's shell exit (and lose the end marker); it gives exit code 2 instead.
    const line =
      `printf '__B_%s__\\n' ${shellQuote(id)}; __brankas_cmd=${shellQuote(command)}; ` +
      `if __brankas_err=$(sh -n -c "$__brankas_cmd" 2>&1); then eval "$__brankas_cmd" </dev/null; ` +
      `else printf '%s\\n' "$__brankas_err"; (exit 2); fi; ` +
      `printf '\\n__E_%s__%d\\n' ${shellQuote(id)} $?\n`;
    if (this.closedReason !== undefined) throw this.failure(`running ${JSON.stringify(command)}`);
    this.socket.write(line);
    return this.until(
      () => {
        const start = this.buffer.indexOf(begin);
        if (start < 0) return undefined;
        const rest = this.buffer.slice(start + begin.length);
        const end = endPattern.exec(rest);
        if (end === null) return undefined;
        this.buffer = rest.slice(end.index + end[0].length);
        return {
          output: rest.slice(0, end.index).replace(/\r\n/g, '\n'),
          exitCode: Number(end[1]),
        };
      },
      timeoutMs,
      `running ${JSON.stringify(command)}`,
    );
  }

  /** Closes the connection (the guest keeps running). */
  close(): void {
    this.onClose('console closed by its user');
    this.socket.destroy();
  }

  private onData(text: string): void {
    if (text.length === 0) return;
    this.buffer += text;
    if (this.buffer.length > MAX_BUFFER_CHARS) this.buffer = this.buffer.slice(-MAX_BUFFER_CHARS);
    this.history = (this.history + text).slice(-HISTORY_CHARS);
    for (const listener of [...this.listeners]) listener();
  }

  private onClose(reason: string): void {
    this.closedReason ??= reason;
    for (const listener of [...this.listeners]) listener();
  }

  private failure(what: string): Error {
    return new EngineError(
      'GUEST_UNAVAILABLE',
      `SerialConsole ${this.socketPath}: ${what}` +
        (this.closedReason === undefined ? '' : `: ${this.closedReason}`) +
        '\n' +
        `--- last console output ---\n${this.history}\n--- end ---`,
    );
  }

  /** Resolves with check()'s first defined result, re-checked on every change. */
  private until<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise<T>((resolvePromise, reject) => {
      const listener = (): void => {
        let result: T | undefined;
        try {
          result = check();
        } catch (err) {
          finish();
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        if (result !== undefined) {
          finish();
          resolvePromise(result);
        } else if (this.closedReason !== undefined) {
          finish();
          reject(this.failure(what));
        }
      };
      const finish = (): void => {
        this.listeners.delete(listener);
        clearTimeout(timer);
      };
      const timer = setTimeout(
        () => {
          finish();
          reject(this.failure(`${what}: no answer within ${timeoutMs} ms`));
        },
        Math.max(0, timeoutMs),
      );
      this.listeners.add(listener);
      listener();
    });
  }
}
