/**
 * The records of VMs run from a backup (`brankas run`, docs/instant-recovery.md): per VM, which
 * backup it reads its disks from, over which sockets and overlays, and which process serves
 * them, in `STATE/runs/NAME.json` (docs/state-format.md, "Runs"). The process that spawns the
 * server writes it; any later process (`run --list`, `--stop`, `--persist`) reads it, so the
 * serving process is managed across CLI calls.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ServiceError, unusable } from './errors.js';
import { vmFileName } from './lock.js';
import type { ProcessIdentity } from './process-identity.js';

export interface RunDisk {
  disk: string;
  socket: string;
  overlay: string;
}

export interface RunRecord {
  version: 1;
  vm: string;
  backup: string;
  /** Where the repository is (a directory or an s3: location), for --resume. */
  repo: string;
  disks: RunDisk[];
  /** The serving process (alive exactly as a lock holder is). */
  server: ProcessIdentity;
  since: string;
  persisted: { at: string; disks: { disk: string; path: string }[] } | null;
}

export function runsDir(stateDir: string): string {
  return join(stateDir, 'runs');
}

function recordPath(stateDir: string, vm: string): string {
  return join(runsDir(stateDir), `${vmFileName(vm)}.json`);
}

/** Where the serving process of VM `vm` writes its output. */
export function runLogPath(stateDir: string, vm: string): string {
  return join(runsDir(stateDir), `${vmFileName(vm)}.log`);
}

function parse(text: string): RunRecord | undefined {
  try {
    const r = JSON.parse(text) as RunRecord;
    return r.version === 1 && typeof r.vm === 'string' && Array.isArray(r.disks) ? r : undefined;
  } catch {
    return undefined;
  }
}

/** VM `vm`'s record; RUN_NOT_FOUND when there is none. */
export async function readRunRecord(stateDir: string, vm: string): Promise<RunRecord> {
  let text: string;
  try {
    text = await readFile(recordPath(stateDir, vm), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw unusable(stateDir, err);
    text = '';
  }
  const r = parse(text);
  if (!r) {
    throw new ServiceError(
      'RUN_NOT_FOUND',
      `no VM named '${vm}' runs from a backup here (brankas run --list shows those that do)`,
      { details: { vm } },
    );
  }
  return r;
}

/** Every run record, by VM name. */
export async function listRunRecords(stateDir: string): Promise<RunRecord[]> {
  const dir = runsDir(stateDir);
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: RunRecord[] = [];
  for (const name of names.filter((n) => n.startsWith('vm-') && n.endsWith('.json')).sort()) {
    const r = await readFile(join(dir, name), 'utf8').then(parse, () => undefined);
    if (r) out.push(r);
  }
  return out;
}

/** Writes (or replaces) a record atomically: a reader sees the old one or the new one. */
export async function writeRunRecord(stateDir: string, record: RunRecord): Promise<void> {
  const dir = runsDir(stateDir);
  const tmp = join(dir, `.${vmFileName(record.vm)}.json.${randomBytes(8).toString('hex')}.tmp`);
  try {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await writeFile(tmp, JSON.stringify(record, null, 2) + '\n', { mode: 0o644 });
    await rename(tmp, recordPath(stateDir, record.vm));
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw unusable(stateDir, err);
  }
}

/** Removes a record and its log (absent ones are fine). */
export async function removeRunRecord(stateDir: string, vm: string): Promise<void> {
  for (const path of [recordPath(stateDir, vm), runLogPath(stateDir, vm)]) {
    await unlink(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw unusable(stateDir, err);
    });
  }
}
