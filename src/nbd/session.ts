/**
 * Connection plumbing shared by the client's entry points: where to connect,
 * running a handshake step with a deadline over a fresh wire (and leaving
 * politely, with NBD_OPT_ABORT, when the server refuses an option), and
 * ending a wire gracefully.
 */
import { Opt } from './constants.js';
import { ByteReader } from './byte-reader.js';
import { NbdClientError, NbdOptionError } from './errors.js';
import type { HandshakeIo } from './handshake.js';
import type { NbdTarget, Wire } from './transport.js';
import { encodeOption } from './wire.js';

/** How long a server may take to close after we ended the connection. */
export const CLOSE_TIMEOUT_MS = 5000;

export function targetOf(
  options: Partial<{ socketPath: string; host: string; port: number }>,
): NbdTarget {
  if (options.socketPath) return { socketPath: options.socketPath };
  if (options.host && options.port !== undefined) return { host: options.host, port: options.port };
  throw new NbdClientError('NBD_INVALID_ARGUMENT', 'NBD target needs socketPath, or host and port');
}

/**
 * Runs a handshake step over the wire with a deadline; resolves with its
 * result and the bytes the server sent beyond it (for the dispatcher). On an
 * option error the session is ended politely, as the protocol asks of
 * clients; on any other failure the wire is destroyed.
 */
export async function handshaking<T>(
  wire: Wire,
  where: string,
  timeoutMs: number,
  step: (io: HandshakeIo) => Promise<T>,
): Promise<{ result: T; leftover: Buffer }> {
  const reader = new ByteReader();
  wire.attach({
    data: (chunk) => reader.push(chunk),
    end: (err) =>
      reader.fail(
        new NbdClientError(
          'NBD_CONNECTION_CLOSED',
          `the NBD server at ${where} closed the connection during the handshake` +
            (err ? `: ${err.message}` : ''),
          err ? { cause: err } : undefined,
        ),
      ),
  });
  const timer =
    timeoutMs > 0
      ? setTimeout(
          () =>
            reader.fail(
              new NbdClientError(
                'NBD_TIMEOUT',
                `the NBD server at ${where} did not complete the handshake within ${timeoutMs} ms`,
              ),
            ),
          timeoutMs,
        )
      : undefined;
  try {
    const result = await step({ reader, write: (bytes) => wire.write(bytes) });
    return { result, leftover: reader.drain() };
  } catch (err) {
    const refused =
      err instanceof NbdOptionError ||
      (err instanceof NbdClientError && err.code === 'NBD_META_CONTEXT_UNAVAILABLE');
    if (refused) {
      wire.write(encodeOption(Opt.ABORT));
      wire.end();
      setTimeout(() => wire.destroy(), CLOSE_TIMEOUT_MS).unref();
    } else {
      wire.destroy();
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Ends the socket and waits until it is closed (destroying it if the server lingers). */
export function endWire(wire: Wire): Promise<void> {
  if (wire.stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => wire.destroy(), CLOSE_TIMEOUT_MS);
    wire.stream.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    wire.end();
  });
}
