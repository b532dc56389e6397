/**
 * Messages of `brankas doctor` about persistent dirty bitmaps no checkpoint
 * names (src/engine/doctor/bitmaps.ts), in English and Indonesian.
 */

export const en = {
  'doctor.orphanBitmap':
    '  {vm}: bitmap {bitmap} in {image} ({disk}) is named by no checkpoint (a killed backup, or a checkpoint deleted with --metadata-only): remove it',
  'doctor.foreignBitmap':
    '  {vm}: bitmap {bitmap} in {image} ({disk}) is named by no checkpoint, but brankas did not make it: left alone',
} as const;

export const id: Record<keyof typeof en, string> = {
  'doctor.orphanBitmap':
    '  {vm}: bitmap {bitmap} di {image} ({disk}) tidak disebut checkpoint mana pun (backup yang dimatikan, atau checkpoint yang dihapus dengan --metadata-only): hapus',
  'doctor.foreignBitmap':
    '  {vm}: bitmap {bitmap} di {image} ({disk}) tidak disebut checkpoint mana pun, tetapi bukan buatan brankas: dibiarkan',
};
