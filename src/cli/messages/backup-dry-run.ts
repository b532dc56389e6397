/**
 * Messages of `brankas backup VM --dry-run` (src/cli/commands/backup-dry-run.ts), in English
 * and Indonesian.
 */

export const en = {
  'preflight.header':
    'Dry run: nothing was changed. A backup of {vm} ({state}) now would be {mode}:',
  'preflight.live.application':
    '  consistency: application-consistent (the guest agent answers; its filesystems would be frozen for the backup point)',
  'preflight.live.crash': '  consistency: crash-consistent ({reason})',
  'preflight.cold.shutdown':
    '  consistency: shut down first (the VM would be shut down and started again)',
  'preflight.cold.off': '  consistency: the VM is off (nothing to shut down)',
  'preflight.checkpoint': '  checkpoint: {checkpoint} (counting from {parent})',
  'preflight.disk': '  {disk}: {read} ({reason}): reads {bytes} of {capacity}',
  'preflight.total': '  to read: {bytes}',
  'preflight.estimate':
    '  estimate from the last {count} backup(s): about {stored} new data, about {seconds} s',
  'preflight.noEstimate': '  estimate: none (no earlier backup of this VM to go by)',
  'preflight.free': '  repository {location}: {free} free',
  'preflight.freeUnknown': '  repository {location}: free space not known',
  'preflight.tight': '  warning: the estimated new data does not fit in the free space',
  'preflight.unknown': 'unknown',
} as const;

export const id: Record<keyof typeof en, string> = {
  'preflight.header':
    'Uji coba: tidak ada yang diubah. Backup {vm} ({state}) sekarang akan berupa {mode}:',
  'preflight.live.application':
    '  konsistensi: application-consistent (guest agent menjawab; filesystem-nya dibekukan sesaat untuk titik backup)',
  'preflight.live.crash': '  konsistensi: crash-consistent ({reason})',
  'preflight.cold.shutdown':
    '  konsistensi: dimatikan dulu (VM akan dimatikan lalu dinyalakan kembali)',
  'preflight.cold.off': '  konsistensi: VM sudah mati (tidak ada yang dimatikan)',
  'preflight.checkpoint': '  checkpoint: {checkpoint} (dihitung dari {parent})',
  'preflight.disk': '  {disk}: {read} ({reason}): membaca {bytes} dari {capacity}',
  'preflight.total': '  yang dibaca: {bytes}',
  'preflight.estimate':
    '  perkiraan dari {count} backup terakhir: sekitar {stored} data baru, sekitar {seconds} dtk',
  'preflight.noEstimate': '  perkiraan: tidak ada (belum ada backup VM ini sebagai acuan)',
  'preflight.free': '  repositori {location}: {free} kosong',
  'preflight.freeUnknown': '  repositori {location}: ruang kosong tidak diketahui',
  'preflight.tight': '  peringatan: perkiraan data baru tidak muat di ruang kosong',
  'preflight.unknown': 'tidak diketahui',
};
