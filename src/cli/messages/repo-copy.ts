/**
 * Messages of `brankas repo copy` (src/cli/commands/repo-copy.ts), in English and Indonesian.
 */

export const en = {
  'copy.fromPasswordPrompt': 'Password of the source repository: ',
  'copy.sharedIds':
    'Chunks have the same ids in both repositories: chunks the target has are not read.',
  'copy.ownIds':
    'The repositories name chunks differently (keys, hash or chunk size): chunks are read from the source and stored under the target keys; a backup whose earlier backup is already copied is read only where it changed.',
  'copy.state.copy': 'to copy',
  'copy.state.present': 'already there',
  'copy.state.conflict': 'conflict: {reason}',
  'copy.head.backup': 'BACKUP',
  'copy.head.vm': 'VM',
  'copy.head.started': 'STARTED',
  'copy.head.data': 'DATA',
  'copy.head.state': 'STATE',
  'copy.dry':
    'Dry run: {count} backup(s) would be copied from {from} to {to}, {present} already there, {conflicts} conflict(s).',
  'copy.adopted':
    'Found {packs} pack(s) ({chunks} chunks) that an interrupted copy had sent: indexed, not sent again.',
  'copy.backup': 'Copying {id} ({vm}), {n} of {total}...',
  'copy.progress': '{read} read, {stored} sent',
  'copy.copied':
    '  {id}: {chunks} new chunks, {stored} sent, {read} read from the source, {packs} pack(s) read back',
  'copy.skipped': '  {id}: already in the target',
  'copy.done':
    'Copied {count} backup(s) to {to}: {stored} sent, {read} read from {from}; {present} already there.',
  'copy.nothing': 'Nothing to copy: the target has every chosen backup ({present}).',
  'copy.damaged': 'Not copied: the manifests of {ids} in the source are damaged (repo verify).',
  'copy.interrupted':
    'Stopped. Nothing partial is listed in the target; run the same copy again to go on (what arrived is not sent again).',
} as const;

export const id: Record<keyof typeof en, string> = {
  'copy.fromPasswordPrompt': 'Kata sandi repositori sumber: ',
  'copy.sharedIds':
    'Chunk memiliki id yang sama di kedua repositori: chunk yang sudah ada di target tidak dibaca.',
  'copy.ownIds':
    'Kedua repositori menamai chunk secara berbeda (kunci, hash atau ukuran chunk): chunk dibaca dari sumber dan disimpan dengan kunci target; backup yang backup sebelumnya sudah disalin hanya dibaca pada bagian yang berubah.',
  'copy.state.copy': 'akan disalin',
  'copy.state.present': 'sudah ada',
  'copy.state.conflict': 'konflik: {reason}',
  'copy.head.backup': 'BACKUP',
  'copy.head.vm': 'VM',
  'copy.head.started': 'MULAI',
  'copy.head.data': 'DATA',
  'copy.head.state': 'STATUS',
  'copy.dry':
    'Uji coba: {count} backup akan disalin dari {from} ke {to}, {present} sudah ada, {conflicts} konflik.',
  'copy.adopted':
    'Ditemukan {packs} pack ({chunks} chunk) yang sudah dikirim oleh penyalinan yang terputus: diindeks, tidak dikirim lagi.',
  'copy.backup': 'Menyalin {id} ({vm}), {n} dari {total}...',
  'copy.progress': '{read} dibaca, {stored} dikirim',
  'copy.copied':
    '  {id}: {chunks} chunk baru, {stored} dikirim, {read} dibaca dari sumber, {packs} pack dibaca kembali',
  'copy.skipped': '  {id}: sudah ada di target',
  'copy.done':
    'Menyalin {count} backup ke {to}: {stored} dikirim, {read} dibaca dari {from}; {present} sudah ada.',
  'copy.nothing':
    'Tidak ada yang disalin: target sudah memiliki setiap backup yang dipilih ({present}).',
  'copy.damaged': 'Tidak disalin: manifest {ids} di sumber rusak (repo verify).',
  'copy.interrupted':
    'Berhenti. Tidak ada yang setengah jadi tercantum di target; jalankan penyalinan yang sama lagi untuk melanjutkan (yang sudah tiba tidak dikirim lagi).',
};
