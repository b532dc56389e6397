// Test support: a wrapper around the system ssh that logs each command line it runs, and the
// qemu+ssh:// URI that makes brankas reach a TestSshd through it, so that a test can say which
// remote commands a step ran (the remote backup and remote live backup tests).

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestSshd } from './sshd.js';

export interface LoggedSsh {
  /** The qemu+ssh:// URI of the sshd's root login through the wrapper (`key`: another key). */
  uri(key?: string): string;
  /** The ssh command lines run since the last call. */
  commands(): Promise<string>;
}

/** Writes the wrapper into the sshd's directory (removed with it). */
export async function loggedSsh(sshd: TestSshd): Promise<LoggedSsh> {
  const log = join(sshd.dir, 'commands.log');
  const wrapper = join(sshd.dir, 'ssh-logged');
  await writeFile(wrapper, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec ssh "$@"\n`, {
    mode: 0o755,
  });
  return {
    uri: (key = sshd.clientKey) =>
      `qemu+ssh://root@127.0.0.1:${sshd.port}/system?keyfile=${key}&known_hosts=${sshd.knownHosts}&command=${wrapper}`,
    commands: async () => {
      const text = await readFile(log, 'utf8').catch(() => '');
      await writeFile(log, '');
      return text;
    },
  };
}
