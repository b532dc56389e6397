/**
 * Where throwaway guests keep their disks and serial sockets: one directory per
 * user under /var/tmp (on disk, unlike a tmpfs /tmp, and short enough for a unix
 * socket path's 107 bytes whatever depth the project was cloned at), and in it
 * one directory per guest.
 *
 * /var/tmp is world-writable, so anyone may have made that path first: it is
 * used only when it is what we would have made, a real directory (not a
 * symbolic link) owned by this user and writable by no one else, and refused
 * otherwise. Once checked it cannot be swapped: /var/tmp is sticky, so only its
 * owner may rename or remove the entry.
 *
 * Directories are mode 0711, files 0600, nothing is world-writable. Under
 * qemu:///system QEMU runs as another user (libvirt-qemu) and opens the disks
 * by path, so it must be able to pass through the directories, but it need not
 * list or create anything: libvirt's DAC driver (dynamic_ownership, on by
 * default) gives each disk to the QEMU user while the guest runs and back
 * afterwards, and libvirtd itself creates a bind-mode serial socket and passes
 * it to QEMU.
 */
import { chmod, lstat, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { EngineError } from '../errors.js';

/** Passable for QEMU's user, listable and writable by the owner alone. */
export const GUEST_DIR_MODE = 0o711;

/** A guest's files (disk copies): the owner's, and libvirt's while the guest runs. */
export const GUEST_FILE_MODE = 0o600;

/** This user's root for guest directories: `/var/tmp/brankas-guests-<uid>`. */
export const GUEST_WORK_ROOT = `/var/tmp/brankas-guests-${process.getuid?.() ?? 'user'}`;

/**
 * Makes `path` a directory of this user's with `mode`, or checks that the one there is safe
 * to use as such: not a symbolic link, a directory, owned by this user, writable by no one
 * else (then its mode is set to `mode`). Anything else is GUEST_WORKDIR_UNSAFE, left as it is.
 */
export async function ensurePrivateDir(path: string, mode = GUEST_DIR_MODE): Promise<void> {
  try {
    await mkdir(path, { mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = await lstat(path);
  const me = process.getuid?.();
  let problem: string | undefined;
  if (st.isSymbolicLink()) problem = 'it is a symbolic link';
  else if (!st.isDirectory()) problem = 'it is not a directory';
  else if (me !== undefined && st.uid !== me) problem = `it belongs to uid ${st.uid}, not ${me}`;
  else if ((st.mode & 0o022) !== 0) {
    problem = `others may write to it (mode ${(st.mode & 0o7777).toString(8)})`;
  }
  if (problem !== undefined) {
    throw new EngineError('GUEST_WORKDIR_UNSAFE', `${path} cannot hold guests: ${problem}`, {
      details: { path, problem },
    });
  }
  // mkdir's mode passes through the umask; an existing directory may be wider than needed.
  if ((st.mode & 0o7777) !== mode) await chmod(path, mode);
}

/** A fresh directory for one guest under GUEST_WORK_ROOT (`root` for tests); fails if it exists. */
export async function makeGuestDir(name: string, root = GUEST_WORK_ROOT): Promise<string> {
  if (name !== basename(name) || name === '.' || name === '..' || name === '') {
    throw new EngineError('GUEST_WORKDIR_UNSAFE', `'${name}' cannot name a guest directory`, {
      details: { path: join(root, name), problem: 'not a plain name' },
    });
  }
  await ensurePrivateDir(root);
  const dir = join(root, name);
  await mkdir(dir, { mode: GUEST_DIR_MODE });
  await chmod(dir, GUEST_DIR_MODE);
  return dir;
}
