import { parseSize as parseDiskSize } from '../src/engine/disk/size.js';
// Small statistics and formatting helpers for the benchmarks. Node built-ins only.

export interface Summary {
  /** Number of samples. */
  n: number;
  min: number;
  max: number;
  mean: number;
  median: number;
  p90: number;
  p99: number;
}

/**
 * The p-th percentile (0..100) of samples sorted ascending, by linear interpolation between the
 * closest ranks (the same definition as numpy's default). NaN for no samples.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (p <= 0) return sorted[0] as number;
  if (p >= 100) return sorted[sorted.length - 1] as number;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (rank - lo);
}

export function median(samples: readonly number[]): number {
  return percentile(
    [...samples].sort((a, b) => a - b),
    50,
  );
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((acc, x) => acc + x, 0);
  return {
    n: sorted.length,
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
    mean: sorted.length === 0 ? Number.NaN : sum / sorted.length,
    median: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
  };
}

/** A duration in milliseconds, with three significant digits: "0.142 ms", "12.3 ms", "1234 ms". */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  if (ms >= 1000) return `${Math.round(ms)} ms`;
  return `${ms.toPrecision(3)} ms`;
}

/** A ratio with at most one decimal beyond the units: "0.8x", "12.4x", "153x". */
export function formatRatio(ratio: number): string {
  if (!Number.isFinite(ratio)) return '—';
  if (ratio >= 100) return `${Math.round(ratio)}x`;
  if (ratio >= 10) return `${ratio.toFixed(1)}x`;
  return `${ratio.toFixed(2)}x`;
}

/** A rate, e.g. calls per second, rounded to a readable precision. */
export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return '—';
  if (perSecond >= 100) return String(Math.round(perSecond));
  return perSecond.toPrecision(3);
}

/** A GitHub-flavoured markdown table; numeric-looking columns are right-aligned by `align`. */
export function markdownTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  align: readonly ('left' | 'right')[] = [],
): string {
  const widths = headers.map((h, i) =>
    Math.max(3, h.length, ...rows.map((r) => (r[i] ?? '').length)),
  );
  const cell = (text: string, i: number): string =>
    align[i] === 'right' ? text.padStart(widths[i] as number) : text.padEnd(widths[i] as number);
  const line = (cells: readonly string[]): string =>
    `| ${headers.map((_, i) => cell(cells[i] ?? '', i)).join(' | ')} |`;
  const rule = `| ${headers
    .map((_, i) => {
      const w = widths[i] as number;
      return align[i] === 'right' ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w);
    })
    .join(' | ')} |`;
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

/** markdownTable with the first column left-aligned and the others (numbers) right-aligned. */
export function numbersTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  return markdownTable(
    headers,
    rows,
    headers.map((_, i) => (i === 0 ? 'left' : 'right')),
  );
}

/** A size from the command line (10G, 64K, 1.5G), read as the volume commands read it. */
export function parseSize(text: string): number {
  return Number(parseDiskSize(text));
}

/** Bytes in the largest binary unit that fits: 1.25 GiB, 64 KiB, 512 B. */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [
    ['TiB', 2 ** 40],
    ['GiB', 2 ** 30],
    ['MiB', 2 ** 20],
    ['KiB', 2 ** 10],
  ] as const) {
    if (Math.abs(bytes) >= size) return `${+(bytes / size).toFixed(2)} ${unit}`;
  }
  return `${bytes} B`;
}
