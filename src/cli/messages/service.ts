/**
 * Messages of `brankas service install` (src/cli/commands/service.ts), in English and Indonesian.
 */

export const en = {
  'service.dryRun': 'Would write {path} (nothing written: --dry-run):',
  'service.written': 'Wrote {path}.',
  'service.enabled': 'Enabled and started {unit}: systemctl status {unit} shows it.',
  'service.noSystemd':
    'systemd is not running here (PID 1 is {init}{systemctl}): nothing was enabled. Run the service in the foreground instead, under your own supervisor:\n  {command}',
  'service.noSystemctl': ', no systemctl',
  'service.enableBy':
    'Where systemd runs, enable it with: systemctl daemon-reload && systemctl enable --now {unit}',
} as const;

export const id: Record<keyof typeof en, string> = {
  'service.dryRun': 'Akan menulis {path} (tidak ada yang ditulis: --dry-run):',
  'service.written': '{path} ditulis.',
  'service.enabled': '{unit} diaktifkan dan dijalankan: systemctl status {unit} menampilkannya.',
  'service.noSystemd':
    'systemd tidak berjalan di sini (PID 1 adalah {init}{systemctl}): tidak ada yang diaktifkan. Jalankan layanan di latar depan, di bawah pengawas Anda sendiri:\n  {command}',
  'service.noSystemctl': ', tanpa systemctl',
  'service.enableBy':
    'Di tempat systemd berjalan, aktifkan dengan: systemctl daemon-reload && systemctl enable --now {unit}',
};
