#!/usr/bin/env node
/**
 * The `brankas` executable: hands the arguments and the process's streams to
 * the runner and exits with its code.
 */
import { run, EXIT } from './run.js';

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    // Commands that hold resources install their own handlers; this is the fallback.
    interrupted = true;
    process.exitCode = EXIT.INTERRUPTED;
  });
}

const code = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
});
process.exitCode = interrupted ? EXIT.INTERRUPTED : code;
