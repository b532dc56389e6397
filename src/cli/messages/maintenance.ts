/**
 * Messages of `brankas repo prune` and `repo gc` (src/cli/commands/repo.ts) when stopped, in
 * English and Indonesian.
 */

export const en = {
  'maintenance.stopped':
    'Stopped at a safe point: the repository is consistent; what is left is done by the next gc.',
} as const;

export const id: Record<keyof typeof en, string> = {
  'maintenance.stopped':
    'Dihentikan pada titik aman: repositori tetap konsisten; sisanya dikerjakan oleh gc berikutnya.',
};
