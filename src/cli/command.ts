/**
 * The shape of a CLI command: its name, help text, options (node:util
 * parseArgs form) and a run function that parses nothing itself.
 */
import type { ParseArgsConfig } from 'node:util';
import { BrankasError } from '../util/errors.js';
import type { CliContext } from './context.js';
import { translator, type MessageKey } from './i18n.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface ParsedArgs {
  values: { [name: string]: string | boolean | (string | boolean)[] | undefined };
  positionals: string[];
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Longer help, printed after the usage line. */
  help?: string;
  options?: OptionSpec;
  positionals?: { min: number; max: number; names: string };
  run(ctx: CliContext, args: ParsedArgs): Promise<number | void>;
}

/**
 * A mistake in how brankas was called (exit 2). It may carry the typed error that found it (a
 * chunk size out of range...), so the message is said in the user's language from the registry.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'USAGE';
  readonly typed: BrankasError | undefined;
  /** The message as a catalogue key (src/cli/i18n.ts), said in the user's language. */
  key: MessageKey | undefined;
  params: Record<string, string | number> | undefined;

  constructor(message: string, typed?: BrankasError) {
    super(typed?.message ?? message);
    this.typed = typed;
  }

  /** A typed error that means a bad value on the command line, as a usage error. */
  static from(err: unknown): unknown {
    return err instanceof BrankasError ? new UsageError(err.message, err) : err;
  }

  /** A usage error said from the message catalogue; its message is the English text. */
  static say(key: MessageKey, params: Record<string, string | number> = {}): UsageError {
    const e = new UsageError(translator('en')(key, params));
    e.key = key;
    e.params = params;
    return e;
  }
}
