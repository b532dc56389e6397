/**
 * The storage backend interface: named objects written whole. No rename, no
 * append, no partial overwrite, so an object store (S3 with multipart upload)
 * can implement it as well as a local directory. Every backend passes the one
 * conformance suite in conformance.ts.
 */
import { RepoError } from '../errors.js';

export interface ObjectInfo {
  name: string;
  size: number;
}

/** A large object written in parts; nobody sees it until commit() returns. */
export interface ObjectUpload {
  /**
   * Appends parts, in order (several at once cost one system call where the backend can);
   * once it resolves, the caller may reuse their memory.
   */
  write(...parts: Buffer[]): Promise<void>;
  /** Makes the object visible (and durable, where the backend can be). */
  commit(): Promise<void>;
  /** Forgets the parts; idempotent; a no-op after commit. */
  abort(): Promise<void>;
}

export interface Backend {
  /** Where the repository is, for messages: a path or URL. */
  readonly location: string;
  /** Stores an object whole, replacing any object of that name; readers never see a mixture. */
  put(name: string, data: Buffer): Promise<void>;
  /** The same as put() for an object written in parts. */
  upload(name: string): Promise<ObjectUpload>;
  /** The whole object; REPO_OBJECT_NOT_FOUND if it does not exist. */
  get(name: string): Promise<Buffer>;
  /** Part of an object; shorter only at the end of the object. */
  getRange(name: string, offset: number, length: number): Promise<Buffer>;
  /** Optional: getRange into target[0...] (no allocation); returns the bytes read. */
  getRangeInto?(name: string, offset: number, target: Buffer): Promise<number>;
  stat(name: string): Promise<ObjectInfo | undefined>;
  /** Every object whose name starts with prefix, in no particular order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Removes an object; a missing object is not an error. */
  delete(name: string): Promise<void>;
  /**
   * Optional: removes what unfinished writes left (the local backend's temporary files): at
   * once when their process is known to be gone, else when older than maxAgeMs.
   */
  removeTemporaries?(maxAgeMs: number): Promise<number>;
  close(): Promise<void>;
}

/** Object names: segments of [A-Za-z0-9._-] separated by '/', none empty, none starting with '.'. */
export function checkObjectName(name: string): void {
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/.test(name)) {
    throw new RepoError('REPO_INVALID_ARGUMENT', `invalid object name: ${JSON.stringify(name)}`);
  }
}

export function objectNotFound(name: string, location: string, cause?: unknown): RepoError {
  return new RepoError('REPO_OBJECT_NOT_FOUND', `object ${name} not found in ${location}`, {
    cause,
    details: { object: name },
  });
}
