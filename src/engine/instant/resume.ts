/**
 * A VM run from a backup that paused at a read its export could not answer
 * (the serving process was gone, `error_policy='stop'`), let go on once the
 * export serves again. QEMU's NBD client reconnects to the same socket on its
 * own, but the first read it retries may come before it has: the VM then
 * pauses again at once, so the resume is repeated until the VM stays
 * running, by a deadline.
 */
import type { Connection } from '../../libvirt/index.js';
import { lookup } from '../restore/restore.js';

/** virDomainPausedReason VIR_DOMAIN_PAUSED_IOERROR. */
export const PAUSED_IOERROR = 5;

/** How long QEMU may take to reconnect to a served socket. */
const RESUME_DEADLINE_MS = 120_000;
/** How long a resumed VM must stay running to count as going on (it pauses at once otherwise). */
const SETTLE_MS = 1_000;

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** True when the VM was paused for an I/O error and runs again; false when it was not paused so. */
export async function resumeAfterIoError(
  conn: Connection,
  vm: string,
  signal?: AbortSignal,
): Promise<boolean> {
  const domain = await lookup(conn, vm);
  if (!domain) return false;
  let st = await domain.state();
  if (st.state !== 'paused' || st.reason !== PAUSED_IOERROR) return false;
  const deadline = Date.now() + RESUME_DEADLINE_MS;
  for (;;) {
    signal?.throwIfAborted();
    await domain.resume();
    await pause(SETTLE_MS);
    st = await domain.state();
    if (st.state !== 'paused') return true;
    if (Date.now() > deadline) return false;
  }
}
