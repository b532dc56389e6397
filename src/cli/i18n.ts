/**
 * Messages in English and Indonesian. Indonesian uses the seed tutorial's own
 * terms (snapshot, backup, cold backup, restore, revert, thin provisioning stay
 * as the tutorial writes them). Keys are typed: a message missing in one
 * language is a compile error.
 */

export type Lang = 'en' | 'id';

const en = {
  'usage.error': 'usage error: {message}',
  'usage.hint': "Run 'brankas {command} --help' for usage.",
  'usage.unknownCommand': "unknown command '{command}'. Run 'brankas --help' for the list.",
  'error.prefix': 'error: {message}',
  'error.interrupted': 'interrupted',
  'inventory.host': 'Host',
  'inventory.hostname': 'hostname',
  'inventory.uri': 'connection',
  'inventory.hypervisor': 'hypervisor',
  'inventory.libvirt': 'libvirt',
  'inventory.vms': 'Virtual machines ({count})',
  'inventory.noVms': 'No virtual machines are defined on this host.',
  'inventory.col.name': 'NAME',
  'inventory.col.state': 'STATE',
  'inventory.col.snapshots': 'SNAPSHOTS',
  'inventory.col.disks': 'DISKS (target format virtual-size)',
  'inventory.transient': 'transient',
  'inventory.unknownSize': 'size unknown',
  'state.running': 'running',
  'state.paused': 'paused',
  'state.shutoff': 'shut off',
  'state.shutdown': 'shutting down',
  'state.crashed': 'crashed',
  'state.blocked': 'blocked',
  'state.pmsuspended': 'suspended',
  'state.nostate': 'no state',
} as const;

export type MessageKey = keyof typeof en;

const id: Record<MessageKey, string> = {
  'usage.error': 'kesalahan penggunaan: {message}',
  'usage.hint': "Jalankan 'brankas {command} --help' untuk cara pakai.",
  'usage.unknownCommand':
    "perintah '{command}' tidak dikenal. Jalankan 'brankas --help' untuk daftarnya.",
  'error.prefix': 'galat: {message}',
  'error.interrupted': 'dihentikan',
  'inventory.host': 'Host',
  'inventory.hostname': 'nama host',
  'inventory.uri': 'koneksi',
  'inventory.hypervisor': 'hypervisor',
  'inventory.libvirt': 'libvirt',
  'inventory.vms': 'Mesin virtual ({count})',
  'inventory.noVms': 'Belum ada mesin virtual (VM) yang terdefinisi di host ini.',
  'inventory.col.name': 'NAMA',
  'inventory.col.state': 'STATUS',
  'inventory.col.snapshots': 'SNAPSHOT',
  'inventory.col.disks': 'DISK (target format ukuran-virtual)',
  'inventory.transient': 'sementara',
  'inventory.unknownSize': 'ukuran tidak diketahui',
  'state.running': 'berjalan',
  'state.paused': 'dijeda',
  'state.shutoff': 'mati',
  'state.shutdown': 'sedang dimatikan',
  'state.crashed': 'crash',
  'state.blocked': 'terblokir',
  'state.pmsuspended': 'ditangguhkan',
  'state.nostate': 'tanpa status',
};

const catalogs: Record<Lang, Record<MessageKey, string>> = { en, id };

export type Translate = (key: MessageKey, params?: Record<string, string | number>) => string;

export function translator(lang: Lang): Translate {
  const catalog = catalogs[lang];
  return (key, params = {}) =>
    catalog[key].replace(/\{(\w+)\}/g, (m, name: string) =>
      name in params ? String(params[name]) : m,
    );
}

/** --lang wins; otherwise LANG/LC_ALL/LC_MESSAGES starting with "id" choose Indonesian. */
export function pickLang(flag: string | undefined, env: NodeJS.ProcessEnv): Lang {
  if (flag !== undefined) {
    if (flag === 'en' || flag === 'id') return flag;
    throw new Error(`--lang must be "en" or "id", not "${flag}"`);
  }
  const locale = env['LC_ALL'] || env['LC_MESSAGES'] || env['LANG'] || '';
  return /^id([_.-]|$)/i.test(locale) ? 'id' : 'en';
}
