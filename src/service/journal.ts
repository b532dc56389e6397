/**
 * The job journal (docs/state-format.md): per VM, what a running job changed
 * that must be undone when it ends (today: a VM it powered off). Written
 * before the change and replaced atomically, only by the holder of the VM's
 * lock, so what a killed process leaves behind is there for the next one.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { unusable } from './errors.js';
import type { ProcessIdentity } from './process-identity.js';
import { vmFileName, type JobKind } from './lock.js';

export interface PoweredOff {
  kind: 'powered-off';
  vm: string;
  uuid: string;
  /** The state it was found in and goes back to: running, paused or blocked. */
  initial: string;
  /** When brankas asked it to stop (ISO 8601). */
  at: string;
  /** Who did: kept when a later job takes the change over. */
  job: JobKind;
  pid: number;
  /**
   * Started again paused by the job (`backup --consistency shutdown`, before its backup point):
   * found paused, it is resumed.
   */
  startedPaused?: boolean;
}

export type JournalChange = PoweredOff;

export interface JournalFile {
  version: 1;
  vm: string;
  owner: ProcessIdentity & { job: JobKind };
  changes: JournalChange[];
}

export function journalDir(stateDir: string): string {
  return join(stateDir, 'journal');
}

function journalPath(stateDir: string, vm: string): string {
  return join(journalDir(stateDir), `${vmFileName(vm)}.json`);
}

function parse(text: string): JournalFile | undefined {
  try {
    const j = JSON.parse(text) as JournalFile;
    return j.version === 1 && Array.isArray(j.changes) ? j : undefined;
  } catch {
    return undefined;
  }
}

export async function readJournal(stateDir: string, vm: string): Promise<JournalFile | undefined> {
  try {
    return parse(await readFile(journalPath(stateDir, vm), 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Every journal in the state directory (for status). */
export async function readJournals(stateDir: string): Promise<JournalFile[]> {
  const dir = journalDir(stateDir);
  const names = await readdir(dir).catch(() => [] as string[]);
  const files: JournalFile[] = [];
  for (const name of names) {
    if (!/^vm-.*\.json$/.test(name)) continue;
    const j = await readFile(join(dir, name), 'utf8').then(parse, () => undefined);
    if (j) files.push(j);
  }
  return files;
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Replaces a VM's journal (or removes it when `file` has no changes), durably. */
export async function writeJournal(stateDir: string, file: JournalFile): Promise<void> {
  try {
    await replace(stateDir, file);
  } catch (err) {
    throw unusable(stateDir, err);
  }
}

async function replace(stateDir: string, file: JournalFile): Promise<void> {
  const dir = journalDir(stateDir);
  const path = journalPath(stateDir, file.vm);
  if (file.changes.length === 0) {
    await unlink(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    return;
  }
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const tmp = join(dir, `.${vmFileName(file.vm)}.json.${randomBytes(8).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, JSON.stringify(file, null, 2) + '\n', { mode: 0o644 });
    await fsyncPath(tmp);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncPath(dir);
}
