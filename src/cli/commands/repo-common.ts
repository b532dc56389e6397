/**
 * What every `brankas repo` command shares: where the repository is
 * (--repo, $BRANKAS_REPO, or the default), and the password, which comes from
 * $BRANKAS_PASSWORD_FILE, $BRANKAS_PASSWORD_COMMAND or a prompt on the
 * terminal, never from the command line (it would show in `ps` and shell
 * history); the auth key of an unencrypted repository kept outside it comes
 * from $BRANKAS_AUTH_KEY_FILE.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { LocalBackend } from '../../repo/backend/local.js';
import { S3Backend, type S3BackendOptions } from '../../repo/backend/s3.js';
import { isS3Location } from '../../repo/backend/s3-location.js';
import type { Backend } from '../../repo/backend/types.js';
import { RepoKeyError } from '../../repo/errors.js';
import { Repository, type PeekedObjects } from '../../repo/repository.js';
import type { RepoWarning } from '../../repo/warnings.js';
import { systemCode } from '../../util/file-errors.js';
import type { ParsedArgs } from '../command.js';
import type { CliContext } from '../context.js';

import { repoLocation } from './repo-location.js';

export { DEFAULT_REPO, repoLocation, repoOption } from './repo-location.js';

/**
 * The backend of a location: `s3:http[s]://HOST[:PORT]/BUCKET[/PREFIX]` is an S3 bucket (the
 * AWS SDK, loaded on its first request, takes the credentials from the AWS_* variables or
 * profiles), anything else a directory.
 */
export function backendFor(ctx: CliContext, location: string): Backend {
  return isS3Location(location)
    ? new S3Backend(location, s3Options(ctx.io.env))
    : new LocalBackend(location);
}

/**
 * The S3 settings of the environment: keys in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
 * (and AWS_SESSION_TOKEN), else the SDK's own chain with AWS_PROFILE's profile (shared
 * config files, SSO, instance roles); the region of AWS_REGION or AWS_DEFAULT_REGION.
 */
function s3Options(env: NodeJS.ProcessEnv): S3BackendOptions {
  const id = env['AWS_ACCESS_KEY_ID'];
  const secret = env['AWS_SECRET_ACCESS_KEY'];
  const token = env['AWS_SESSION_TOKEN'];
  const region = env['AWS_REGION'] || env['AWS_DEFAULT_REGION'];
  const profile = env['AWS_PROFILE'];
  return {
    ...(id && secret
      ? {
          credentials: {
            accessKeyId: id,
            secretAccessKey: secret,
            ...(token ? { sessionToken: token } : {}),
          },
        }
      : {}),
    ...(region ? { region } : {}),
    ...(profile ? { profile } : {}),
  };
}

function stripNewline(s: string): string {
  return s.replace(/\r?\n$/, '');
}

/** How long a password command may take (BRANKAS_PASSWORD_TIMEOUT, seconds; default 60). */
function commandTimeoutMs(ctx: CliContext): number {
  const text = ctx.io.env['BRANKAS_PASSWORD_TIMEOUT'];
  const seconds = text !== undefined && /^\d{1,6}$/.test(text) ? Number(text) : 60;
  return Math.max(1, seconds) * 1000;
}

/**
 * Runs the password command in a process group of its own, so a timeout stops the shell and
 * whatever it started. Errors never repeat the command's text: it may hold a secret.
 */
function runCommand(ctx: CliContext, variable: string, cmd: string): Promise<string> {
  const timeoutMs = commandTimeoutMs(ctx);
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', cmd], {
      // stderr is the user's: a password manager may ask or explain there.
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: true,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    let timedOut = false;
    const stop = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      size += b.length;
      if (size <= 1 << 20) chunks.push(b);
      else stop();
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(failed(variable, err.message));
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(
          new RepoKeyError(
            'REPO_PASSWORD_COMMAND_TIMEOUT',
            `${variable} did not finish within ${timeoutMs / 1000} s; it was stopped`,
            { details: { variable, seconds: timeoutMs / 1000 } },
          ),
        );
      } else if (status !== 0) {
        reject(failed(variable, signal ? `stopped by ${signal}` : `exit status ${status}`));
      } else {
        resolve(stripNewline(Buffer.concat(chunks).toString('utf8')));
      }
    });
  });
}

function failed(variable: string, reason: string): RepoKeyError {
  return new RepoKeyError(
    'REPO_PASSWORD_COMMAND_FAILED',
    `the password command (${variable}) failed: ${reason}`,
    { details: { variable, reason } },
  );
}

/** The password file's contents; a file that cannot be read is one clear error. */
export async function readPasswordFile(variable: string, path: string): Promise<string> {
  try {
    return stripNewline(await readFile(path, 'utf8'));
  } catch (err) {
    const errno = systemCode(err) ?? 'EIO';
    throw new RepoKeyError(
      'REPO_PASSWORD_FILE',
      `${variable} names ${path}, which cannot be read (${errno})`,
      { cause: err, details: { variable, path, errno } },
    );
  }
}

/** Asks on the terminal without echo. */
function prompt(ctx: CliContext, question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: ctx.io.stdin, output: ctx.io.stderr, terminal: true });
    ctx.io.stderr.write(question);
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => {};
    rl.question('', (answer) => {
      rl.close();
      ctx.io.stderr.write('\n');
      resolve(answer);
    });
  });
}

function interactive(ctx: CliContext): boolean {
  return ctx.io.stdin.isTTY === true && ctx.io.stderr.isTTY === true;
}

/** The password that opens the repository. */
export async function readPassword(
  ctx: CliContext,
  prefix = 'BRANKAS',
  question: string = ctx.t('repo.passwordPrompt'),
): Promise<string> {
  const file = ctx.io.env[`${prefix}_PASSWORD_FILE`];
  if (file) return readPasswordFile(`${prefix}_PASSWORD_FILE`, file);
  const cmd = ctx.io.env[`${prefix}_PASSWORD_COMMAND`];
  if (cmd) return runCommand(ctx, `${prefix}_PASSWORD_COMMAND`, cmd);
  if (interactive(ctx)) return prompt(ctx, question);
  throw new RepoKeyError(
    'REPO_PASSWORD_REQUIRED',
    `no password: set ${prefix}_PASSWORD_FILE or ${prefix}_PASSWORD_COMMAND, or run on a terminal`,
  );
}

/**
 * A new password: from BRANKAS_NEW_PASSWORD_FILE/_COMMAND (or, for init, the
 * usual variables), else asked twice on the terminal.
 */
export async function readNewPassword(ctx: CliContext, forInit: boolean): Promise<string> {
  const env = ctx.io.env;
  for (const prefix of forInit ? ['BRANKAS_NEW', 'BRANKAS'] : ['BRANKAS_NEW']) {
    if (env[`${prefix}_PASSWORD_FILE`] || env[`${prefix}_PASSWORD_COMMAND`]) {
      return readPassword(ctx, prefix);
    }
  }
  if (!interactive(ctx)) {
    throw new RepoKeyError(
      'REPO_PASSWORD_REQUIRED',
      'no new password: set BRANKAS_NEW_PASSWORD_FILE or BRANKAS_NEW_PASSWORD_COMMAND, or run on a terminal',
    );
  }
  const a = await prompt(ctx, ctx.t('repo.newPasswordPrompt'));
  const b = await prompt(ctx, ctx.t('repo.repeatPasswordPrompt'));
  if (a !== b) throw new RepoKeyError('REPO_PASSWORD_REQUIRED', 'the two passwords differ');
  return a;
}

function passwordAvailable(ctx: CliContext): boolean {
  const env = ctx.io.env;
  return !!(env['BRANKAS_PASSWORD_FILE'] || env['BRANKAS_PASSWORD_COMMAND'] || interactive(ctx));
}

/** The keep rules' options, shared by `repo prune` and `schedule add`. */
export const keepOptions = {
  'keep-last': { type: 'string' },
  'keep-hourly': { type: 'string' },
  'keep-daily': { type: 'string' },
  'keep-weekly': { type: 'string' },
  'keep-monthly': { type: 'string' },
  'keep-yearly': { type: 'string' },
} as const;

/**
 * Opens the repository. An encrypted one needs the password, except for
 * `needKeys = false` (listing), which uses it when one is at hand.
 */
export async function openRepo(
  ctx: CliContext,
  args: ParsedArgs,
  needKeys = true,
): Promise<Repository> {
  const location = repoLocation(ctx, args);
  // One backend for the look and the opening: what the look read is not read again.
  const backend = backendFor(ctx, location);
  try {
    const { config, keys, read } = await Repository.peek(backend);
    const encrypted = config.encryption !== 'none' || keys.length > 0;
    const ask = encrypted && (needKeys || passwordAvailable(ctx));
    const password = ask ? await readPassword(ctx) : undefined;
    return await openWith(ctx, backend, password, read);
  } catch (err) {
    await backend.close();
    throw err;
  }
}

/** Opens the repository at `location` with a password already read (or none). */
export async function openRepoAt(
  ctx: CliContext,
  location: string,
  password: string | undefined,
): Promise<Repository> {
  // The repository closes its backend; until it exists, that is ours to do.
  const backend = backendFor(ctx, location);
  try {
    return await openWith(ctx, backend, password);
  } catch (err) {
    await backend.close();
    throw err;
  }
}

function openWith(
  ctx: CliContext,
  backend: Backend,
  password: string | undefined,
  peeked?: PeekedObjects,
): Promise<Repository> {
  return Repository.open(backend, {
    password,
    authKeyFile: ctx.io.env['BRANKAS_AUTH_KEY_FILE'] || undefined,
    onWarning: (w) => warn(ctx, w),
    ...(peeked ? { peeked } : {}),
  });
}

/** A warning of the repository, on stderr in the user's language (JSON output stays clean). */
export function warn(ctx: CliContext, w: RepoWarning): void {
  ctx.note(ctx.t(`warn.${w.code}`, w.details));
}

/** Runs fn with a backend of its own (no repository opened) and closes it whatever happens. */
export async function withBackend<T>(
  ctx: CliContext,
  location: string,
  fn: (backend: Backend) => Promise<T>,
): Promise<T> {
  const backend = backendFor(ctx, location);
  try {
    return await fn(backend);
  } finally {
    await backend.close();
  }
}

/** Runs fn with an open repository and closes it whatever happens. */
export async function withRepo<T>(
  ctx: CliContext,
  args: ParsedArgs,
  fn: (repo: Repository) => Promise<T>,
  needKeys = true,
): Promise<T> {
  const repo = await openRepo(ctx, args, needKeys);
  try {
    return await fn(repo);
  } finally {
    await repo.close();
  }
}

export function ratio(x: number): string {
  return x > 0 ? `${x.toFixed(2)}x` : '-';
}
