/**
 * Messages of `brankas doctor` (src/cli/commands/doctor.ts), in English and Indonesian.
 */

export const en = {
  'doctor.clean': 'Nothing left behind: no leftover job, directory, checkpoint or VM left off.',
  'doctor.planHeader': 'Found {count} thing(s) left behind:',
  'doctor.backupJob':
    '  {vm}: a brankas backup job is still running with no brankas behind it ({dir}): abort it',
  'doctor.frozenGuest': '  {vm}: the guest is left frozen by a killed live backup: thaw it',
  'doctor.workDir.killed-job':
    '  {vm}: a killed live backup left {path} (socket, scratch files): remove it',
  'doctor.workDir.vm-gone': '  {vm} (gone): its live backup left {path}: remove it',
  'doctor.workDir.unknown-job': '  {path}: a live job directory no job uses: remove it',
  'doctor.checkpoint.not-in-repository':
    '  {vm}: checkpoint {checkpoint} is in no backup of this repository (a killed or deleted one): delete it',
  'doctor.checkpoint.superseded':
    '  {vm}: checkpoint {checkpoint} belongs to an older backup; no backup counts from it: delete it',
  'doctor.leftShutOff':
    '  {vm}: shut off by a {job} that was interrupted (process {pid}, {at}): start it again ({initial})',
  'doctor.busy': '{vm}: skipped, another job is working on it now',
  'doctor.noRepo': 'Checkpoints not checked: no repository ({message})',
  'doctor.hint': 'Nothing was changed. Run `brankas doctor --fix` to repair.',
  'doctor.fixed': 'fixed: {what}',
  'doctor.failed': 'FAILED: {what}: {message}',
  'doctor.done': 'Repaired {fixed} of {count}.',
} as const;

export const id: Record<keyof typeof en, string> = {
  'doctor.clean':
    'Tidak ada sisa: tidak ada job, direktori, checkpoint, atau VM mati yang tertinggal.',
  'doctor.planHeader': 'Ditemukan {count} sisa:',
  'doctor.backupJob':
    '  {vm}: job backup brankas masih berjalan tanpa brankas di belakangnya ({dir}): batalkan',
  'doctor.frozenGuest': '  {vm}: guest dibiarkan beku oleh live backup yang dimatikan: cairkan',
  'doctor.workDir.killed-job':
    '  {vm}: live backup yang dimatikan meninggalkan {path} (socket, file scratch): hapus',
  'doctor.workDir.vm-gone': '  {vm} (sudah tidak ada): live backup-nya meninggalkan {path}: hapus',
  'doctor.workDir.unknown-job':
    '  {path}: direktori job live yang tidak dipakai job mana pun: hapus',
  'doctor.checkpoint.not-in-repository':
    '  {vm}: checkpoint {checkpoint} tidak ada di backup mana pun di repositori ini (dimatikan atau dihapus): hapus',
  'doctor.checkpoint.superseded':
    '  {vm}: checkpoint {checkpoint} milik backup yang lebih lama; tidak ada backup yang berhitung darinya: hapus',
  'doctor.leftShutOff':
    '  {vm}: dimatikan oleh {job} yang terputus (proses {pid}, {at}): nyalakan lagi ({initial})',
  'doctor.busy': '{vm}: dilewati, job lain sedang mengerjakannya',
  'doctor.noRepo': 'Checkpoint tidak diperiksa: tidak ada repositori ({message})',
  'doctor.hint': 'Tidak ada yang diubah. Jalankan `brankas doctor --fix` untuk memperbaiki.',
  'doctor.fixed': 'diperbaiki: {what}',
  'doctor.failed': 'GAGAL: {what}: {message}',
  'doctor.done': 'Diperbaiki {fixed} dari {count}.',
};
