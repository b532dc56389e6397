/**
 * Messages of `brankas files` (src/cli/commands/files.ts), in English and Indonesian.
 */

export const en = {
  'files.listing': '{path} in {where} of disk {disk}, backup {backup} of {vm}:',
  'files.volume': 'volume {volume} ({fs})',
  'files.partitions': 'the {table} partitions',
  'files.empty': '(empty)',
  'files.extracted':
    'Restored {paths} from disk {disk} of backup {backup} into {to}: {files} file(s), {dirs} directory(ies), {symlinks} symbolic link(s), {size}.',
  'files.skipped': '{count} device or FIFO entry(ies) were not created.',
  'files.archived':
    'Wrote {paths} from disk {disk} of backup {backup} to the tar archive {tar} ({size}).',
} as const;

export const id: Record<keyof typeof en, string> = {
  'files.listing': '{path} di {where} pada disk {disk}, backup {backup} dari {vm}:',
  'files.volume': 'volume {volume} ({fs})',
  'files.partitions': 'partisi {table}',
  'files.empty': '(kosong)',
  'files.extracted':
    'Memulihkan {paths} dari disk {disk} backup {backup} ke {to}: {files} file, {dirs} direktori, {symlinks} link simbolik, {size}.',
  'files.skipped': '{count} entri perangkat atau FIFO tidak dibuat.',
  'files.archived': 'Menulis {paths} dari disk {disk} backup {backup} ke arsip tar {tar} ({size}).',
};
