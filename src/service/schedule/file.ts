/**
 * The schedule file on disk (`$BRANKAS_STATE_DIR/schedules.conf`, docs/schedule-format.md):
 * read and validated; changed by adding a policy's text at the end or cutting a policy's lines
 * out, so the user's comments and layout elsewhere stay as written. Every write validates the
 * whole new text first and replaces the file atomically (temporary file, fsync, rename). A change
 * reads, edits and writes holding `schedules.conf.lock` (the VM lock's procedure, so a killed
 * holder never blocks the next), so the CLI and the API changing it at once lose no edit.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { withFileLock } from '../lock.js';
import { ScheduleError } from './errors.js';
import { parseSchedule, renderPolicy, type Policy, type PolicyFields } from './format.js';

export const SCHEDULE_FILE = 'schedules.conf';

const ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;

function unusable(path: string, err: unknown): ScheduleError {
  const message = (err as Error).message;
  return new ScheduleError(
    'SCHEDULE_FILE_UNUSABLE',
    `cannot use the schedule file ${path}: ${message}`,
    {
      cause: err,
      details: { path, message },
    },
  );
}

export class ScheduleFile {
  readonly path: string;
  /** Changes through this object, one at a time (two API calls at once must not lose one). */
  private changing: Promise<unknown> = Promise.resolve();

  constructor(stateDir: string) {
    this.path = join(stateDir, SCHEDULE_FILE);
  }

  /** The file's text ('' when there is none). */
  async text(): Promise<string> {
    try {
      return await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw unusable(this.path, err);
    }
  }

  /** The policies, validated (an error names the line). */
  async read(): Promise<Policy[]> {
    return parseSchedule(await this.text(), this.path);
  }

  async get(id: string): Promise<Policy> {
    const p = (await this.read()).find((x) => x.id === id);
    if (!p) throw notFound(id);
    return p;
  }

  /** Adds a policy at the end; its text is checked alone first, so its errors name its own lines. */
  add(id: string, fields: PolicyFields): Promise<Policy> {
    return this.serially(() => this.addNow(id, fields));
  }

  /** Removes a policy's lines (header to its last key); the rest stays as written. */
  remove(id: string): Promise<Policy> {
    return this.serially(() => this.removeNow(id));
  }

  /** One change at a time: in this process by a chain, against other processes by the lock file. */
  private serially<T>(fn: () => Promise<T>): Promise<T> {
    const locked = async (): Promise<T> => {
      try {
        await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
        return await withFileLock(`${this.path}.lock`, SCHEDULE_FILE, fn);
      } catch (err) {
        throw err instanceof ScheduleError ? err : unusable(this.path, err);
      }
    };
    const next = this.changing.then(locked, locked);
    this.changing = next.catch(() => undefined);
    return next;
  }

  private async addNow(id: string, fields: PolicyFields): Promise<Policy> {
    if (!ID.test(id)) {
      throw new ScheduleError(
        'SCHEDULE_BAD_ID',
        `<new policy>:1: '${id}' is not a policy id: 1 to 64 of a-z 0-9 - _, starting with a letter or digit`,
        { details: { file: '<new policy>', line: 1, id: id.slice(0, 80) } },
      );
    }
    const section = renderPolicy(id, fields);
    parseSchedule(section, '<new policy>');
    const text = await this.text();
    const existing = parseSchedule(text, this.path);
    if (existing.some((p) => p.id === id)) {
      throw new ScheduleError(
        'SCHEDULE_EXISTS',
        `a schedule policy '${id}' exists already; remove it first`,
        {
          details: { id },
        },
      );
    }
    const sep = text === '' ? '' : text.endsWith('\n\n') ? '' : text.endsWith('\n') ? '\n' : '\n\n';
    const next = text + sep + section;
    const added = parseSchedule(next, this.path).find((p) => p.id === id)!;
    await this.write(next);
    return added;
  }

  private async removeNow(id: string): Promise<Policy> {
    const text = await this.text();
    const policy = parseSchedule(text, this.path).find((p) => p.id === id);
    if (!policy) throw notFound(id);
    const lines = text.split('\n');
    lines.splice(policy.line - 1, policy.endLine - policy.line + 1);
    // The blank line that separated it from the next goes with it.
    if (lines[policy.line - 1]?.trim() === '') lines.splice(policy.line - 1, 1);
    const next = lines.join('\n');
    parseSchedule(next, this.path);
    await this.write(next);
    return policy;
  }

  private async write(text: string): Promise<void> {
    const dir = dirname(this.path);
    const tmp = join(dir, `.${basename(this.path)}.${randomBytes(8).toString('hex')}.tmp`);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw unusable(this.path, err);
    }
  }
}

export function notFound(id: string): ScheduleError {
  return new ScheduleError('SCHEDULE_NOT_FOUND', `no schedule policy '${id}'`, { details: { id } });
}
