/**
 * Loaded with `node --import` in a spawned CLI (test/cli-module-load.test.ts): records every
 * module the process resolves, through the module hooks in import-trace-hooks.ts, into the
 * file named by BRANKAS_TEST_IMPORT_TRACE.
 */
import { register } from 'node:module';

register('./import-trace-hooks.js', import.meta.url);
