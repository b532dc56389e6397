// Data of mixed compressibility for the benchmarks (bench/cold-backup.ts, bench/memory-flat.ts):
// incompressible random bytes (an AES-256-CTR keystream, like archives, media or encrypted files)
// and text-like log lines that compress about 2.9x with zstd level 1, deterministic from a seed.

import { createCipheriv, createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { prng as rng } from '../src/util/testing/index.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Pseudo-words from syllables, as a vocabulary for the log-like text. */
function vocabulary(random: () => number): string[] {
  const syllables = (
    'ka ri to na ben lo sa mer di ul pa ng tra si ko ba ran te mu ha ver pro gen ' +
    'ex in ter con dis ser vi ce da ta net work sys tem log er ror us age mem ory'
  ).split(' ');
  const words: string[] = [];
  for (let i = 0; i < 4096; i++) {
    const n = 1 + Math.floor(random() * 4);
    let w = '';
    for (let k = 0; k < n; k++) w += syllables[Math.floor(random() * syllables.length)];
    words.push(w);
  }
  return words;
}

const TEXT_POOL = 16 * MiB;

/**
 * Text-like data: syslog-style lines (timestamp, host, service and pid, 4 to 15 words of a
 * pseudo-vocabulary skewed towards its first words, an id and a duration). Generating every line
 * afresh runs at only about 20 MiB/s here, so a 16 MiB pool of lines is generated once and the
 * data is cut from it in segments of 1 to 8 KiB at random offsets: no two 256 KiB chunks (nor
 * 64 KiB clusters) are alike, and within one the text compresses as fresh text does.
 */
export class TextSource {
  private readonly random: () => number;
  private readonly pool: Buffer;

  constructor(seed: number) {
    this.random = rng(seed);
    const words = vocabulary(this.random);
    const services = ['sshd', 'nginx', 'postgres', 'cron', 'kernel', 'app', 'systemd'];
    const lines: string[] = [];
    let size = 0;
    let time = Date.UTC(2026, 0, 1);
    for (let seq = 1; size < TEXT_POOL; seq++) {
      const r = this.random;
      time += Math.floor(r() * 2000);
      const svc = services[Math.floor(r() * services.length)] as string;
      let text = `${new Date(time).toISOString()} host${seq % 7} ${svc}[${1000 + Math.floor(r() * 30000)}]:`;
      const n = 4 + Math.floor(r() * 12);
      for (let i = 0; i < n; i++)
        text += ` ${words[Math.floor(words.length * r() ** 3)] as string}`;
      text += ` id=${seq} took=${Math.floor(r() * 900)}ms\n`;
      lines.push(text);
      size += text.length;
    }
    this.pool = Buffer.from(lines.join(''), 'latin1');
  }

  fill(buf: Buffer): void {
    for (let at = 0; at < buf.length;) {
      const n = Math.min(KiB + Math.floor(this.random() * 7 * KiB), buf.length - at);
      const from = Math.floor(this.random() * (this.pool.length - n));
      at += this.pool.copy(buf, at, from, from + n);
    }
  }
}

/** A keystream of AES-256-CTR: deterministic, incompressible bytes. */
export function randomStream(seed: number): (into: Buffer) => void {
  const key = createHash('sha256').update(`brankas-bench-random-${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(4 * MiB);
  return (into) => {
    for (let at = 0; at < into.length; at += zeros.length) {
      const n = Math.min(zeros.length, into.length - at);
      cipher.update(zeros.subarray(0, n)).copy(into, at);
    }
  };
}

/**
 * Writes a fully allocated raw image of `size` bytes: 4 MiB pieces, text or random by turns
 * (so half of each), no two 256 KiB chunks alike. Returns the seconds it took.
 */
export async function writeMixedImage(path: string, size: number, seed: number): Promise<number> {
  const start = performance.now();
  const text = new TextSource(seed);
  const random = randomStream(seed);
  const buf = Buffer.allocUnsafe(4 * MiB);
  const fh = await open(path, 'w');
  try {
    for (let at = 0, i = 0; at < size; i++) {
      const piece = buf.subarray(0, Math.min(buf.length, size - at));
      if (i % 2 === 0) text.fill(piece);
      else random(piece);
      for (let done = 0; done < piece.length;) {
        done += (await fh.write(piece, done, piece.length - done, at + done)).bytesWritten;
      }
      at += piece.length;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return (performance.now() - start) / 1000;
}
