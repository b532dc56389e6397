/**
 * The live jobs' directories doctor looks at, wherever the connection's VMs
 * live (remote/host.ts): on this machine, `workRoot` read directly; on a
 * `qemu+ssh://` host, /var/tmp there (remote/job-dir.ts makes them) listed by
 * one short shell command over ssh, with each marker and age. A remote
 * directory that a process there still names on its command line is in use
 * (a remote live backup's session script names its directory, whichever
 * machine's brankas runs it; this machine's job locks cannot tell) and is
 * left out. Removal is `rm -rf` there, only of names of the job form.
 */
import { rm, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { shellQuote, type SshTarget } from '../../util/ssh.js';
import { parseMarker, workDirs, WORK_DIR_PREFIX, type WorkDir } from '../backup/live/leftovers.js';
import { remoteRun } from '../remote/disk-sink.js';
import { dataHostOf, type DataHost } from '../remote/host.js';
import { REMOTE_WORK_ROOT } from '../remote/job-dir.js';
import type { Connection } from '../../libvirt/index.js';

export interface FoundDir extends WorkDir {
  /** Milliseconds since it was last modified. */
  ageMs: number;
}

/** `brankas-live-<random>`, or `brankas-live-<pid>-<random>` (util/private-temp.ts). */
const NAME = new RegExp(`^${WORK_DIR_PREFIX}(\\d+-)?[A-Za-z0-9]+$`);

/** Where the connection's job directories are; none for a host without a data path (qemu+tcp). */
export function jobDirHost(conn: Pick<Connection, 'uri'>): DataHost | undefined {
  try {
    return dataHostOf(conn);
  } catch {
    return undefined;
  }
}

export async function listJobDirs(
  host: DataHost | undefined,
  workRoot: string | undefined,
): Promise<FoundDir[]> {
  if (host === undefined) return [];
  if (host.kind === 'ssh') return listRemote(host.ssh, workRoot ?? REMOTE_WORK_ROOT);
  const out: FoundDir[] = [];
  for (const d of await workDirs(workRoot)) {
    const ageMs = await stat(d.path).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    out.push({ ...d, ageMs });
  }
  return out;
}

/** The listing script: `D name age-seconds`, `M name marker`, then every command line. */
function listScript(root: string): string {
  return [
    `cd ${shellQuote(root)} 2>/dev/null || exit 0`,
    'now=$(date +%s)',
    `for d in ${WORK_DIR_PREFIX}*; do`,
    '  case $d in *[!A-Za-z0-9-]*) continue;; esac',
    '  [ -d "$d" ] || continue',
    `  printf 'D %s %s\\n' "$d" "$((now - $(stat -c %Y "$d")))"`,
    `  if [ -r "$d/job.json" ]; then printf 'M %s ' "$d"; head -c 4096 "$d/job.json" | tr -d '\\n'; echo; fi`,
    'done',
    'echo P',
    "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0\\n' '  '",
  ].join('\n');
}

async function listRemote(ssh: SshTarget, root: string): Promise<FoundDir[]> {
  const out = await remoteRun(ssh, listScript(root), `listing ${root}/${WORK_DIR_PREFIX}*`);
  const cut = out.indexOf('\nP\n');
  const head = cut >= 0 ? out.slice(0, cut) : out.startsWith('P\n') ? '' : out;
  const processes = cut >= 0 ? out.slice(cut + 3) : out.startsWith('P\n') ? out.slice(2) : '';
  const dirs = new Map<string, FoundDir>();
  for (const line of head.split('\n')) {
    const m = /^([DM]) (\S+) (.*)$/.exec(line);
    if (!m || !NAME.test(m[2]!)) continue;
    const path = `${root.replace(/\/+$/, '')}/${m[2]}`;
    if (m[1] === 'D') {
      dirs.set(path, { path, marker: null, ageMs: Number(m[3]) * 1000 });
    } else {
      const d = dirs.get(path);
      if (d) d.marker = parseMarker(m[3]!);
    }
  }
  return [...dirs.values()].filter((d) => !named(processes, d.path));
}

/** Whether `path` appears, as a whole path, in the hosts' command lines. */
function named(processes: string, path: string): boolean {
  for (let at = processes.indexOf(path); at >= 0; at = processes.indexOf(path, at + 1)) {
    if (!/[A-Za-z0-9]/.test(processes[at + path.length] ?? '')) return true;
  }
  return false;
}

/** Removes a job directory on the connection's host. */
export async function removeJobDir(host: DataHost | undefined, path: string): Promise<void> {
  if (host?.kind !== 'ssh') {
    await rm(path, { recursive: true, force: true });
    return;
  }
  if (!NAME.test(basename(path))) return;
  await remoteRun(host.ssh, `rm -rf ${shellQuote(path)}`, `removing ${path}`);
}
