#!/usr/bin/env node
/**
 * The `brankas` executable: hands the arguments and the process's streams to
 * the runner and exits with its code.
 */
import { Interrupt } from './interrupt.js';
import { run, EXIT } from './run.js';

// A command that can stop cleanly takes the signal (ctx.signal()) and returns on its own;
// any other is stopped at once, and so is every command on a second signal.
const interrupt = new Interrupt();
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    interrupted = true;
    if (interrupt.fire() === 'now') process.exit(EXIT.INTERRUPTED);
  });
}
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
process.exitCode = interrupted ? EXIT.INTERRUPTED : code;
