/**
 * Helpers for the repository's tests: temporary repositories (local
 * directories named brankas-test-* under the system temp directory, removed
 * even on failure), realistic test data, and sources with holes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalBackend } from '../backend/local.js';
import type { ChunkHash } from '../config.js';
import { TEST_KDF } from '../keys.js';
import { Repository } from '../repository.js';
import { BackupDisk } from '../reader.js';
import { bufferSource, type ExtentSource, type SourceExtent } from '../source.js';
import { BackupWriter } from '../writer.js';

export const TEST_PASSWORD = 'correct horse battery staple';

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'brankas-test-repo-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface TempRepoOptions {
  encrypted?: boolean;
  chunkSize?: number;
  packSize?: number;
  workers?: number;
  chunkHash?: ChunkHash;
  compression?: 'zstd' | 'none';
  compressionLevel?: number;
}

/** A fresh local repository in a temp dir, opened; closed and removed after fn. */
export async function withRepo<T>(
  o: TempRepoOptions,
  fn: (repo: Repository, dir: string) => Promise<T>,
): Promise<T> {
  return withTempDir(async (dir) => {
    const backend = new LocalBackend(join(dir, 'repo'));
    await Repository.init(backend, {
      password: o.encrypted === false ? undefined : TEST_PASSWORD,
      chunkSize: o.chunkSize ?? 64 * 1024,
      packSize: o.packSize ?? 1024 * 1024,
      chunkHash: o.chunkHash,
      compression: o.compression,
      compressionLevel: o.compressionLevel,
      kdf: TEST_KDF,
    });
    const repo = await Repository.open(new LocalBackend(join(dir, 'repo')), {
      password: o.encrypted === false ? undefined : TEST_PASSWORD,
      workers: o.workers ?? 0,
      // A test that asks for threads tests the threads: they take the first chunk.
      inlineMs: 0,
    });
    try {
      return await fn(repo, join(dir, 'repo'));
    } finally {
      await repo.close();
    }
  });
}

/** Deterministic bytes that compress like text and binaries do (not zeros, not noise). */
export function realisticBytes(n: number, seed: number): Buffer {
  const words = [
    'lib',
    'usr',
    'share',
    'doc',
    'ELF',
    '\0\0\0\0',
    'copyright',
    'GNU',
    'x86_64',
    '\n',
  ];
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  let o = 0;
  while (o < n) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    if (x % 5 === 0) {
      b[o++] = x & 255;
    } else {
      o += b.write(words[x % words.length]! + String(x % 1000), o);
    }
  }
  return b;
}

/** A source over a buffer whose zero-filled ranges are reported as holes. */
export function sparseSource(
  data: Buffer,
  holes: { offset: number; length: number }[],
): ExtentSource {
  const ext: SourceExtent[] = [];
  let at = 0;
  for (const h of [...holes].sort((a, b) => a.offset - b.offset)) {
    if (h.offset > at) ext.push({ offset: at, length: h.offset - at, kind: 'data' });
    ext.push({ offset: h.offset, length: h.length, kind: 'hole' });
    at = h.offset + h.length;
  }
  if (at < data.length) ext.push({ offset: at, length: data.length - at, kind: 'data' });
  return {
    virtualSize: data.length,
    async *extents() {
      yield* ext;
    },
    async read(offset, length) {
      return Buffer.from(data.subarray(offset, offset + length));
    },
  };
}

/** A backup of one disk `vda` holding `data`; resolves with its id. */
export async function backupBytes(
  repo: Repository,
  data: Buffer,
  vm = 'web',
  parent?: string,
): Promise<string> {
  const w = await BackupWriter.start(repo, { vm: { name: vm }, parent: parent ?? null });
  await w.addDisk({ name: 'vda', source: bufferSource(data) });
  return (await w.commit()).id;
}

/** The whole content of disk `disk` of backup `id`. */
export async function readBack(repo: Repository, id: string, disk = 'vda'): Promise<Buffer> {
  const d = await BackupDisk.open(repo, id, disk);
  try {
    return await d.read(0, d.virtualSize);
  } finally {
    await d.close();
  }
}
