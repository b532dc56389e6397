/**
 * The in-memory backend, for tests: the same contract as the local directory,
 * nothing durable. Every object is a private copy, so a caller that changes a
 * buffer after put() changes nothing stored.
 */
import { RepoError } from '../errors.js';
import {
  checkObjectName,
  objectNotFound,
  type Backend,
  type ObjectInfo,
  type ObjectUpload,
} from './types.js';

export class MemoryBackend implements Backend {
  readonly objects = new Map<string, Buffer>();

  constructor(readonly location = 'memory:') {}

  async put(name: string, data: Buffer): Promise<void> {
    checkObjectName(name);
    this.objects.set(name, Buffer.from(data));
  }

  async upload(name: string): Promise<ObjectUpload> {
    checkObjectName(name);
    const parts: Buffer[] = [];
    let done = false;
    return {
      write: async (...more) => {
        if (done) throw new RepoError('REPO_CLOSED', 'upload already finished');
        for (const part of more) parts.push(Buffer.from(part));
      },
      commit: async () => {
        if (done) throw new RepoError('REPO_CLOSED', 'upload already finished');
        done = true;
        this.objects.set(name, Buffer.concat(parts));
      },
      abort: async () => {
        done = true;
      },
    };
  }

  async get(name: string): Promise<Buffer> {
    checkObjectName(name);
    const o = this.objects.get(name);
    if (!o) throw objectNotFound(name, this.location);
    return Buffer.from(o);
  }

  async getRange(name: string, offset: number, length: number): Promise<Buffer> {
    checkObjectName(name);
    const o = this.objects.get(name);
    if (!o) throw objectNotFound(name, this.location);
    return Buffer.from(o.subarray(offset, offset + length));
  }

  async stat(name: string): Promise<ObjectInfo | undefined> {
    checkObjectName(name);
    const o = this.objects.get(name);
    return o ? { name, size: o.length } : undefined;
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    for (const [name, o] of [...this.objects]) {
      if (name.startsWith(prefix)) yield { name, size: o.length };
    }
  }

  async delete(name: string): Promise<void> {
    checkObjectName(name);
    this.objects.delete(name);
  }

  async close(): Promise<void> {}
}
