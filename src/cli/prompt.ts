/**
 * Asking the user: only on a terminal. Without one, commands that need a
 * confirmation demand --yes instead of guessing.
 */
import { createInterface } from 'node:readline/promises';
import type { CliContext } from './context.js';

export async function confirm(ctx: CliContext, question: string): Promise<boolean> {
  const rl = createInterface({ input: ctx.io.stdin, output: ctx.io.stderr, terminal: true });
  try {
    const answer = (await rl.question(`${question} `)).trim().toLowerCase();
    return ['y', 'yes', 'ya', 'iya'].includes(answer);
  } finally {
    rl.close();
  }
}

export function isInteractive(ctx: CliContext): boolean {
  return ctx.io.stdin.isTTY === true && ctx.io.stderr.isTTY === true;
}
