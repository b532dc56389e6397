/**
 * For tests of the local backend's read handles: how many of this process's
 * file descriptors point into a directory (/proc/self/fd, Linux only), to see
 * that handles are shared, bounded and closed.
 */
import { readdir, readlink } from 'node:fs/promises';

export const needsProcFd = {
  skip: process.platform !== 'linux' && 'counts descriptors in /proc/self/fd',
};

/** The paths of descriptors open on files under dir; a deleted file's ends in ' (deleted)'. */
export async function openFilesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target.startsWith(dir + '/')) out.push(target);
  }
  return out;
}
