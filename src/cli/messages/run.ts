/**
 * Messages of `brankas run` (src/cli/commands/run.ts), in English and Indonesian; src/cli/i18n.ts
 * joins them.
 */

export const en = {
  'run.defined':
    "VM '{vm}' defined over backup {backup} of {source}{started}; its disks are overlays over the backup, served by process {pid}.",
  'run.startedSuffix': ', and started',
  'run.disk': '  {disk}: {overlay} (backing: {socket}, {size})',
  'run.next':
    'Writes go to the overlays. brankas run --persist {vm} copies the disks to local storage while it runs; brankas run --stop {vm} stops serving once nothing depends on it.',
  'run.plan': "Would define VM '{vm}' over backup {backup} of {source} (nothing was done):",
  'run.none': 'No VM runs from a backup here.',
  'run.row': '{vm}  {state}  backup {backup}  server {pid} {alive}  VM {vmState}{paused}',
  'run.alive': '(running)',
  'run.gone': '(gone)',
  'run.pausedIo': ' (paused at a read the backup could not answer)',
  'run.brokenHint':
    "  The serving process of '{vm}' is gone and the VM still reads from it: brankas run --resume {vm} serves it again.",
  'run.stopped': "Stopped serving backup {backup} for VM '{vm}'.",
  'run.stoppedForced':
    "Stopped serving backup {backup} for VM '{vm}' although it still reads from it (--force): the VM pauses at its next read of the backup.",
  'run.resumed': "Backup {backup} is served for VM '{vm}' (process {pid}){resumedVm}.",
  'run.resumedVmSuffix': '; the VM was paused at a read and runs again',
  'run.persisted':
    "VM '{vm}' now runs from local disks ({disks}) in {seconds} s; backup {backup} is no longer served.",
} as const;

export const id: Record<keyof typeof en, string> = {
  'run.defined':
    "VM '{vm}' didefinisikan di atas backup {backup} dari {source}{started}; disknya overlay di atas backup, dilayani proses {pid}.",
  'run.startedSuffix': ', dan dijalankan',
  'run.disk': '  {disk}: {overlay} (dasar: {socket}, {size})',
  'run.next':
    'Tulisan masuk ke overlay. brankas run --persist {vm} menyalin disk ke penyimpanan lokal sambil VM berjalan; brankas run --stop {vm} berhenti melayani setelah tidak ada yang bergantung padanya.',
  'run.plan':
    "Akan mendefinisikan VM '{vm}' di atas backup {backup} dari {source} (belum ada yang dilakukan):",
  'run.none': 'Tidak ada VM yang berjalan dari backup di sini.',
  'run.row': '{vm}  {state}  backup {backup}  server {pid} {alive}  VM {vmState}{paused}',
  'run.alive': '(berjalan)',
  'run.gone': '(hilang)',
  'run.pausedIo': ' (berhenti sejenak pada pembacaan yang tidak bisa dijawab backup)',
  'run.brokenHint':
    "  Proses yang melayani '{vm}' sudah hilang dan VM masih membaca darinya: brankas run --resume {vm} melayaninya lagi.",
  'run.stopped': "Berhenti melayani backup {backup} untuk VM '{vm}'.",
  'run.stoppedForced':
    "Berhenti melayani backup {backup} untuk VM '{vm}' walau VM masih membaca darinya (--force): VM berhenti sejenak pada pembacaan backup berikutnya.",
  'run.resumed': "Backup {backup} dilayani untuk VM '{vm}' (proses {pid}){resumedVm}.",
  'run.resumedVmSuffix': '; VM yang tadi berhenti pada pembacaan berjalan lagi',
  'run.persisted':
    "VM '{vm}' kini berjalan dari disk lokal ({disks}) dalam {seconds} dtk; backup {backup} tidak dilayani lagi.",
};
