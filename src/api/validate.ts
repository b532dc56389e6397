/**
 * Input checks of the API: every value a request brings is checked here before it reaches the
 * service or the engine, and a bad one is a 400 that says which and why.
 */
import { ApiError, badRequest } from './errors.js';

/** libvirt allows more, but a name the API takes must be safe in a path, a log and a URL. */
const VM_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+:-]{0,127}$/;

export function vmName(value: string | undefined): string {
  if (value === undefined || !VM_NAME.test(value)) {
    throw badRequest(
      `'${String(value).slice(0, 140)}' is not a VM name: letters, digits and _.+:- (not first), at most 128`,
    );
  }
  return value;
}

/** The JSON object of a request body (an empty body is `{}`), with only the fields named. */
export async function jsonObject(
  req: { text(): Promise<string> },
  allowed: readonly string[],
): Promise<Record<string, unknown>> {
  const text = await req.text();
  if (text.trim() === '') return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw badRequest('the request body is not JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('the request body must be a JSON object');
  }
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw badRequest(`unknown field(s): ${unknown.join(', ')}; allowed: ${allowed.join(', ')}`);
  }
  return body as Record<string, unknown>;
}

export function optionalBoolean(body: Record<string, unknown>, name: string): boolean {
  const v = body[name];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw badRequest(`'${name}' must be true or false`);
  return v;
}

export function optionalInteger(
  body: Record<string, unknown>,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  const v = body[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw badRequest(`'${name}' must be a whole number from ${min} to ${max}`);
  }
  return v;
}

/** A query parameter that must be a number in range, when given. */
export function queryInteger(
  v: string | undefined,
  name: string,
  min: number,
  max: number,
): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d{1,9}$/.test(v) || Number(v) < min || Number(v) > max) {
    throw badRequest(`'${name}' must be a whole number from ${min} to ${max}`);
  }
  return Number(v);
}

/** A snapshot's name as the API takes it (the engine checks it again when creating). */
const SNAPSHOT_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+:-]{0,127}$/;

export function snapshotName(value: string | undefined): string {
  if (value === undefined || !SNAPSHOT_NAME.test(value)) {
    throw badRequest(
      `'${String(value).slice(0, 140)}' is not a snapshot name: letters, digits and _.+:- (not first), at most 128`,
    );
  }
  return value;
}

/** A backup id: the repository's ids are letters, digits, '-' and '_'. */
const BACKUP_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

export function backupId(value: string | undefined): string {
  if (value === undefined || !BACKUP_ID.test(value)) {
    throw badRequest(`'${String(value).slice(0, 140)}' is not a backup id`);
  }
  return value;
}

export function optionalString(
  body: Record<string, unknown>,
  name: string,
  max: number,
): string | undefined {
  const v = body[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length > max) {
    throw badRequest(`'${name}' must be text of at most ${max} characters`);
  }
  return v;
}

/**
 * How a destructive call is meant, as the CLI's --dry-run and --yes: `plan` (show what would
 * happen, change nothing) or `do` (confirmed); neither is API_CONFIRM_REQUIRED.
 */
export function confirmation(body: Record<string, unknown>, action: string): 'plan' | 'do' {
  const dryRun = optionalBoolean(body, 'dryRun');
  const confirm = optionalBoolean(body, 'confirm');
  if (dryRun) return 'plan';
  if (confirm) return 'do';
  throw new ApiError(
    'API_CONFIRM_REQUIRED',
    `${action} changes or removes what cannot be brought back: send "confirm": true (or "dryRun": true to see the plan first)`,
    { details: { action } },
  );
}
