/** Sizes on the command line: 262144, 256K, 256KiB, 1M, 4MiB. */
import { UsageError } from '../command.js';

export function parseSize(s: string): number {
  const m = /^(\d{1,12})([KMG]?)(i?B)?$/i.exec(s);
  if (!m) throw UsageError.say('usage.notSize', { value: s });
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[
    m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G'
  ];
  return Number(m[1]) * unit;
}
