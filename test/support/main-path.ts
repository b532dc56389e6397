/**
 * The `brankas` executable as users run it (package.json's bin): the bundle `npm run build`
 * makes in dist/cli/. Tests that start brankas as a process start this.
 */
import { fileURLToPath } from 'node:url';

export const BRANKAS_MAIN = fileURLToPath(new URL('../../cli/brankas.js', import.meta.url));
