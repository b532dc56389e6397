/**
 * Messages of `brankas backup --consistency shutdown` (src/engine/backup/shutdown-point.ts), in
 * English and Indonesian.
 */

export const en = {
  'consistency.startedPaused':
    '{vm} started again paused: the backup point is taken before the guest runs, then it is resumed.',
  'live.consistency.shut-down':
    'shut-down consistent (the guest shut down cleanly and the point was taken before it ran again; it is running again){why}',
} as const;

export const id: Record<keyof typeof en, string> = {
  'consistency.startedPaused':
    '{vm} dinyalakan kembali dalam keadaan dijeda: titik backup diambil sebelum guest berjalan, lalu dilanjutkan.',
  'live.consistency.shut-down':
    'konsisten shut-down (guest dimatikan dengan bersih dan titik diambil sebelum ia berjalan lagi; kini berjalan kembali){why}',
};
