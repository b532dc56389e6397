/**
 * Helpers for the writer tests: source images made by qemu-io with scattered,
 * unaligned data and zero ranges, and QEMU's verdicts on what a writer made
 * (`qemu-img check`, `compare`, `info`). Not part of the library.
 */
import { stat } from 'node:fs/promises';
import { createQcow2, KiB, MiB, qemuImg, qemuIo, run } from './support.js';

/**
 * A qcow2 of `size` bytes holding unaligned patterns, a pattern crossing
 * cluster boundaries, zero writes (-z), written zeros (data that is zero),
 * and bytes up to the very end of the disk. Offsets scale with the size.
 */
export async function scatteredSource(file: string, size: number): Promise<void> {
  await createQcow2(file, String(size), ['cluster_size=65536']);
  const at = (fraction: number) => Math.floor((size * fraction) / 512) * 512;
  await qemuIo(
    file,
    'qcow2',
    'write -P 0x11 512 3k',
    `write -P 0x22 ${at(0.1) + 1536} 200k`,
    `write -z ${at(0.1) + 64 * KiB} 64k`,
    `write -P 0x00 ${at(0.3)} 256k`,
    `write -P 0x33 ${at(0.5) - 512} ${MiB + 1024}`,
    `write -P 0x44 ${at(0.5) + 2 * MiB + 4096} 4k`,
    `write -P 0x55 ${size - 2560} 2560`,
  );
}

/** Throws unless `qemu-img check` finds neither corruption nor leaks (it exits non-zero then). */
export async function assertChecks(file: string): Promise<string> {
  const out = await qemuImg('check', file);
  if (!/No errors were found on the image/.test(out)) throw new Error(`qemu-img check: ${out}`);
  return out;
}

/** Throws unless QEMU reads both images as the same disk. */
export async function assertSameDisk(
  a: string,
  aFormat: string,
  b: string,
  bFormat: string,
): Promise<void> {
  await run('qemu-img', ['compare', '-f', aFormat, '-F', bFormat, a, b]);
}

export interface QemuInfo {
  format: string;
  'virtual-size': number;
  'cluster-size'?: number;
  'format-specific'?: { data?: { compat?: string; 'lazy-refcounts'?: boolean } };
}

export async function qemuInfo(file: string): Promise<QemuInfo> {
  return JSON.parse(await qemuImg('info', '--output=json', file)) as QemuInfo;
}

/** Bytes the file occupies on disk (what du counts). */
export async function allocated(file: string): Promise<number> {
  return (await stat(file)).blocks * 512;
}
