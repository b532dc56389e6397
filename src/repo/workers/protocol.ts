/** The messages between the chunk pool and its worker threads. */

export type PoolRequest =
  /** A record travels (transferred when it owns its memory), its plaintext comes back. */
  | { seq: number; op: 'decode'; buf: Uint8Array; id: Uint8Array }
  /** An arena's shared memory, announced before any slot operation names it. No reply. */
  | { seq: number; op: 'arena'; arena: number; sab: SharedArrayBuffer | null; slotSize: number }
  /** Slot operations: only slot numbers and lengths travel. */
  | { seq: number; op: 'hashSlot'; arena: number; slot: number; length: number }
  | {
      seq: number;
      op: 'encodeSlot' | 'decodeSlot';
      arena: number;
      slot: number;
      length: number;
      id: Uint8Array;
      to: number;
      /** The arena `to` is in, when not the same. */
      toArena?: number;
    };

export type PoolReply =
  | {
      seq: number;
      ok: true;
      id?: Uint8Array;
      out?: Uint8Array;
      length?: number;
      /** encodeSlot: the payload was left in the chunk's slot (see encodeRecordParts). */
      raw?: boolean;
    }
  | { seq: number; ok: false; error: { message: string; code?: string; where?: unknown } };
