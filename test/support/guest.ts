// Test support: names and scratch directories for tests, and the tiny guest (built by
// scripts/build-guest.sh; its domain XML and serial console client live in src/engine/guest/).
//
// The guest (see scripts/build-guest.sh) mounts /dev/vda (ext4) at /data, powers off at once
// on the ACPI power button (virsh shutdown), and, once ready, prints READY_MARKER on ttyS0 and
// serves a non-interactive shell there: raw tty, no echo, no prompt, stderr merged into stdout.

import { randomBytes } from 'node:crypto';
import { chown, mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Domain } from '../../src/libvirt/index.js';
import { guestWorkDir, packageRoot as repoRoot } from '../../src/engine/guest/tiny-guest.js';

/** Every libvirt object and file a test creates is named with this prefix. */
export const TEST_PREFIX = 'brankas-test-';

/** A unique name: `brankas-test-<label>-<random6>` (label reduced to [a-z0-9-]). */
export function testName(label: string): string {
  const clean =
    label
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'x';
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const suffix = Array.from(randomBytes(6), (b) => alphabet[b % alphabet.length]).join('');
  return `${TEST_PREFIX}${clean}-${suffix}`;
}

export interface ScratchDir {
  /** The unique test name the directory is named after (usable as a domain name). */
  name: string;
  /** Absolute path of the directory: `/var/tmp/brankas-guests-<uid>/<name>`. */
  path: string;
  /** Removes the directory and everything in it. Never throws. */
  remove: () => Promise<void>;
}

/**
 * A fresh per-test directory under `/var/tmp/brankas-guests-<uid>/`, for disk copies, serial
 * sockets and backups: private (mode 0711, src/engine/guest/work-dir.ts); libvirt gives a disk to
 * QEMU's user while the guest runs and creates the serial sockets itself.
 */
export async function makeScratchDir(label: string): Promise<ScratchDir> {
  const name = testName(label);
  const path = await guestWorkDir(name);
  return {
    name,
    path,
    remove: async () => {
      await rm(path, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}

/**
 * A directory in `parent` in which QEMU itself may create files: a socket it binds, as
 * nbd-server-start does for a pull-mode backup. Mode 0700, given to the user and group libvirt
 * runs this domain's QEMU as (the DAC label in the running domain's XML; without one QEMU runs
 * as this user). Nothing world-writable.
 */
export async function qemuWritableDir(
  parent: string,
  domain: Domain,
  name = 'qemu',
): Promise<string> {
  const label = /<seclabel[^>]*model='dac'[^>]*>\s*<label>\+?(\d+):\+?(\d+)<\/label>/.exec(
    await domain.xml(),
  );
  const dir = join(parent, name);
  await mkdir(dir, { mode: 0o700 });
  if (label) await chown(dir, Number(label[1]), Number(label[2]));
  return dir;
}

export { SerialConsole, READY_MARKER } from '../../src/engine/guest/serial-console.js';
export {
  BOOT_TIMEOUT_MS,
  GUEST_CMDLINE,
  ensureGuestImages,
  guestDomainXml,
  packageRoot as repoRoot,
} from '../../src/engine/guest/tiny-guest.js';
export type {
  GuestDisk,
  GuestDomainOptions,
  GuestImages,
} from '../../src/engine/guest/tiny-guest.js';
export type { CommandResult } from '../../src/engine/guest/serial-console.js';

/** Absolute path of a file in the repository (for scripts and fixtures). */
export function repoPath(...parts: string[]): string {
  return resolve(repoRoot(), ...parts);
}
