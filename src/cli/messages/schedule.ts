/**
 * Messages of `brankas schedule` and of the scheduler inside `brankas serve`
 * (src/cli/commands/schedule.ts, serve.ts), in English and Indonesian.
 */

export const en = {
  'schedule.fired': 'Schedule: policy {policy} runs ({at}).',
  'schedule.firedMissed':
    'Schedule: policy {policy} runs now ({at}): its time passed while brankas serve was not running.',
  'schedule.error': 'Schedule: policy {policy}: {message}',
  'schedule.none': 'No schedule policies in {file}. Add one with brankas schedule add.',
  'schedule.col.id': 'POLICY',
  'schedule.col.vms': 'VMS',
  'schedule.col.when': 'WHEN',
  'schedule.col.mode': 'MODE',
  'schedule.col.keep': 'KEEP',
  'schedule.col.test': 'RESTORE TEST',
  'schedule.col.last': 'LAST RUN',
  'schedule.col.next': 'NEXT RUN',
  'schedule.everyDays': 'every {days} d',
  'schedule.added': 'Added policy {id} to {file}; next run {next}.',
  'schedule.removed': 'Removed policy {id} from {file}.',
  'schedule.serveHint':
    'A running brankas serve follows the file within a minute (or at once when changed through its API).',
  'schedule.noMatch': 'Policy {id} matches no VM on this host: nothing to run.',
  'schedule.queued': 'Policy {id}: {count} job(s) for {vms}.',
  'schedule.jobEnded': '  {kind} of {vm}: {state}{detail}',
  'schedule.never': 'never',
} as const;

export const id: Record<keyof typeof en, string> = {
  'schedule.fired': 'Jadwal: kebijakan {policy} berjalan ({at}).',
  'schedule.firedMissed':
    'Jadwal: kebijakan {policy} berjalan sekarang ({at}): waktunya lewat saat brankas serve tidak berjalan.',
  'schedule.error': 'Jadwal: kebijakan {policy}: {message}',
  'schedule.none': 'Tidak ada kebijakan jadwal di {file}. Tambahkan dengan brankas schedule add.',
  'schedule.col.id': 'KEBIJAKAN',
  'schedule.col.vms': 'VM',
  'schedule.col.when': 'KAPAN',
  'schedule.col.mode': 'MODE',
  'schedule.col.keep': 'SIMPAN',
  'schedule.col.test': 'UJI RESTORE',
  'schedule.col.last': 'TERAKHIR',
  'schedule.col.next': 'BERIKUTNYA',
  'schedule.everyDays': 'tiap {days} hari',
  'schedule.added': 'Kebijakan {id} ditambahkan ke {file}; berjalan berikutnya {next}.',
  'schedule.removed': 'Kebijakan {id} dihapus dari {file}.',
  'schedule.serveHint':
    'brankas serve yang sedang berjalan mengikuti file ini dalam satu menit (atau langsung bila diubah lewat API-nya).',
  'schedule.noMatch':
    'Kebijakan {id} tidak cocok dengan VM mana pun di host ini: tidak ada yang dijalankan.',
  'schedule.queued': 'Kebijakan {id}: {count} job untuk {vms}.',
  'schedule.jobEnded': '  {kind} {vm}: {state}{detail}',
  'schedule.never': 'belum pernah',
};
