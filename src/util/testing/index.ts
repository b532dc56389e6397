/**
 * Helpers for byte-level unit tests of protocol code: a seeded PRNG for
 * repeatable random chunkings, an in-memory socket pair, and waiting without
 * letting the machine's speed decide the outcome. Tests only.
 */
import { Duplex } from 'node:stream';

/**
 * How long a test waits for something that happens at once (an in-memory peer's answer, a
 * handle closed on a timer) before calling it a hang. Far longer than it ever takes: a bound a
 * slow or loaded machine could reach would make the outcome depend on its speed.
 */
export const HANG_MS = 60_000;

/**
 * Polls `check` until it holds, instead of sleeping a fixed time and hoping it does; only a hang
 * (ms, default HANG_MS) fails.
 */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  what: string,
  ms = HANG_MS,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`still waiting after ${ms} ms for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

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
