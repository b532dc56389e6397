/**
 * The shape of a CLI command: its name, help text, options (node:util
 * parseArgs form) and a run function that parses nothing itself.
 */
import type { ParseArgsConfig } from 'node:util';
import type { CliContext } from './context.js';

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

export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'USAGE';
}
