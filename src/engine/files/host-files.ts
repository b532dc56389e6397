/**
 * `ls` and `get` answered on the host from an ext2/3/4 volume, with the
 * brankas reader (src/image/fs/ext4) instead of a helper VM: the same path
 * rules as the helper's (docs/file-restore.md: links followed within the
 * volume, an absolute target or a `..` above the root leads outside, the last
 * component of a `get` is not followed), the same listing entries, and the
 * same kind of tar stream for the `--tar` file or the safe extractor.
 */
import {
  deviceOf,
  Ext4,
  fsCorrupt,
  ROOT_INO,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFREG,
  typeOf,
  type Inode,
} from '../../image/fs/ext4/index.js';
import type { EntryType, FileEntry } from './protocol.js';
import { padding, TAR_END, tarHeader, type TarType } from './tar-write.js';

/** A path the request names that is missing or leads out (the helper's NOT_FOUND, OUTSIDE). */
export class PathFault extends Error {
  constructor(
    readonly code: 'NOT_FOUND' | 'OUTSIDE',
    /** The requested path (relative to the volume's root). */
    readonly rel: string,
  ) {
    super(`${code} ${rel}`);
  }
}

/** Symbolic links followed in one path at most (Linux's MAXSYMLINKS). */
const MAX_LINKS = 40;
const SLASH = 0x2f;

function components(path: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i === path.length || path[i] === SLASH) {
      if (i > start) out.push(path.subarray(start, i));
      start = i + 1;
    }
  }
  return out;
}

const isDot = (c: Buffer): boolean => c.length === 1 && c[0] === 0x2e;
const isDotDot = (c: Buffer): boolean => c.length === 2 && c[0] === 0x2e && c[1] === 0x2e;

interface Found {
  inode: Inode;
  /** The name it was found by (empty for the root). */
  name: Buffer;
}

/** Resolves `rel` from the root; `followLast` follows a symlink in the last place too. */
export async function resolve(fs: Ext4, rel: string, followLast: boolean): Promise<Found> {
  const stack: Found[] = [{ inode: await fs.inode(ROOT_INO), name: Buffer.alloc(0) }];
  const todo = components(Buffer.from(rel, 'utf8'));
  let links = 0;
  while (todo.length > 0) {
    const c = todo.shift()!;
    if (isDot(c)) continue;
    if (isDotDot(c)) {
      if (stack.length === 1) throw new PathFault('OUTSIDE', rel);
      stack.pop();
      continue;
    }
    const dir = stack[stack.length - 1]!.inode;
    if (typeOf(dir) !== S_IFDIR) throw new PathFault('NOT_FOUND', rel);
    const ino = await fs.lookup(dir, c);
    if (ino === undefined) throw new PathFault('NOT_FOUND', rel);
    const inode = await fs.inode(ino);
    if (typeOf(inode) === S_IFLNK && (todo.length > 0 || followLast)) {
      if (++links > MAX_LINKS) throw new PathFault('NOT_FOUND', rel);
      const target = await fs.readlink(inode);
      if (target[0] === SLASH) throw new PathFault('OUTSIDE', rel);
      todo.unshift(...components(target));
      continue;
    }
    stack.push({ inode, name: c });
  }
  return stack[stack.length - 1]!;
}

const ENTRY_TYPES: Record<number, EntryType> = {
  [S_IFREG]: 'file',
  [S_IFDIR]: 'dir',
  [S_IFLNK]: 'symlink',
  0o010000: 'fifo',
  0o140000: 'socket',
  [S_IFCHR]: 'char',
  [S_IFBLK]: 'block',
};

async function entryOf(fs: Ext4, name: Buffer, i: Inode): Promise<FileEntry> {
  const type = ENTRY_TYPES[typeOf(i)];
  if (!type) throw fsCorrupt(`inode ${i.ino} has mode 0${i.mode.toString(8)}`);
  return {
    name: name.toString('utf8'),
    type,
    mode: i.mode & 0o7777,
    uid: i.uid,
    gid: i.gid,
    size: i.size,
    mtime: new Date(i.mtime * 1000).toISOString(),
    ...(type === 'symlink' ? { target: (await fs.readlink(i)).toString('utf8') } : {}),
  };
}

/** `ls`: a directory's entries (sorted by name), or the one entry of a file. */
export async function hostList(fs: Ext4, rel: string): Promise<FileEntry[]> {
  const found = await resolve(fs, rel, true);
  if (typeOf(found.inode) !== S_IFDIR) return [await entryOf(fs, found.name, found.inode)];
  const out: FileEntry[] = [];
  for (const e of await fs.readdir(found.inode)) {
    out.push(await entryOf(fs, e.name, await fs.inode(e.ino)));
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

const TAR_TYPES: Record<number, TarType> = {
  [S_IFREG]: 'file',
  [S_IFDIR]: 'dir',
  [S_IFLNK]: 'symlink',
  0o010000: 'fifo',
  [S_IFCHR]: 'char',
  [S_IFBLK]: 'block',
};

/**
 * `get`: resolves every path first (so a missing one is a PathFault before a byte is
 * produced), then returns the tar stream of them, directories recursively.
 */
export async function hostTar(fs: Ext4, rels: string[]): Promise<AsyncGenerator<Buffer>> {
  const roots: { ino: number; name: Buffer }[] = [];
  for (const rel of rels) {
    const found = await resolve(fs, rel, false);
    const name = rel === '.' ? Buffer.from('.') : Buffer.from(rel, 'utf8');
    roots.push({ ino: found.inode.ino, name });
  }
  return tarStream(fs, roots);
}

async function* tarStream(
  fs: Ext4,
  roots: { ino: number; name: Buffer }[],
): AsyncGenerator<Buffer> {
  // Depth first with an explicit stack: a deep tree costs memory, never the call stack.
  const todo = [...roots].reverse();
  const seenDirs = new Set<number>();
  while (todo.length > 0) {
    const { ino, name } = todo.pop()!;
    const i = await fs.inode(ino);
    const type = TAR_TYPES[typeOf(i)];
    if (!type) continue; // sockets: tar has no such member (busybox skips them too)
    const common = { type, mode: i.mode, uid: i.uid, gid: i.gid, mtime: i.mtime, size: 0 };
    if (type === 'dir') {
      // ext4 has no hard-linked directories: one seen twice is a cycle.
      if (seenDirs.has(ino)) throw fsCorrupt(`directory ${ino} appears twice in the tree`);
      seenDirs.add(ino);
      yield tarHeader({ ...common, name: Buffer.concat([name, Buffer.from('/')]) });
      const children = await fs.readdir(i);
      for (let k = children.length - 1; k >= 0; k--) {
        const c = children[k]!;
        todo.push({ ino: c.ino, name: Buffer.concat([name, Buffer.from('/'), c.name]) });
      }
    } else if (type === 'symlink') {
      yield tarHeader({ ...common, name, linkname: await fs.readlink(i) });
    } else if (type === 'file') {
      yield tarHeader({ ...common, name, size: i.size });
      let n = 0;
      for await (const chunk of fs.data(i)) {
        n += chunk.length;
        yield chunk;
      }
      if (n !== i.size) throw fsCorrupt(`inode ${ino} gave ${n} of its ${i.size} bytes`);
      yield padding(i.size);
    } else {
      const dev = type === 'fifo' ? { major: 0, minor: 0 } : deviceOf(i);
      yield tarHeader({ ...common, name, devmajor: dev.major, devminor: dev.minor });
    }
  }
  yield TAR_END;
}
