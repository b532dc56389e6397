/**
 * Who may call the API: whoever holds the token (made at the first start, kept in a 0600 file
 * in the state directory) and sends it as `Authorization: Bearer TOKEN`. A header, not a
 * cookie: a browser never sends it on its own, so no cross-site request can forge a call. The
 * Host header must be one the server answers to (loopback names by default), so a page on a
 * rebound DNS name cannot reach a loopback server through the user's browser.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MiddlewareHandler } from 'hono';
import { ApiError } from './errors.js';

export const TOKEN_FILE = 'api-token';

/** The token in `stateDir/api-token`, made (0600, 256 random bits) when there is none. */
export async function loadOrCreateToken(stateDir: string): Promise<string> {
  const path = join(stateDir, TOKEN_FILE);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  try {
    // 'wx': never overwrite a token another start made meanwhile.
    const fh = await open(path, 'wx', 0o600);
    try {
      const token = randomBytes(32).toString('base64url');
      await fh.writeFile(token + '\n');
      return token;
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return (await readFile(path, 'utf8')).trim();
}

/** Compares digests, so neither the time taken nor a length difference tells anything. */
function sameToken(given: string, token: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

export function bearerAuth(token: string): MiddlewareHandler {
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const m = /^Bearer ([\x21-\x7e]+)$/.exec(header);
    if (!m || !sameToken(m[1]!, token)) {
      throw new ApiError(
        'API_UNAUTHORIZED',
        'a valid token is required: send the header "Authorization: Bearer TOKEN" (brankas serve --print-token prints it)',
      );
    }
    await next();
  };
}

export const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '[::1]'];

/** The Host header's name (without port), lower case. */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

export function hostCheck(allowed: readonly string[]): MiddlewareHandler {
  const names = new Set(allowed.map((a) => a.toLowerCase()));
  return async (c, next) => {
    const host = c.req.header('host') ?? '';
    if (!names.has(hostName(host))) {
      throw new ApiError('API_HOST_REFUSED', `this server does not answer to the Host '${host}'`, {
        details: { host },
      });
    }
    await next();
  };
}
