/**
 * Messages of the job history's retention in `brankas serve` (src/cli/commands/serve.ts), in
 * English and Indonesian.
 */

export const en = {
  'history.pruned':
    'Job history: {count} old job(s) removed with their logs (kept: the last {days} days, and the newest {perVm} per VM).',
  'history.error': 'Job history: old jobs could not be removed: {message}',
} as const;

export const id: Record<keyof typeof en, string> = {
  'history.pruned':
    'Riwayat job: {count} job lama dihapus beserta log-nya (disimpan: {days} hari terakhir, dan {perVm} terbaru per VM).',
  'history.error': 'Riwayat job: job lama tidak dapat dihapus: {message}',
};
