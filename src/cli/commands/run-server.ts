/**
 * The serving process of `brankas run`, owned by the CLI (the library owns
 * no process): started detached as `brankas serve-export` with the password
 * on a pipe and its output appended to the run's log, awaited until it says
 * its sockets listen and it has written the run's record (it writes it itself,
 * so a `brankas run` killed in between leaves a listed server), and stopped with SIGTERM by `run --stop`/`--persist`,
 * checked by its identity first so a reused pid is never signalled.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { EngineError } from '../../engine/index.js';
import {
  identityOf,
  isAlive,
  runLogPath,
  runsDir,
  type ProcessIdentity,
  type RunDisk,
} from '../../service/index.js';
import type { RecordDraft } from './serve-export.js';
import { cliEntry } from '../entry.js';

/** How long the serving process may take to open the repository and listen. */
const START_DEADLINE_MS = 120_000;
/** How long it may take to close its sockets once asked to stop. */
const STOP_DEADLINE_MS = 60_000;

/**
 * Whether the serving process runs: alive by its identity and not a zombie (a process that
 * ran `brankas run` in-process, as the tests do, reaps it only later).
 */
export function serverRunning(server: ProcessIdentity): boolean {
  if (!isAlive(server)) return false;
  try {
    const stat = readFileSync(`/proc/${server.pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

export interface ServerSpec {
  stateDir: string;
  vm: string;
  backup: string;
  location: string;
  password: string | undefined;
  disks: RunDisk[];
  owner: { uid: number; gid: number } | undefined;
  env: NodeJS.ProcessEnv;
  /** The record the server writes for itself once it listens (its identity added). */
  record: RecordDraft;
}

export async function startServer(s: ServerSpec): Promise<ProcessIdentity> {
  await mkdir(runsDir(s.stateDir), { recursive: true, mode: 0o755 });
  const log = openSync(runLogPath(s.stateDir, s.vm), 'a', 0o600);
  const main = cliEntry();
  const child = spawn(
    process.execPath,
    [
      main,
      'serve-export',
      '--repo',
      s.location,
      '--backup',
      s.backup,
      ...s.disks.flatMap((d) => ['--disk', `${d.disk}=${d.socket}`]),
      ...(s.owner ? ['--owner', `${s.owner.uid}:${s.owner.gid}`] : []),
      ...(s.password !== undefined ? ['--password-stdin'] : []),
      '--state-dir',
      s.stateDir,
      '--record',
      JSON.stringify(s.record),
    ],
    // A session of its own: Ctrl-C in the terminal that ran `brankas run` does not reach it.
    { detached: true, stdio: ['pipe', log, log, 'ipc'], env: { ...process.env, ...s.env } },
  );
  closeSync(log);
  // A child that dies before reading its password must not crash this process (EPIPE).
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(s.password ?? '');
  const failed = (message: string): EngineError =>
    new EngineError(
      'RUN_SERVER_FAILED',
      `the process to serve backup ${s.backup} for VM '${s.vm}' did not start: ${message}`,
      { details: { vm: s.vm, backup: s.backup, message } },
    );
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(failed(`no answer within ${START_DEADLINE_MS / 1000} s`));
      }, START_DEADLINE_MS);
      const done = (err?: Error): void => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      child.once('message', (m: { ready?: boolean; error?: { message: string } }) =>
        done(m.ready ? undefined : failed(m.error?.message ?? 'unknown error')),
      );
      child.once('exit', (code, sig) => done(failed(`it exited (${sig ?? code})`)));
      child.once('error', (err) => done(failed(err.message)));
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  child.removeAllListeners();
  if (child.connected) child.disconnect();
  child.unref();
  return identityOf(child.pid!);
}

/**
 * Stops a serving process (SIGTERM) and waits until it has gone, by a deadline; true when it
 * was running. A dead identity (gone, or its pid reused) is not signalled.
 */
export async function stopServer(server: ProcessIdentity): Promise<boolean> {
  if (!serverRunning(server)) return false;
  try {
    process.kill(server.pid, 'SIGTERM');
  } catch {
    return false;
  }
  const deadline = Date.now() + STOP_DEADLINE_MS;
  while (serverRunning(server)) {
    if (Date.now() > deadline) {
      process.kill(server.pid, 'SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}
