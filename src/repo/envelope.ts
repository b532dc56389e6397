/**
 * The envelope of config and manifests (docs/repository-format.md,
 * "Envelope"): the body as a JSON string plus a MAC over its exact bytes, so
 * a reader in any language checks it without canonicalising JSON.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface Envelope {
  format: string;
  version: 1;
  body: string;
  mac: string;
}

function macOf(format: string, body: string, macKey: Buffer | undefined): string {
  const data = `brankas/1 ${format}\n${body}`;
  return macKey
    ? `hmac-sha256:${createHmac('sha256', macKey).update(data, 'utf8').digest('hex')}`
    : `sha256:${createHash('sha256').update(data, 'utf8').digest('hex')}`;
}

export function seal(format: string, body: unknown, macKey: Buffer | undefined): Buffer {
  const text = JSON.stringify(body, null, 2);
  const env: Envelope = { format, version: 1, body: text, mac: macOf(format, text, macKey) };
  return Buffer.from(JSON.stringify(env, null, 2) + '\n');
}

export type OpenResult =
  | { ok: true; body: unknown }
  | { ok: false; reason: 'not-json' | 'wrong-format' | 'version' | 'mac' | 'body' };

/**
 * Checks and parses an envelope. With macKey the MAC must be an HMAC under it;
 * without, a plain SHA-256 (or, when `unverifiedHmac`, an HMAC that cannot be
 * checked for lack of the key: the caller must say so to whoever reads the result).
 */
export function unseal(
  bytes: Buffer,
  format: string,
  macKey: Buffer | undefined,
  unverifiedHmac = false,
): OpenResult {
  let env: Envelope;
  try {
    env = JSON.parse(bytes.toString('utf8')) as Envelope;
  } catch {
    return { ok: false, reason: 'not-json' };
  }
  if (typeof env !== 'object' || env === null || env.format !== format) {
    return { ok: false, reason: 'wrong-format' };
  }
  if (env.version !== 1) return { ok: false, reason: 'version' };
  if (typeof env.body !== 'string' || typeof env.mac !== 'string') {
    return { ok: false, reason: 'wrong-format' };
  }
  const skip = !macKey && unverifiedHmac && env.mac.startsWith('hmac-sha256:');
  if (!skip) {
    const want = Buffer.from(macOf(format, env.body, macKey));
    const got = Buffer.from(env.mac);
    if (want.length !== got.length || !timingSafeEqual(want, got)) {
      return { ok: false, reason: 'mac' };
    }
  }
  try {
    return { ok: true, body: JSON.parse(env.body) };
  } catch {
    return { ok: false, reason: 'body' };
  }
}
