/** A read-only ext2/3/4 reader for untrusted volumes: see fs.ts and docs/file-restore.md. */
export { Ext4, ROOT_INO, READ_CHUNK, type DirEntry, type ReadAt } from './fs.js';
export {
  deviceOf,
  typeOf,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  type Inode,
} from './inode.js';
export { FsError, fsCorrupt, isFsUnsupported, type FsErrorCode } from './errors.js';
