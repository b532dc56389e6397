/**
 * Messages of `brankas serve` (src/cli/commands/serve.ts), in English and Indonesian. One file
 * per command group keeps the catalogue in pieces a reader can hold; src/cli/i18n.ts joins them.
 */

export const en = {
  'serve.listening':
    'brankas serve: the API listens on {url} (token: brankas serve --print-token). Ctrl-C stops it; running jobs are cancelled and put their VMs back.',
  'serve.stopping': 'Stopping: cancelling the jobs and waiting until their VMs are back...',
  'serve.stopped': 'Stopped.',
} as const;

export const id: Record<keyof typeof en, string> = {
  'serve.listening':
    'brankas serve: API mendengarkan di {url} (token: brankas serve --print-token). Ctrl-C menghentikannya; job yang berjalan dibatalkan dan mengembalikan VM-nya.',
  'serve.stopping': 'Berhenti: membatalkan job dan menunggu VM-nya kembali...',
  'serve.stopped': 'Berhenti.',
};
