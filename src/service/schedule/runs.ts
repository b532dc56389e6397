/**
 * What the scheduler remembers between starts, in the job history's database (`jobs.sqlite`,
 * docs/schedule-format.md "Times and missed runs"): per policy the last moment it considered
 * it (first seen, or its last run), so a run missed while the service was down runs once at
 * start; per policy and VM the last scheduled restore test.
 */
import Database from 'better-sqlite3';
import { openJobsDb } from '../job-history.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS schedule_runs (
  policy TEXT PRIMARY KEY,
  last_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS schedule_tests (
  policy TEXT NOT NULL,
  vm TEXT NOT NULL,
  at TEXT NOT NULL,
  PRIMARY KEY (policy, vm)
);
`;

export class ScheduleRuns {
  private constructor(private readonly db: Database.Database) {}

  /** Opens the tables in `jobs.sqlite` (beside the `jobs` table; it never touches that one). */
  static open(stateDir: string): ScheduleRuns {
    return openJobsDb(stateDir, SCHEMA, (db) => new ScheduleRuns(db));
  }

  lastRun(policy: string): Date | undefined {
    const row = this.db
      .prepare('SELECT last_at FROM schedule_runs WHERE policy = ?')
      .get(policy) as { last_at: string } | undefined;
    return row && new Date(row.last_at);
  }

  setLastRun(policy: string, at: Date): void {
    this.db
      .prepare('INSERT OR REPLACE INTO schedule_runs (policy, last_at) VALUES (?, ?)')
      .run(policy, at.toISOString());
  }

  lastTest(policy: string, vm: string): Date | undefined {
    const row = this.db
      .prepare('SELECT at FROM schedule_tests WHERE policy = ? AND vm = ?')
      .get(policy, vm) as { at: string } | undefined;
    return row && new Date(row.at);
  }

  setLastTest(policy: string, vm: string, at: Date): void {
    this.db
      .prepare('INSERT OR REPLACE INTO schedule_tests (policy, vm, at) VALUES (?, ?, ?)')
      .run(policy, vm, at.toISOString());
  }

  /** Forgets policies no longer in the file: one added again later starts afresh. */
  keepOnly(policies: readonly string[]): void {
    const keep = new Set(policies);
    for (const table of ['schedule_runs', 'schedule_tests']) {
      const rows = this.db.prepare(`SELECT DISTINCT policy FROM ${table}`).all() as {
        policy: string;
      }[];
      for (const r of rows) {
        if (!keep.has(r.policy))
          this.db.prepare(`DELETE FROM ${table} WHERE policy = ?`).run(r.policy);
      }
    }
  }

  close(): void {
    this.db.close();
  }
}
