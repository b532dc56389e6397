/**
 * Messages of `brankas host add|list|remove` and of `--all-hosts` (src/cli/commands/host.ts,
 * inventory, status), in English and Indonesian.
 */

export const en = {
  'host.added': "Host '{name}' registered: {uri}. Use it with -c {name}.",
  'host.removed': "Host '{name}' removed ({uri}). Nothing on it was touched.",
  'host.none': 'No hosts registered (brankas host add NAME URI).',
  'host.col.name': 'NAME',
  'host.col.uri': 'URI',
  'host.col.added': 'ADDED',
  'host.heading': '== {name} ({uri})',
  'host.unreachable': '  cannot reach it: {reason}',
  'host.local': 'this connection',
} as const;

export const id: Record<keyof typeof en, string> = {
  'host.added': "Host '{name}' terdaftar: {uri}. Pakai dengan -c {name}.",
  'host.removed': "Host '{name}' dihapus ({uri}). Tidak ada yang diubah di host itu.",
  'host.none': 'Belum ada host terdaftar (brankas host add NAMA URI).',
  'host.col.name': 'NAMA',
  'host.col.uri': 'URI',
  'host.col.added': 'DITAMBAHKAN',
  'host.heading': '== {name} ({uri})',
  'host.unreachable': '  tidak bisa dijangkau: {reason}',
  'host.local': 'koneksi ini',
};
