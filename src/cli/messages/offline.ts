/**
 * Messages of the offline incremental (a cold backup reading a shut-off VM's
 * qcow2 bitmaps: docs/offline-incremental.md), in English and Indonesian.
 * The per-disk lines reuse live.disk.*; the reasons only an offline read has are here.
 */

export const en = {
  'live.reason.bitmap-missing': "the disk's image has no bitmap of the parent's checkpoint",
  'live.reason.bitmap-in-use':
    'the bitmap was left in use (QEMU stopped uncleanly): writes may be missing from it',
  'live.reason.bitmap-disabled': 'the bitmap was not recording (disabled)',
  'offline.kept': 'Nothing written since checkpoint {checkpoint}: kept for the next incremental.',
  'offline.checkpointFailed':
    'No checkpoint could be left ({error}): the next backup reads the disks whole.',
} as const;

export const id: Record<keyof typeof en, string> = {
  'live.reason.bitmap-missing': 'image disk ini tidak punya bitmap dari checkpoint induknya',
  'live.reason.bitmap-in-use':
    'bitmap tertinggal dalam status dipakai (QEMU berhenti tidak bersih): mungkin ada tulisan yang tidak tercatat',
  'live.reason.bitmap-disabled': 'bitmap tidak sedang mencatat (dinonaktifkan)',
  'offline.kept':
    'Tidak ada yang ditulis sejak checkpoint {checkpoint}: tetap dipakai untuk inkremental berikutnya.',
  'offline.checkpointFailed':
    'Tidak ada checkpoint yang bisa ditinggalkan ({error}): backup berikutnya membaca disk secara utuh.',
};
