/**
 * The free-space check of a restore onto a remote host, made before anything
 * is written, as space.ts makes it here: every file to write, summed per file
 * system of the host (stat's device number), against what `stat -f` says is
 * free for an unprivileged writer there, in one ssh command. The estimate is
 * space.ts's (`bytesNeeded`); a block device target counts nothing. A disk
 * that does not fit is REMOTE_RESTORE_NO_SPACE, naming the host, the
 * directory, and the bytes needed and free.
 */
import { dirname } from 'node:path';
import { describeSshTarget, shellQuote, type SshTarget } from '../../util/ssh.js';
import { remoteRun } from '../remote/disk-sink.js';
import { EngineError } from '../errors.js';
import { bytesNeeded, type SpaceNeed } from './space.js';

/** Per path: `block`, or the device of its nearest existing directory and the bytes free there. */
function probeScript(paths: string[]): string {
  return [
    'probe() {',
    '  if [ -b "$1" ]; then echo block; return; fi',
    '  d=$(dirname "$1"); while [ ! -e "$d" ]; do d=$(dirname "$d"); done',
    `  printf '%s %s\\n' "$(stat -c %d "$d")" "$(stat -f -c '%a %S' "$d")"`,
    '}',
    ...paths.map((p) => `probe ${shellQuote(p)}`),
  ].join('\n');
}

/** Throws REMOTE_RESTORE_NO_SPACE for the first planned file that does not fit on the host. */
export async function checkRemoteSpace(
  ssh: SshTarget,
  plan: SpaceNeed[],
  backupId: string,
  signal?: AbortSignal,
): Promise<void> {
  if (plan.length === 0) return;
  const out = await remoteRun(
    ssh,
    probeScript(plan.map((n) => n.path)),
    'checking the free space',
    { signal },
  );
  const lines = out.trim().split('\n');
  const byDevice = new Map<string, { free: number; need: number }>();
  for (const [i, n] of plan.entries()) {
    const line = lines[i]?.trim() ?? '';
    if (line === 'block') continue;
    const m = /^(\d+) (\d+) (\d+)$/.exec(line);
    if (!m) {
      throw new EngineError(
        'REMOTE_COMMAND_FAILED',
        `checking the free space for ${n.path} on ${ssh.host} gave no answer: '${line}'`,
        { details: { host: ssh.host, exitCode: 0, stderr: '' } },
      );
    }
    let fs = byDevice.get(m[1]!);
    if (!fs) {
      fs = { free: Number(m[2]) * Number(m[3]), need: 0 };
      byDevice.set(m[1]!, fs);
    }
    fs.need += bytesNeeded(n);
    if (fs.need > fs.free) {
      const host = describeSshTarget(ssh);
      const dir = dirname(n.path);
      throw new EngineError(
        'REMOTE_RESTORE_NO_SPACE',
        `not enough space in ${dir} on ${host} to restore ${n.disk.name} of backup ${backupId} ` +
          `(${fs.need} bytes needed with what comes before it, ${fs.free} bytes free); nothing was written. ` +
          'Free some space there or restore --to another directory.',
        {
          details: {
            host,
            dir,
            disk: n.disk.name,
            backup: backupId,
            neededBytes: fs.need,
            freeBytes: fs.free,
          },
        },
      );
    }
  }
}
