/**
 * What every command gets: where to write, the language, whether to print
 * JSON, and a lazily opened libvirt connection that the runner closes.
 */
import type { Writable, Readable } from 'node:stream';
import type { Connection } from '../libvirt/index.js';
import { toJson } from './format.js';
import type { Lang, Translate } from './i18n.js';
import type { Interrupt } from './interrupt.js';

export interface CliIO {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  stdin: Readable & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** Signals from the executable (absent in-process: nothing interrupts then). */
  interrupt?: Interrupt;
}

export class CliContext {
  private connection: Promise<Connection> | undefined;
  private taken: AbortSignal | undefined;

  constructor(
    readonly io: CliIO,
    readonly lang: Lang,
    readonly t: Translate,
    readonly json: boolean,
    readonly uri: string | undefined,
  ) {}

  /**
   * For commands that stop cleanly on SIGINT/SIGTERM: the signal they stop on.
   * Taking it keeps the executable from exiting at once on the first signal.
   */
  signal(): AbortSignal {
    this.taken ??= this.io.interrupt?.take() ?? new AbortController().signal;
    return this.taken;
  }

  /**
   * For library calls that start things outside the process (qemu-nbd): a signal that fires
   * when the process stops on SIGINT/SIGTERM or exits, so they are stopped too. Unlike
   * signal(), it does not take the signal: the command is still stopped at once.
   */
  lifetime(): AbortSignal {
    return this.io.interrupt?.signal ?? new AbortController().signal;
  }

  /**
   * For commands that hold things a signal must not leave behind: on SIGINT/SIGTERM,
   * `cleanup` runs and the process exits 130. Returns the function that stops listening.
   */
  onInterrupt(cleanup: () => Promise<unknown>): () => void {
    const signal = this.signal();
    const onAbort = (): void => void cleanup().finally(() => process.exit(130));
    signal.addEventListener('abort', onAbort, { once: true });
    return () => signal.removeEventListener('abort', onAbort);
  }

  /**
   * The libvirt connection (opened on first use; the client is loaded only then). `-c` takes a
   * URI or the name of a registered host (`brankas host add`).
   */
  connect(): Promise<Connection> {
    this.connection ??= (async () => {
      const { Connection } = await import('../libvirt/index.js');
      let uri = this.uri;
      if (uri !== undefined && !uri.includes(':')) {
        // A name: looked up in the hosts file (only then loaded; the service's front door
        // would load the job history's SQLite too).
        const [{ resolveConnectTarget }, { stateDirFrom }] = await Promise.all([
          import('../service/hosts.js'),
          import('../service/state.js'),
        ]);
        uri = await resolveConnectTarget(stateDirFrom(this.io.env), uri);
      }
      return Connection.open(uri);
    })();
    return this.connection;
  }

  print(line = ''): void {
    this.io.stdout.write(line + '\n');
  }

  printJson(value: unknown): void {
    this.io.stdout.write(toJson(value) + '\n');
  }

  /** Progress and notes go to stderr so stdout stays clean for piping. */
  note(line: string): void {
    this.io.stderr.write(line + '\n');
  }

  async close(): Promise<void> {
    if (!this.connection) return;
    try {
      await (await this.connection).close();
    } catch {
      // It never opened: nothing to close.
    }
  }
}
