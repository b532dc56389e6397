/**
 * Who a process is, in a form another process can check later: pid, the
 * process's start time, the boot and the host. A pid alone is not enough
 * (pids are reused, and reboots start over), so a lock or journal written by
 * a process is stale exactly when this identity is no longer alive.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

export interface ProcessIdentity {
  pid: number;
  /** Field 22 of /proc/PID/stat (clock ticks since boot); null without /proc. */
  start: string | null;
  /** /proc/sys/kernel/random/boot_id; null without /proc. */
  boot: string | null;
  host: string;
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** The start time of a process, or null when there is no such process (or no /proc). */
function startTime(pid: number): string | null {
  const stat = readOrNull(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // The command name (field 2) may hold spaces and parentheses: fields count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19] ?? null;
}

function bootId(): string | null {
  return readOrNull('/proc/sys/kernel/random/boot_id')?.trim() ?? null;
}

export function identityOf(pid: number): ProcessIdentity {
  return { pid, start: startTime(pid), boot: bootId(), host: hostname() };
}

export function selfIdentity(): ProcessIdentity {
  return identityOf(process.pid);
}

/** Whether the process an identity names still runs (another host's is taken as alive). */
export function isAlive(p: ProcessIdentity): boolean {
  if (p.host !== hostname()) return true;
  const boot = bootId();
  if (p.boot !== null && boot !== null && p.boot !== boot) return false;
  if (p.start !== null && existsProc()) return startTime(p.pid) === p.start;
  try {
    process.kill(p.pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function existsProc(): boolean {
  return readOrNull('/proc/self/stat') !== null;
}
