/**
 * The words of the dashboard's files and instant-recovery views, in English and Indonesian
 * (`id` typed against `en`), apart from the main catalogue so that views added at the same
 * time do not edit one list. The language is the dashboard's (i18n.ts).
 */
import { lang } from './i18n.js';

export const en = {
  'nav.runs': 'Runs',
  'files.browse': 'Browse files',
  'files.title': 'Files of backup {backup}',
  'files.where': '{path} on disk {disk} of {vm} ({fs})',
  'files.up': 'Up one level',
  'files.name': 'Name',
  'files.size': 'Size',
  'files.modified': 'Modified',
  'files.download': 'Download',
  'files.downloadTar': 'Download as tar',
  'files.downloading': 'Downloading {name}…',
  'files.downloaded': 'Downloaded {name} ({size}).',
  'files.empty': 'This directory is empty.',
  'files.slow': 'Each listing and download starts a small helper VM: it takes a moment.',
  'run.from': 'Run from backup',
  'run.asName': 'Name of the VM to run',
  'run.start': 'start it',
  'runs.none': 'No VM runs from a backup.',
  'runs.vm': 'VM',
  'runs.backup': 'Backup',
  'runs.state': 'State',
  'runs.vmState': 'VM state',
  'runs.since': 'Since',
  'runs.actions': 'Actions',
  'runs.stop': 'Stop serving',
  'runs.persist': 'Make local',
  'runs.state.serving': 'serving',
  'runs.state.broken': 'broken: its serving process is gone',
  'runs.state.persisted': 'on local disks',
  'runs.state.idle': 'idle',
  'runs.started': 'Run started: see it under Runs.',
  'confirm.stopRun':
    'Stop serving backup {backup} although VM {vm} still reads from it? The VM pauses at its next read of the backup.',
};

export type RecoveryKey = keyof typeof en;

export const id: Record<RecoveryKey, string> = {
  'nav.runs': 'Jalan dari backup',
  'files.browse': 'Jelajahi berkas',
  'files.title': 'Berkas backup {backup}',
  'files.where': '{path} di disk {disk} milik {vm} ({fs})',
  'files.up': 'Naik satu tingkat',
  'files.name': 'Nama',
  'files.size': 'Ukuran',
  'files.modified': 'Diubah',
  'files.download': 'Unduh',
  'files.downloadTar': 'Unduh sebagai tar',
  'files.downloading': 'Mengunduh {name}…',
  'files.downloaded': '{name} telah diunduh ({size}).',
  'files.empty': 'Direktori ini kosong.',
  'files.slow': 'Setiap daftar dan unduhan menjalankan VM pembantu kecil: perlu sebentar.',
  'run.from': 'Jalankan dari backup',
  'run.asName': 'Nama VM yang dijalankan',
  'run.start': 'nyalakan',
  'runs.none': 'Tidak ada VM yang berjalan dari backup.',
  'runs.vm': 'VM',
  'runs.backup': 'Backup',
  'runs.state': 'Status',
  'runs.vmState': 'Status VM',
  'runs.since': 'Sejak',
  'runs.actions': 'Tindakan',
  'runs.stop': 'Hentikan penyajian',
  'runs.persist': 'Jadikan lokal',
  'runs.state.serving': 'disajikan',
  'runs.state.broken': 'rusak: proses penyajinya hilang',
  'runs.state.persisted': 'di disk lokal',
  'runs.state.idle': 'menganggur',
  'runs.started': 'Dimulai: lihat di Jalan dari backup.',
  'confirm.stopRun':
    'Hentikan penyajian backup {backup} padahal VM {vm} masih membacanya? VM berhenti sejenak pada pembacaan backup berikutnya.',
};

export function tr(key: RecoveryKey, params: Record<string, string | number> = {}): string {
  const text = (lang() === 'id' ? id : en)[key];
  return text.replace(/\{(\w+)\}/g, (_m, n: string) => String(params[n] ?? ''));
}
