/** The messages between the chunk pool and its worker threads. */

export interface PoolRequest {
  seq: number;
  op: 'hash' | 'encode' | 'decode';
  buf: Uint8Array;
  id?: Uint8Array;
}

export type PoolReply =
  | { seq: number; ok: true; id?: Uint8Array; out: Uint8Array }
  | { seq: number; ok: false; error: { message: string; code?: string; where?: unknown } };
