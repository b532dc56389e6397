/**
 * Sizes as people type them, the way virsh reads them: "10G" and "10GiB" are
 * binary (10 * 1024^3), "10GB" is decimal (10 * 1000^3), a bare number is
 * bytes. Decimals are allowed ("1.5G") and rounded down to whole bytes.
 */
import { DiskError } from './errors.js';

const PREFIXES = ['k', 'm', 'g', 't', 'p', 'e'];

/** unit (lower case) -> bytes it stands for */
function unitBytes(unit: string): bigint | undefined {
  if (unit === '' || unit === 'b' || unit === 'byte' || unit === 'bytes') return 1n;
  const power = PREFIXES.indexOf(unit[0]!) + 1;
  if (power === 0) return undefined;
  const rest = unit.slice(1);
  if (rest === '' || rest === 'ib') return 1024n ** BigInt(power);
  if (rest === 'b') return 1000n ** BigInt(power);
  return undefined;
}

export function parseSize(text: string, options: { allowZero?: boolean } = {}): bigint {
  const m = /^\s*(\d+)(?:\.(\d+))?\s*([a-z]*)\s*$/i.exec(text);
  const scale = m ? unitBytes(m[3]!.toLowerCase()) : undefined;
  if (!m || scale === undefined) throw badSize(text);
  const frac = m[2] ?? '';
  const bytes = BigInt(m[1]!) * scale + (BigInt(frac || '0') * scale) / 10n ** BigInt(frac.length);
  if (bytes < 0n || (bytes === 0n && !options.allowZero)) throw badSize(text);
  return bytes;
}

function badSize(text: string): DiskError {
  return new DiskError(
    'VOLUME_BAD_SIZE',
    `'${text}' is not a size: use bytes, or a number with K, M, G, T (binary, as virsh reads them: 10G = 10 GiB) or KB, MB, GB, TB (decimal)`,
    { details: { size: text } },
  );
}
