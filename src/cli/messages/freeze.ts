/**
 * Messages about the guest agent's freeze of a live backup that are not errors (an
 * agent that never answers the freeze), in English and Indonesian; src/cli/i18n.ts joins them.
 */

export const en = {
  'live.why.freeze-timeout': 'its guest agent did not answer the freeze in time (thawed after)',
} as const;

export const id: Record<keyof typeof en, string> = {
  'live.why.freeze-timeout':
    'guest agent-nya tidak menjawab perintah pembekuan tepat waktu (sesudahnya dicairkan)',
};
