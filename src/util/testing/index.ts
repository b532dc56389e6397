/**
 * Helpers for byte-level unit tests of protocol code: a seeded PRNG for
 * repeatable random chunkings, and an in-memory socket pair. Tests only.
 */
import { Duplex } from 'node:stream';

/** A small seeded PRNG (mulberry32): the same seed gives the same sequence. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Two in-memory duplexes wired to each other like a connected socket pair:
 * delivery is asynchronous, and when one side ends or is destroyed the other
 * sees the end and closes (no half-open connections, as with net.Socket).
 */
export function socketPair(): [Duplex, Duplex] {
  const sides: Duplex[] = [];
  const eofSent = [false, false];
  const deliver = (to: number, chunk: Buffer | null): void => {
    const other = sides[to]!;
    if (eofSent[to] || other.destroyed) return;
    if (chunk === null) eofSent[to] = true;
    other.push(chunk);
  };
  for (const i of [0, 1]) {
    const to = 1 - i;
    sides.push(
      new Duplex({
        allowHalfOpen: false,
        read() {},
        write(chunk: Buffer, _encoding, callback) {
          setImmediate(() => {
            deliver(to, chunk);
            callback();
          });
        },
        final(callback) {
          setImmediate(() => {
            deliver(to, null);
            callback();
          });
        },
        destroy(err, callback) {
          setImmediate(() => deliver(to, null));
          callback(err);
        },
      }),
    );
  }
  return [sides[0]!, sides[1]!];
}
