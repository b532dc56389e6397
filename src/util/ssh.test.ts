import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { test } from 'node:test';
import { controlPath, sshOptions, sshReason, type SshTarget } from './ssh.js';

const target = (keyfile: string | undefined): SshTarget => ({
  host: 'h',
  port: 22,
  user: 'root',
  keyfile,
  knownHosts: undefined,
  noVerify: false,
  command: 'ssh',
});

function option(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length - 1; i++) {
    if (args[i] === '-o' && args[i + 1]!.startsWith(`${name}=`)) {
      return args[i + 1]!.slice(name.length + 1);
    }
  }
  return undefined;
}

test('sessions share one ssh connection per key, in a private directory of this user', () => {
  const a = sshOptions(target('/k1'));
  assert.equal(option(a, 'ControlMaster'), 'auto');
  const path = option(a, 'ControlPath')!;
  const st = statSync(dirname(path));
  assert.equal(st.mode & 0o777, 0o700);
  assert.equal(st.uid, process.getuid!());
  // Another key never rides a connection a first key opened.
  assert.notEqual(option(sshOptions(target('/k2')), 'ControlPath'), path);
  assert.equal(option(sshOptions(target('/k1')), 'ControlPath'), path);
});

test('a temp directory too long for a unix socket path means no sharing, not a refused ssh', () => {
  const t = target('/k1');
  const short = controlPath('/tmp/brankas-ssh-0', t)!;
  assert.ok(short.startsWith('/tmp/brankas-ssh-0/'));
  // ssh first listens on the path plus a 17-character suffix; a unix socket path holds 107.
  assert.ok(short.length + 17 <= 107);
  const long = `/var/tmp/${'d'.repeat(60)}/brankas-ssh-0`;
  assert.equal(controlPath(long, t), null);
  // Another host, port or user is another connection.
  assert.notEqual(controlPath('/tmp/x', { ...t, host: 'h2' }), controlPath('/tmp/x', t));
  assert.notEqual(controlPath('/tmp/x', { ...t, port: 2222 }), controlPath('/tmp/x', t));
  assert.notEqual(controlPath('/tmp/x', { ...t, user: 'u' }), controlPath('/tmp/x', t));
});

test('AES-GCM comes first among OpenSSH’s usual ciphers', () => {
  const ciphers = option(sshOptions(target(undefined)), 'Ciphers')!.split(',');
  assert.equal(ciphers[0], 'aes128-gcm@openssh.com');
  assert.ok(ciphers.includes('chacha20-poly1305@openssh.com'));
});

test('ssh’s reason is its last line, without the known-hosts warning', () => {
  assert.equal(
    sshReason(
      "Warning: Permanently added '[127.0.0.1]:2222' (ED25519) to the list of known hosts.\r\nroot@127.0.0.1: Permission denied (publickey).\n",
    ),
    'root@127.0.0.1: Permission denied (publickey).',
  );
});
