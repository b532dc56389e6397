#!/usr/bin/env node
/**
 * The `brankas` executable: hands the arguments and the process's streams to
 * the runner and exits with its code. It owns the process: signals, and what
 * happens when stdout or stderr goes away.
 */
import { Interrupt } from './interrupt.js';
import { run, EXIT } from './run.js';

// A command that can stop cleanly takes the signal (ctx.signal()) and returns on its own;
// any other is stopped at once, and so is every command on a second SIGINT or SIGTERM. SIGHUP
// (a terminal closed, an SSH session dropped) asks for a stop like them, but nobody insisted:
// it never cuts short a cleanup already under way.
const interrupt = new Interrupt();
const stop = (how: 'graceful' | 'now' | 'ignored'): void => {
  if (how === 'now') process.exit(EXIT.INTERRUPTED);
};
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => stop(interrupt.fire()));
process.on('SIGHUP', () => stop(interrupt.request()));

// A closed stdout (`brankas demo | head`) or a closed terminal must never crash brankas in the
// middle of putting a VM back: what it writes there is dropped from then on. A stdout whose
// reader is gone asks the command to stop, as SIGHUP does (as SIGPIPE would, but cleanly).
process.stdout.on('error', () => stop(interrupt.request()));
process.stderr.on('error', () => undefined);
// However the process ends, what the library started outside it (qemu-nbd) is stopped:
// it listens to the interrupt's signal, which fires here at the latest.
process.on('exit', () => interrupt.end());

const code = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  interrupt,
});
// A command that took the signal says itself how it ended: 130 when it stopped, 0 when the
// signal came after its work was done and recorded.
process.exitCode = code;
