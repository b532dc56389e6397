/**
 * The file-restore helper's protocol, version 1 (docs/file-restore.md): the
 * request line the host sends on the virtio-serial port, the scanner that
 * finds where the guest's unframed payload ends (at the request's random
 * `end` token) and reads the status after it, and the parser of a listing.
 */
import { randomBytes } from 'node:crypto';
import { EngineError } from '../errors.js';

export const PROTOCOL_MAGIC = 'BRANKAS-FILES';
export const PROTOCOL_VERSION = 1;
/** The virtio-serial port's name in the helper. */
export const FILES_PORT = 'org.brankas.files.0';

export interface HelperRequest {
  op: 'ls' | 'get';
  /** The helper's device (vda, vda1...). */
  device: string;
  fs: string;
  /** Relative to the volume's root ('.' for the root itself). */
  paths: string[];
}

export interface Tokens {
  end: string;
  sep: string;
}

export function newTokens(): Tokens {
  return { end: randomBytes(16).toString('hex'), sep: randomBytes(16).toString('hex') };
}

export function requestLine(req: HelperRequest, t: Tokens): string {
  const hex = req.paths.map((p) => Buffer.from(p, 'utf8').toString('hex'));
  return `${PROTOCOL_MAGIC} ${PROTOCOL_VERSION} ${t.end} ${t.sep} ${req.op} ${req.device} ${req.fs} ${hex.join(' ')}\n`;
}

/** A reply's status: OK, or the guest's error code with its (decoded) argument. */
export type HelperStatus = { ok: true } | { ok: false; code: string; arg: string };

const MAX_STATUS = 4096;

export function parseStatus(line: string): HelperStatus {
  if (line === 'OK') return { ok: true };
  const m = /^ERR ([A-Z_]+)(?: ([0-9a-f]*))?$/.exec(line);
  if (!m) return { ok: false, code: 'PROTOCOL', arg: line.slice(0, 200) };
  return { ok: false, code: m[1]!, arg: Buffer.from(m[2] ?? '', 'hex').toString('utf8') };
}

/**
 * Splits the guest's byte stream into the payload (handed on as it comes, less a tail that
 * might be the start of the end token) and the status line after the token.
 */
export class ReplyScanner {
  private readonly end: Buffer;
  private held = Buffer.alloc(0);
  private statusBytes: Buffer | undefined;
  private line: string | undefined;

  constructor(endToken: string) {
    this.end = Buffer.from(endToken, 'latin1');
  }

  /** The status line, once it has come whole. */
  get status(): string | undefined {
    return this.line;
  }

  /** Feeds bytes; returns the payload bytes now known to be payload. */
  push(chunk: Buffer): Buffer {
    if (this.line !== undefined) return Buffer.alloc(0);
    if (this.statusBytes !== undefined) {
      this.takeStatus(Buffer.concat([this.statusBytes, chunk]));
      return Buffer.alloc(0);
    }
    const data = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    const i = data.indexOf(this.end);
    if (i >= 0) {
      this.held = Buffer.alloc(0);
      this.takeStatus(data.subarray(i + this.end.length));
      return data.subarray(0, i);
    }
    const keep = Math.min(this.end.length - 1, data.length);
    this.held = Buffer.from(data.subarray(data.length - keep));
    return data.subarray(0, data.length - keep);
  }

  private takeStatus(bytes: Buffer): void {
    const nl = bytes.indexOf(0x0a);
    if (nl >= 0) {
      this.line = bytes.subarray(0, nl).toString('utf8');
      this.statusBytes = undefined;
    } else if (bytes.length > MAX_STATUS) {
      throw new EngineError('FILES_HELPER_FAILED', 'the helper sent a status line without end', {
        details: { reason: 'a status line without end', console: '' },
      });
    } else {
      this.statusBytes = Buffer.from(bytes);
    }
  }
}

export type EntryType = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block';

export interface FileEntry {
  name: string;
  type: EntryType;
  /** Permission bits with setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Modification time, ISO 8601 (second resolution). */
  mtime: string;
  /** A symlink's target. */
  target?: string;
}

const TYPES: Record<number, EntryType> = {
  0o100000: 'file',
  0o040000: 'dir',
  0o120000: 'symlink',
  0o010000: 'fifo',
  0o140000: 'socket',
  0o020000: 'char',
  0o060000: 'block',
};

/**
 * Parses an `ls` payload: records start with the `sep` token (`E` entries from
 * `stat -c '%f %u %g %s %Y %n'`, `L` targets of the entry before), each ending with the
 * newline stat or readlink printed. Names may hold anything but NUL, newlines included.
 */
export function parseListing(payload: Buffer, sep: string): FileEntry[] {
  const text = payload.toString('utf8');
  const out: FileEntry[] = [];
  const records = text.split(sep);
  if (records[0] !== '') throw malformed('text before the first record');
  for (const raw of records.slice(1)) {
    if (!raw.endsWith('\n')) throw malformed('a record without its newline');
    const rec = raw.slice(0, -1);
    if (rec.startsWith('L ')) {
      const last = out[out.length - 1];
      if (!last || last.type !== 'symlink') throw malformed('a link target without its link');
      last.target = rec.slice(2);
      continue;
    }
    const m = /^E ([0-9a-f]+) (\d+) (\d+) (\d+) (\d+) ([\s\S]*)$/.exec(rec);
    if (!m) throw malformed(`a record that is not an entry: ${JSON.stringify(rec.slice(0, 80))}`);
    const raw16 = parseInt(m[1]!, 16);
    out.push({
      name: m[6]!,
      type: TYPES[raw16 & 0o170000] ?? 'file',
      mode: raw16 & 0o7777,
      uid: Number(m[2]),
      gid: Number(m[3]),
      size: Number(m[4]),
      mtime: new Date(Number(m[5]) * 1000).toISOString(),
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function malformed(what: string): EngineError<'FILES_HELPER_FAILED'> {
  return new EngineError('FILES_HELPER_FAILED', `malformed listing: ${what}`, {
    details: { reason: `a malformed listing (${what})`, console: '' },
  });
}
