/**
 * Writing a tar stream (the host reader's `get`, in the same dialect the
 * helper's busybox `tar c` and GNU tar write): 512-byte headers with GNU
 * magic, names and link targets of any length as GNU long-name members
 * ('L', 'K'), numbers too large for octal in base-256, names as raw bytes
 * (a filesystem's names need not be UTF-8).
 */

const BLOCK = 512;

export type TarType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo';

const FLAG: Record<TarType, string> = {
  file: '0',
  dir: '5',
  symlink: '2',
  char: '3',
  block: '4',
  fifo: '6',
};

export interface TarMember {
  /** The member's path; a directory's gets its trailing '/' here. */
  name: Buffer;
  type: TarType;
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of data that follow (files only). */
  size: number;
  /** Seconds since the epoch (clamped at 0). */
  mtime: number;
  linkname?: Buffer;
  devmajor?: number;
  devminor?: number;
}

/** The end of an archive: two zero blocks. */
export const TAR_END = Buffer.alloc(2 * BLOCK);

function putNumber(h: Buffer, off: number, len: number, value: number): void {
  const v = Math.max(0, Math.floor(value));
  const octal = v.toString(8);
  if (octal.length < len) {
    h.write(octal.padStart(len - 1, '0'), off, 'latin1');
    h[off + len - 1] = 0;
    return;
  }
  // GNU base-256: a leading 0x80, then the value big-endian.
  h.fill(0, off, off + len);
  h[off] = 0x80;
  let rest = v;
  for (let i = off + len - 1; i > off && rest > 0; i--) {
    h[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
}

function header(
  name: Buffer,
  flag: string,
  m: Omit<TarMember, 'name' | 'type'>,
  linkname?: Buffer,
): Buffer {
  const h = Buffer.alloc(BLOCK);
  name.copy(h, 0, 0, Math.min(100, name.length));
  putNumber(h, 100, 8, m.mode & 0o7777);
  putNumber(h, 108, 8, m.uid);
  putNumber(h, 116, 8, m.gid);
  putNumber(h, 124, 12, m.size);
  putNumber(h, 136, 12, m.mtime);
  h.write(flag, 156, 'latin1');
  linkname?.copy(h, 157, 0, Math.min(100, linkname.length));
  h.write('ustar  \0', 257, 'latin1');
  putNumber(h, 329, 8, m.devmajor ?? 0);
  putNumber(h, 337, 8, m.devminor ?? 0);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0'), 148, 'latin1');
  h[154] = 0;
  h[155] = 0x20;
  return h;
}

/** A GNU long-name ('L') or long-link ('K') member carrying `value`. */
function longMember(flag: 'L' | 'K', value: Buffer): Buffer {
  const data = Buffer.concat([value, Buffer.alloc(1)]);
  const h = header(Buffer.from('././@LongLink'), flag, {
    mode: 0,
    uid: 0,
    gid: 0,
    size: data.length,
    mtime: 0,
  });
  return Buffer.concat([h, data, padding(data.length)]);
}

/** The header blocks of a member (long names first, when needed). */
export function tarHeader(m: TarMember): Buffer {
  const parts: Buffer[] = [];
  if (m.name.length > 100) parts.push(longMember('L', m.name));
  if (m.linkname && m.linkname.length > 100) parts.push(longMember('K', m.linkname));
  parts.push(header(m.name, FLAG[m.type], m, m.linkname));
  return Buffer.concat(parts);
}

/** Zeros to the next block boundary after `size` bytes of data. */
export function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}
