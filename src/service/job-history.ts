/**
 * The job history of `brankas serve`: every job the queue took, its state and its outcome, in
 * an embedded SQLite database (`jobs.sqlite` in the state directory), so it outlives the
 * process. A service started after a kill finds the jobs that were queued or running then and
 * marks them "interrupted": nothing runs them any more. A job on the repository rather than a
 * VM (verify, prune, gc) has no VM: `vm` is null (the empty name in the table). Each job keeps
 * a bounded log (its changes of state and the notes it sent, the newest `logLimit`), so what a
 * finished job said can still be read. The history itself is bounded too (`prune`): an ended
 * job goes with its log once it is both older than some days and beyond the newest jobs of its
 * VM, so a VM backed up rarely keeps its last jobs however old they are.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ServiceError } from './errors.js';
import type { JobKind } from './lock.js';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';

export const FINAL_STATES: readonly JobState[] = [
  'succeeded',
  'failed',
  'cancelled',
  'interrupted',
];

export interface JobError {
  code: string;
  message: string;
  details: Record<string, unknown>;
}

/** Jobs on the repository as a whole: no VM, one at a time (the queue's repository key). */
export type RepoJobKind = 'repo-verify' | 'prune' | 'gc';

export const REPO_JOB_KINDS: readonly RepoJobKind[] = ['repo-verify', 'prune', 'gc'];

export interface JobRecord {
  id: string;
  /** The VM it works on; null for a job on the repository. */
  vm: string | null;
  kind: JobKind | RepoJobKind;
  state: JobState;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  /** The engine's result (JSON), when it succeeded. */
  result: unknown;
  error: JobError | null;
}

interface Row {
  id: string;
  vm: string;
  kind: string;
  state: string;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  result: string | null;
  error: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  vm TEXT NOT NULL,
  kind TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at TEXT NOT NULL,
  started_at TEXT,
  ended_at TEXT,
  result TEXT,
  error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_vm ON jobs (vm, created_at);
CREATE TABLE IF NOT EXISTS job_log (
  job TEXT NOT NULL,
  seq INTEGER NOT NULL,
  at TEXT NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (job, seq)
);
`;

/** Entries a job's log keeps (the newest), and the longest text of one entry's data. */
export const LOG_LIMIT = 200;
const LOG_DATA_CHARS = 4000;

/** One line of a job's log: a change of state (its new state) or a note the job sent. */
export interface JobLogEntry {
  at: string;
  type: 'state' | 'note';
  data: unknown;
}

/** How much history `prune` keeps: jobs of the last `days`, and the newest `perVm` of each VM. */
export interface HistoryKeep {
  days: number;
  /** Per VM, and for the jobs on the repository together. */
  perVm: number;
}

export const DEFAULT_HISTORY_KEEP: HistoryKeep = { days: 90, perVm: 100 };

/** JSON text of a value the engine returned (bigints as decimal strings). */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

function fromRow(r: Row): JobRecord {
  return {
    id: r.id,
    vm: r.vm === '' ? null : r.vm,
    kind: r.kind as JobKind | RepoJobKind,
    state: r.state as JobState,
    createdAt: r.created_at,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    result: r.result === null ? null : JSON.parse(r.result),
    error: r.error === null ? null : (JSON.parse(r.error) as JobError),
  };
}

export class JobHistory {
  private constructor(
    private readonly db: Database.Database,
    private readonly logLimit: number,
  ) {}

  /**
   * Opens (or makes) `jobs.sqlite` in the state directory; left-over live jobs become interrupted,
   * unless `shared` (a CLI command beside a running service, whose live jobs are not left over).
   */
  static open(
    stateDir: string,
    now = new Date(),
    o: { shared?: boolean; logLimit?: number } = {},
  ): JobHistory {
    return openJobsDb(stateDir, SCHEMA, (db) => {
      if (!o.shared)
        db.prepare(
          `UPDATE jobs SET state = 'interrupted', ended_at = ? WHERE state IN ('queued', 'running')`,
        ).run(now.toISOString());
      return new JobHistory(db, o.logLimit ?? LOG_LIMIT);
    });
  }

  /** Writes the job as it is now (insert or replace). */
  put(job: JobRecord): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO jobs (id, vm, kind, state, created_at, started_at, ended_at, result, error)
         VALUES (@id, @vm, @kind, @state, @createdAt, @startedAt, @endedAt, @result, @error)`,
      )
      .run({
        ...job,
        // The column predates jobs without a VM: NOT NULL, so the empty name (never a VM's).
        vm: job.vm ?? '',
        result: job.result === null || job.result === undefined ? null : jsonText(job.result),
        error: job.error === null ? null : jsonText(job.error),
      });
  }

  /** Adds a line to the job's log, dropping the oldest beyond the limit. */
  appendLog(id: string, type: JobLogEntry['type'], data: unknown, at = new Date()): void {
    let text = jsonText(data ?? null);
    if (text.length > LOG_DATA_CHARS) text = jsonText(`${text.slice(0, LOG_DATA_CHARS)}…`);
    this.db.transaction(() => {
      const { seq } = this.db
        .prepare('SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM job_log WHERE job = ?')
        .get(id) as { seq: number };
      this.db
        .prepare('INSERT INTO job_log (job, seq, at, type, data) VALUES (?, ?, ?, ?, ?)')
        .run(id, seq, at.toISOString(), type, text);
      this.db
        .prepare('DELETE FROM job_log WHERE job = ? AND seq <= ?')
        .run(id, seq - this.logLimit);
    })();
  }

  /** The job's log, oldest first (empty for a job that has none or is unknown). */
  log(id: string): JobLogEntry[] {
    const rows = this.db
      .prepare('SELECT at, type, data FROM job_log WHERE job = ? ORDER BY seq')
      .all(id) as { at: string; type: JobLogEntry['type']; data: string }[];
    return rows.map((r) => ({ at: r.at, type: r.type, data: JSON.parse(r.data) as unknown }));
  }

  get(id: string): JobRecord | undefined {
    const row = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as Row | undefined;
    return row && fromRow(row);
  }

  /** The newest jobs first, of one VM or all. */
  list(o: { vm?: string; limit?: number } = {}): JobRecord[] {
    const limit = o.limit ?? 100;
    const rows = (
      o.vm === undefined
        ? this.db.prepare('SELECT * FROM jobs ORDER BY created_at DESC, id DESC LIMIT ?').all(limit)
        : this.db
            .prepare('SELECT * FROM jobs WHERE vm = ? ORDER BY created_at DESC, id DESC LIMIT ?')
            .all(o.vm, limit)
    ) as Row[];
    return rows.map(fromRow);
  }

  /**
   * Deletes the ended jobs that are older than `keep.days` (by their end) and not among the
   * newest `keep.perVm` of their VM, with their logs (and any log whose job is gone). A job
   * still queued or running is never deleted. Returns how many jobs went.
   */
  prune(keep: HistoryKeep, now = new Date()): number {
    const cutoff = new Date(now.getTime() - keep.days * 86_400_000).toISOString();
    const ended = FINAL_STATES.map((s) => `'${s}'`).join(', ');
    return this.db.transaction(() => {
      const { changes } = this.db
        .prepare(
          `DELETE FROM jobs WHERE id IN (
             SELECT id FROM (
               SELECT id, state, COALESCE(ended_at, created_at) AS at,
                 ROW_NUMBER() OVER (PARTITION BY vm ORDER BY created_at DESC, id DESC) AS n
               FROM jobs)
             WHERE n > @perVm AND at < @cutoff AND state IN (${ended}))`,
        )
        .run({ perVm: keep.perVm, cutoff });
      this.db.prepare('DELETE FROM job_log WHERE job NOT IN (SELECT id FROM jobs)').run();
      return changes;
    })();
  }

  close(): void {
    this.db.close();
  }
}

/**
 * Opens (or makes) `jobs.sqlite` in the state directory with `schema` applied and hands it to
 * `use`; the service and a CLI command may write at once, so a write waits for the other's.
 * Any failure closes the database and is JOB_HISTORY_UNUSABLE naming the file.
 */
export function openJobsDb<T>(
  stateDir: string,
  schema: string,
  use: (db: Database.Database) => T,
): T {
  const path = join(stateDir, 'jobs.sqlite');
  let db: Database.Database | undefined;
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 10000');
    db.exec(schema);
    return use(db);
  } catch (err) {
    db?.close();
    const message = (err as Error).message;
    throw new ServiceError(
      'JOB_HISTORY_UNUSABLE',
      `cannot use the job history ${path}: ${message}`,
      {
        cause: err,
        details: { path },
      },
    );
  }
}
