/**
 * Runs the CLI in-process with captured output and a non-TTY stdin, as a
 * script or CI would run it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { run } from '../../src/cli/run.js';

/**
 * The state directory (locks, journal) of every CLI run of this test process, in-process or
 * spawned with process.env: never the host's /var/lib/brankas. Removed when the process exits.
 */
export const TEST_STATE_DIR = mkdtempSync(join(tmpdir(), 'brankas-test-state-'));
process.env['BRANKAS_STATE_DIR'] ??= TEST_STATE_DIR;
process.on('exit', () => rmSync(TEST_STATE_DIR, { recursive: true, force: true }));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const stdin = new PassThrough();
  stdin.end();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await run(args, {
    stdout,
    stderr,
    stdin,
    env: { LANG: 'C', BRANKAS_STATE_DIR: TEST_STATE_DIR, ...env },
  });
  return { code, stdout: out, stderr: err };
}

/** A fresh unencrypted repository made with `brankas repo init` in a new temp path; returns it. */
export async function initPlainRepo(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'brankas-test-repo-'));
  await rm(dir, { recursive: true });
  const init = await cli(['repo', 'init', '--no-encryption'], { BRANKAS_REPO: dir });
  if (init.code !== 0) throw new Error(`repo init failed: ${init.stderr}`);
  return dir;
}
