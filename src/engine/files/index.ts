/** File-level restore, on the host or through a helper VM: see files.ts and docs/file-restore.md. */
export {
  getFiles,
  listFiles,
  resolvePath,
  type Connect as FilesConnect,
  type FilesOptions,
  type ReaderChoice,
  type FilesTarget,
  type GetOptions,
  type GetResult,
  type Listing,
} from './files.js';
export {
  readLayout,
  fsOf,
  READABLE_FS,
  type DiskLayout,
  type Volume,
  type FsKind,
} from './layout.js';
export type { FileEntry, EntryType } from './protocol.js';
export type { ExtractSummary } from './tar-extract.js';
