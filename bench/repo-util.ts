/** Small helpers shared by the repository benchmarks (bench/repo-*.ts). */

/** A GitHub-flavoured markdown table; the first column left-aligned, the others right. */
export function mdTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) =>
    Math.max(3, h.length, ...rows.map((r) => (r[i] ?? '').length)),
  );
  const cell = (t: string, i: number): string =>
    i === 0 ? t.padEnd(widths[i]!) : t.padStart(widths[i]!);
  const line = (cells: readonly string[]): string =>
    `| ${headers.map((_, i) => cell(cells[i] ?? '', i)).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : '-'.repeat(w - 1) + ':')).join(' | ')} |`;
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

/** A small deterministic PRNG (mulberry32), so every run makes the same choices. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
