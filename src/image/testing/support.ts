/**
 * Helpers for the image tests: temp dirs named brankas-test-*, qemu-img and
 * qemu-io runs, and the comparisons every test makes against QEMU's own view
 * of an image (the bytes of `qemu-img convert -O raw`, the map of
 * `qemu-img map --output=json`). Not part of the library.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { mergeExtents } from '../extents.js';
import type { DiskReader, Extent, ExtentKind } from '../types.js';

const exec = promisify(execFile);

export const KiB = 1024;
export const MiB = 1024 * 1024;

export async function tempDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'brankas-test-image-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export async function run(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await exec(cmd, args, { maxBuffer: 64 * MiB });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    const output = `${e.stderr ?? ''}${e.stdout ?? ''}`.trim() || e.message;
    throw new Error(`${cmd} ${args.join(' ')} failed: ${output}`, { cause: err });
  }
}

export function qemuImg(...args: string[]): Promise<string> {
  return run('qemu-img', args);
}

/** Runs qemu-io commands (e.g. 'write -P 0x11 0 64k', 'write -z 1M 64k') on an image. */
export async function qemuIo(file: string, format: string, ...commands: string[]): Promise<void> {
  const out = await run('qemu-io', ['-f', format, ...commands.flatMap((c) => ['-c', c]), file]);
  if (/error|failed/i.test(out)) throw new Error(`qemu-io ${commands.join('; ')}: ${out}`);
}

export async function createQcow2(
  file: string,
  size: string,
  options: string[] = [],
  backing?: { file: string; format: string },
): Promise<void> {
  const args = ['create', '-q', '-f', 'qcow2'];
  if (options.length > 0) args.push('-o', options.join(','));
  if (backing !== undefined) args.push('-b', backing.file, '-F', backing.format);
  await qemuImg(...args, file, size);
}

/** The disk as QEMU reads it. */
export async function qemuRaw(file: string, dir: string): Promise<Buffer> {
  const out = join(dir, `qemu-raw-${Math.random().toString(36).slice(2)}.raw`);
  await qemuImg('convert', '-O', 'raw', file, out);
  try {
    return await readFile(out);
  } finally {
    await rm(out, { force: true });
  }
}

interface MapEntry {
  start: number;
  length: number;
  depth: number;
  present: boolean;
  zero: boolean;
  data: boolean;
}

export async function qemuMap(file: string, format?: string): Promise<MapEntry[]> {
  const args = ['map', '--output=json'];
  if (format !== undefined) args.push('-f', format);
  return JSON.parse(await qemuImg(...args, file)) as MapEntry[];
}

export async function collect(extents: AsyncIterable<Extent>): Promise<Extent[]> {
  const out: Extent[] = [];
  for await (const e of extents) out.push(e);
  return out;
}

/** Extents reduced to data / not data, merged. */
export async function dataMap(extents: AsyncIterable<Extent> | Extent[]): Promise<Extent[]> {
  const reduced = async function* () {
    for await (const e of extents)
      yield { ...e, kind: (e.kind === 'data' ? 'data' : 'zero') as ExtentKind };
  };
  return collect(mergeExtents(reduced()));
}

/** QEMU's map as data / not data, merged (its per-layer depth ignored). */
export async function qemuDataMap(file: string, format?: string): Promise<Extent[]> {
  const entries = await qemuMap(file, format);
  return dataMap(
    entries.map((m) => ({ offset: m.start, length: m.length, kind: m.data ? 'data' : 'zero' })),
  );
}

/** QEMU's map of a single file in our kinds: data, zero (present: allocated/flagged zero), hole. */
export async function qemuKindMap(file: string, format?: string): Promise<Extent[]> {
  const entries = await qemuMap(file, format);
  const kind = (m: MapEntry): ExtentKind => (m.data ? 'data' : m.present ? 'zero' : 'hole');
  return collect(
    mergeExtents(entries.map((m) => ({ offset: m.start, length: m.length, kind: kind(m) }))),
  );
}

export async function readAll(reader: DiskReader, piece = 3 * MiB + 512): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let at = 0; at < reader.virtualSize; at += piece) {
    parts.push(await reader.read(at, Math.min(piece, reader.virtualSize - at)));
  }
  return Buffer.concat(parts);
}

/** A rejection's error code, for assert.rejects predicates. */
export function hasCode(code: string): (err: unknown) => boolean {
  return (err) =>
    typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
