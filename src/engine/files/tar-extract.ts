/**
 * A streaming tar reader that extracts into a directory safely: the helper's
 * archive comes from a filesystem brankas does not trust (a guest's), so no
 * member may land outside the destination: names are sanitised, `..` is
 * refused, and no member is written through a symbolic link, whether it was
 * there before or came earlier in the archive. File data goes to disk as it
 * arrives. ustar, GNU long names ('L', 'K') and pax 'path'/'linkpath' are read;
 * devices and FIFOs are skipped (counted).
 */
import {
  chmod,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  open,
  rm,
  symlink,
  utimes,
} from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { EngineError } from '../errors.js';

const BLOCK = 512;

export interface ExtractOptions {
  /** Give entries their archive's owners (only root may). */
  owners: boolean;
}

export interface ExtractSummary {
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  skipped: number;
  bytes: number;
}

interface Header {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  type: string;
  linkname: string;
}

function str(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return (z >= 0 ? s.subarray(0, z) : s).toString('utf8');
}

function num(b: Buffer, off: number, len: number): number {
  const f = b.subarray(off, off + len);
  if (f[0]! & 0x80) {
    // GNU base-256, for values octal cannot hold (files of 8 GiB and more).
    let v = 0;
    for (let i = 1; i < f.length; i++) v = v * 256 + f[i]!;
    return v;
  }
  const s = str(b, off, len).trim();
  return s === '' ? 0 : parseInt(s, 8);
}

function unsafe(name: string, reason: string): EngineError<'FILES_UNSAFE_ENTRY'> {
  return new EngineError('FILES_UNSAFE_ENTRY', `unsafe tar entry '${name}': ${reason}`, {
    details: { name, reason },
  });
}

/** The member's path components, or [] for the archive's root ('.', './'). */
export function memberParts(name: string): string[] {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw unsafe(name, "it has a '..' component");
  if (name.includes('\0')) throw unsafe(name, 'it holds a NUL');
  return parts;
}

export class TarExtractor {
  private buf = Buffer.alloc(0);
  private header: Header | undefined;
  private remaining = 0;
  private padding = 0;
  private out: FileHandle | undefined;
  private ended = false;
  private longName: string | undefined;
  private longLink: string | undefined;
  private readonly dirTimes: {
    path: string;
    mode: number;
    mtime: number;
    uid: number;
    gid: number;
  }[] = [];
  readonly summary: ExtractSummary = {
    files: 0,
    dirs: 0,
    symlinks: 0,
    hardlinks: 0,
    skipped: 0,
    bytes: 0,
  };

  constructor(
    private readonly root: string,
    private readonly o: ExtractOptions,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    let data = this.buf.length > 0 ? Buffer.concat([this.buf, chunk]) : chunk;
    this.buf = Buffer.alloc(0);
    while (data.length > 0 && !this.ended) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, data.length);
        await this.body(data.subarray(0, n));
        this.remaining -= n;
        data = data.subarray(n);
        if (this.remaining === 0) await this.endEntry();
        continue;
      }
      if (this.padding > 0) {
        const n = Math.min(this.padding, data.length);
        this.padding -= n;
        data = data.subarray(n);
        continue;
      }
      if (data.length < BLOCK) break;
      const block = data.subarray(0, BLOCK);
      data = data.subarray(BLOCK);
      await this.onHeader(block);
    }
    if (!this.ended && data.length > 0) this.buf = Buffer.from(data);
  }

  /** Checks the archive ended whole, then sets the directories' modes and times. */
  async finish(): Promise<ExtractSummary> {
    await this.out?.close();
    this.out = undefined;
    if (!this.ended || this.remaining > 0) {
      throw new EngineError('FILES_HELPER_FAILED', 'the archive ended early', {
        details: { reason: 'its archive ended early', console: '' },
      });
    }
    for (const d of this.dirTimes.reverse()) {
      if (this.o.owners) await lchown(d.path, d.uid, d.gid).catch(() => undefined);
      await chmod(d.path, d.mode);
      await utimes(d.path, d.mtime, d.mtime);
    }
    return this.summary;
  }

  /** Closes an open file after a failure; what was extracted stays. */
  async abort(): Promise<void> {
    await this.out?.close().catch(() => undefined);
    this.out = undefined;
  }

  private async onHeader(block: Buffer): Promise<void> {
    if (block.every((b) => b === 0)) {
      this.ended = true;
      return;
    }
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i]!;
    if (sum !== num(block, 148, 8)) {
      throw new EngineError('FILES_HELPER_FAILED', 'a tar header with a bad checksum', {
        details: { reason: 'a tar header with a bad checksum', console: '' },
      });
    }
    let name = str(block, 0, 100);
    const magic = block.subarray(257, 263).toString('latin1');
    const prefix = str(block, 345, 155);
    if (magic === 'ustar\0' && prefix !== '') name = `${prefix}/${name}`;
    const h: Header = {
      name,
      mode: num(block, 100, 8),
      uid: num(block, 108, 8),
      gid: num(block, 116, 8),
      size: num(block, 124, 12),
      mtime: num(block, 136, 12),
      type: String.fromCharCode(block[156]!),
      linkname: str(block, 157, 100),
    };
    this.header = h;
    this.remaining = h.size;
    this.padding = (BLOCK - (h.size % BLOCK)) % BLOCK;
    if (h.type === 'L' || h.type === 'K' || h.type === 'x' || h.type === 'g') {
      this.meta = [];
      if (h.size === 0) await this.endEntry();
      return;
    }
    if (this.longName !== undefined) h.name = this.longName;
    if (this.longLink !== undefined) h.linkname = this.longLink;
    this.longName = undefined;
    this.longLink = undefined;
    await this.startEntry(h);
    if (h.size === 0 || !this.isFile(h)) {
      // Only regular files carry data we write; any other data is skipped.
      if (h.size === 0) await this.endEntry();
    }
  }

  private meta: Buffer[] = [];

  private isFile(h: Header): boolean {
    return h.type === '0' || h.type === '\0' || h.type === '7';
  }

  private async body(data: Buffer): Promise<void> {
    const h = this.header!;
    if (h.type === 'L' || h.type === 'K' || h.type === 'x' || h.type === 'g') {
      this.meta.push(Buffer.from(data));
    } else if (this.out) {
      await this.out.write(data);
      this.summary.bytes += data.length;
    }
  }

  private async endEntry(): Promise<void> {
    const h = this.header!;
    if (h.type === 'L' || h.type === 'K') {
      const v = str(Buffer.concat(this.meta), 0, h.size);
      if (h.type === 'L') this.longName = v;
      else this.longLink = v;
    } else if (h.type === 'x') {
      this.pax(Buffer.concat(this.meta).toString('utf8'));
    } else if (this.out) {
      await this.out.close();
      this.out = undefined;
      const p = this.pathOf(h.name);
      // Owners before the mode: a chown clears setuid and setgid.
      if (this.o.owners) await lchown(p, h.uid, h.gid).catch(() => undefined);
      await chmod(p, h.mode & 0o7777);
      await utimes(p, h.mtime, h.mtime);
    }
    this.meta = [];
  }

  private pax(text: string): void {
    // Records "LEN key=value\n".
    let rest = text;
    while (rest.length > 0) {
      const sp = rest.indexOf(' ');
      const len = Number(rest.slice(0, sp));
      if (!(sp > 0 && len > sp)) break;
      const rec = Buffer.from(rest).subarray(0, len).toString('utf8');
      const eq = rec.indexOf('=');
      const key = rec.slice(sp + 1, eq);
      const value = rec.slice(eq + 1, -1);
      if (key === 'path') this.longName = value;
      if (key === 'linkpath') this.longLink = value;
      rest = Buffer.from(rest).subarray(len).toString('utf8');
    }
  }

  private pathOf(name: string): string {
    return join(this.root, ...memberParts(name));
  }

  /** Makes the member's parent directories, refusing to pass through a symlink. */
  private async parents(name: string, parts: string[]): Promise<void> {
    let p = this.root;
    for (const part of parts.slice(0, -1)) {
      p = join(p, part);
      const st = await lstat(p).catch(() => undefined);
      if (!st) await mkdir(p, { mode: 0o755 });
      else if (st.isSymbolicLink()) throw unsafe(name, `its parent ${part} is a symbolic link`);
      else if (!st.isDirectory()) throw unsafe(name, `its parent ${part} is not a directory`);
    }
  }

  /** Removes what is at `p` unless it is a directory that may stay. */
  private async clear(p: string, keepDir: boolean): Promise<void> {
    const st = await lstat(p).catch(() => undefined);
    if (!st) return;
    if (st.isDirectory() && keepDir) return;
    await rm(p, { recursive: st.isDirectory(), force: true });
  }

  private async startEntry(h: Header): Promise<void> {
    const parts = memberParts(h.name);
    if (parts.length === 0) return; // the archive's root: DIR itself
    await this.parents(h.name, parts);
    const p = join(this.root, ...parts);
    switch (h.type) {
      case '0':
      case '\0':
      case '7':
        await this.clear(p, false);
        this.out = await open(p, 'wx', 0o600);
        this.summary.files++;
        return;
      case '5':
        await this.clear(p, true);
        await mkdir(p, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'EEXIST') throw err;
        });
        this.dirTimes.push({
          path: p,
          mode: h.mode & 0o7777,
          mtime: h.mtime,
          uid: h.uid,
          gid: h.gid,
        });
        this.summary.dirs++;
        return;
      case '2':
        await this.clear(p, false);
        await symlink(h.linkname, p);
        if (this.o.owners) await lchown(p, h.uid, h.gid).catch(() => undefined);
        await lutimes(p, h.mtime, h.mtime);
        this.summary.symlinks++;
        return;
      case '1': {
        const targetParts = memberParts(h.linkname);
        if (targetParts.length === 0) throw unsafe(h.name, 'a hard link to the root');
        await this.parents(h.linkname, targetParts);
        const target = join(this.root, ...targetParts);
        const st = await lstat(target).catch(() => undefined);
        if (!st?.isFile())
          throw unsafe(h.name, `its link target ${h.linkname} is not a file extracted before`);
        await this.clear(p, false);
        await link(target, p);
        this.summary.hardlinks++;
        return;
      }
      default:
        this.summary.skipped++;
    }
  }
}
