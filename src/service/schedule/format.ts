/**
 * The schedule file's text (docs/schedule-format.md): parsed and validated line by line, so
 * every mistake names its line, and policies rendered back as text. Pure: no files, no clock.
 */
import { Cron } from 'croner';
import type { KeepPolicy } from '../../repo/index.js';
import { ScheduleError } from './errors.js';

export type ScheduleMode = 'auto' | 'live' | 'cold';
/** As `brankas backup --consistency`. */
export type ScheduleConsistency = 'auto' | 'application' | 'shutdown';

export interface Policy {
  id: string;
  /** VM names or patterns (`*`, `?`). */
  vms: string[];
  /** The cron expression. */
  when: string;
  mode: ScheduleMode;
  consistency: ScheduleConsistency;
  /** As `brankas backup --freeze-timeout`, in seconds; null: the engine's default. */
  freezeTimeoutSeconds: number | null;
  keep: KeepPolicy;
  restoreTestDays: number | null;
  timezone: string | null;
  /** Lines of the file: the header, and the last line of the policy (1-based). */
  line: number;
  endLine: number;
}

export const KEEP_KEYS = {
  'keep-last': 'last',
  'keep-hourly': 'hourly',
  'keep-daily': 'daily',
  'keep-weekly': 'weekly',
  'keep-monthly': 'monthly',
  'keep-yearly': 'yearly',
} as const satisfies Record<string, keyof KeepPolicy>;

export const KEYS = [
  'vms',
  'when',
  'mode',
  'consistency',
  'freeze-timeout-seconds',
  ...Object.keys(KEEP_KEYS),
  'restore-test-days',
  'timezone',
] as const;

const ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const PATTERN = /^[A-Za-z0-9_.+:*?-]{1,128}$/;
const HEADER = /^\[\s*policy\s+(\S*)\s*\]$/;
const KEY_VALUE = /^([A-Za-z0-9_-]+)\s*=\s*(.*)$/;

/** True when VM name `name` matches pattern `p` (`*` any run, `?` one character). */
export function matches(p: string, name: string): boolean {
  const re = p
    .replace(/[.+:-]/g, (c) => `\\${c}`)
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(name);
}

/** A croner job that never fires by itself: for next-run questions only. */
export function cronOf(p: Pick<Policy, 'when' | 'timezone'>): Cron {
  return new Cron(p.when, { paused: true, ...(p.timezone ? { timezone: p.timezone } : {}) });
}

interface Draft {
  id: string;
  line: number;
  endLine: number;
  values: Map<string, { value: string; line: number }>;
}

function wholeNumber(v: string, min: number, max: number): number | undefined {
  if (!/^\d{1,9}$/.test(v)) return undefined;
  const n = Number(v);
  return n >= min && n <= max ? n : undefined;
}

function validTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function finish(file: string, d: Draft): Policy {
  for (const key of ['vms', 'when'] as const) {
    if (!d.values.has(key)) {
      throw new ScheduleError(
        'SCHEDULE_MISSING_KEY',
        `${file}:${d.line}: policy '${d.id}' has no '${key}'`,
        { details: { file, line: d.line, id: d.id, key } },
      );
    }
  }
  const bad = (key: string, allowed: string): never => {
    const { value, line } = d.values.get(key)!;
    throw new ScheduleError(
      'SCHEDULE_BAD_VALUE',
      `${file}:${line}: '${key}' cannot be '${value}'; allowed: ${allowed}`,
      { details: { file, line, key, value, allowed } },
    );
  };
  const vmsEntry = d.values.get('vms')!;
  const vms = vmsEntry.value.split(/\s+/).filter((s) => s !== '');
  if (vms.length === 0) bad('vms', 'VM names or patterns separated by spaces');
  for (const pattern of vms) {
    if (!PATTERN.test(pattern)) {
      throw new ScheduleError(
        'SCHEDULE_BAD_PATTERN',
        `${file}:${vmsEntry.line}: '${pattern}' is not a VM name or pattern (letters, digits, _.+:- and the wildcards * and ?)`,
        { details: { file, line: vmsEntry.line, pattern } },
      );
    }
  }
  const tz = d.values.get('timezone')?.value ?? null;
  if (tz !== null && !validTimezone(tz)) bad('timezone', 'an IANA time zone name such as UTC');
  const when = d.values.get('when')!;
  const fields = when.value.split(/\s+/).length;
  let reason: string | undefined;
  if (when.value.startsWith('@') ? fields !== 1 : fields !== 5) {
    reason = `it has ${fields} field(s)`;
  } else {
    try {
      cronOf({ when: when.value, timezone: tz });
    } catch (err) {
      reason = (err as Error).message;
    }
  }
  if (reason !== undefined) {
    throw new ScheduleError(
      'SCHEDULE_BAD_CRON',
      `${file}:${when.line}: '${when.value}' is not a cron expression of five fields: ${reason}`,
      { details: { file, line: when.line, value: when.value, reason } },
    );
  }
  const mode = d.values.get('mode')?.value ?? 'auto';
  if (mode !== 'auto' && mode !== 'live' && mode !== 'cold') bad('mode', 'auto, live, cold');
  const consistency = d.values.get('consistency')?.value ?? 'auto';
  if (consistency !== 'auto' && consistency !== 'application' && consistency !== 'shutdown') {
    bad('consistency', 'auto, application, shutdown');
  }
  // A cold backup is shut down already: as `brankas backup`, the pair is refused.
  if (consistency === 'shutdown' && mode === 'cold') bad('consistency', 'auto, application');
  const freeze = d.values.get('freeze-timeout-seconds');
  const freezeTimeoutSeconds =
    freeze === undefined
      ? null
      : (wholeNumber(freeze.value, 1, 600) ?? bad('freeze-timeout-seconds', '1 to 600'));
  const keep: KeepPolicy = {};
  for (const [key, rule] of Object.entries(KEEP_KEYS)) {
    const v = d.values.get(key);
    if (v === undefined) continue;
    keep[rule] = wholeNumber(v.value, 0, 100000) ?? bad(key, '0 to 100000');
  }
  const testDays = d.values.get('restore-test-days');
  const restoreTestDays =
    testDays === undefined
      ? null
      : (wholeNumber(testDays.value, 1, 3650) ?? bad('restore-test-days', '1 to 3650'));
  return {
    id: d.id,
    vms,
    when: when.value,
    mode: mode as ScheduleMode,
    consistency: consistency as ScheduleConsistency,
    freezeTimeoutSeconds,
    keep,
    restoreTestDays,
    timezone: tz,
    line: d.line,
    endLine: d.endLine,
  };
}

/** Parses and validates a schedule file's text; `file` names it in errors. */
export function parseSchedule(text: string, file: string): Policy[] {
  const lines = text.split(/\r?\n/);
  const drafts: Draft[] = [];
  let current: Draft | undefined;
  lines.forEach((raw, i) => {
    const line = i + 1;
    const s = raw.trim();
    if (s === '' || s.startsWith('#')) return;
    const header = HEADER.exec(s);
    if (header) {
      const id = header[1]!;
      if (!ID.test(id)) {
        throw new ScheduleError(
          'SCHEDULE_BAD_ID',
          `${file}:${line}: '${id}' is not a policy id: 1 to 64 of a-z 0-9 - _, starting with a letter or digit`,
          { details: { file, line, id } },
        );
      }
      const first = drafts.find((d) => d.id === id);
      if (first) {
        throw new ScheduleError(
          'SCHEDULE_DUPLICATE_POLICY',
          `${file}:${line}: policy '${id}' is defined already at line ${first.line}`,
          { details: { file, line, id, first: first.line } },
        );
      }
      current = { id, line, endLine: line, values: new Map() };
      drafts.push(current);
      return;
    }
    const kv = KEY_VALUE.exec(s);
    if (!kv) {
      throw new ScheduleError(
        'SCHEDULE_SYNTAX',
        `${file}:${line}: not a comment, a "[policy ID]" header or a "key = value" line`,
        { details: { file, line, text: s.slice(0, 200) } },
      );
    }
    const key = kv[1]!;
    const value = kv[2]!.trim();
    if (!current) {
      throw new ScheduleError(
        'SCHEDULE_OUTSIDE_POLICY',
        `${file}:${line}: '${key}' comes before any "[policy ID]" line`,
        { details: { file, line, key } },
      );
    }
    if (!(KEYS as readonly string[]).includes(key)) {
      throw new ScheduleError(
        'SCHEDULE_UNKNOWN_KEY',
        `${file}:${line}: unknown key '${key}'; the keys are: ${KEYS.join(', ')}`,
        { details: { file, line, key, known: KEYS.join(', ') } },
      );
    }
    const seen = current.values.get(key);
    if (seen) {
      throw new ScheduleError(
        'SCHEDULE_DUPLICATE_KEY',
        `${file}:${line}: '${key}' is set twice in policy '${current.id}' (first at line ${seen.line})`,
        { details: { file, line, key, id: current.id, first: seen.line } },
      );
    }
    current.values.set(key, { value, line });
    current.endLine = line;
  });
  return drafts.map((d) => finish(file, d));
}

/** A policy's fields as `key = value` text: what `schedule add` and the API append. */
export type PolicyFields = Partial<Record<(typeof KEYS)[number], string | number>>;

/**
 * The text of one policy from its id and fields. A value with a line break (or an id that is not
 * one) would make other lines than meant: refused here, the rest is checked by the parser.
 */
export function renderPolicy(id: string, fields: PolicyFields): string {
  const lines = [`[policy ${id}]`];
  for (const key of KEYS) {
    const v = fields[key];
    if (v === undefined) continue;
    const text = String(v);
    if (/[\r\n]/.test(text)) {
      throw new ScheduleError(
        'SCHEDULE_BAD_VALUE',
        `<new policy>:${lines.length + 1}: '${key}' cannot be '${text}'; allowed: one line`,
        {
          details: {
            file: '<new policy>',
            line: lines.length + 1,
            key,
            value: text,
            allowed: 'one line',
          },
        },
      );
    }
    lines.push(`${key} = ${text}`);
  }
  return lines.join('\n') + '\n';
}

/** A policy as JSON for the faces (the file's own words). */
export function policyJson(p: Policy): Record<string, unknown> {
  return {
    id: p.id,
    vms: p.vms,
    when: p.when,
    mode: p.mode,
    consistency: p.consistency,
    freezeTimeoutSeconds: p.freezeTimeoutSeconds,
    keep: p.keep,
    restoreTestDays: p.restoreTestDays,
    timezone: p.timezone,
  };
}
