import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TCP_PORT, parseUri, SYSTEM_SOCKET, SYSTEM_SOCKET_RO } from './uri.js';
import { sshArgs, sshRemoteCommand } from './transport.js';
import { LibvirtClientError } from './errors.js';

/** The args without connection sharing and cipher order (src/util/ssh.test.ts checks those). */
function withoutSharing(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (
      args[i] === '-o' &&
      /^(ControlMaster|ControlPath|ControlPersist|Ciphers)=/.test(args[i + 1] ?? '')
    ) {
      i++;
      continue;
    }
    out.push(args[i]!);
  }
  return out;
}

function isBadUri(err: unknown): boolean {
  return err instanceof LibvirtClientError && err.code === 'LIBVIRT_BAD_URI';
}

describe('parseUri', () => {
  test('qemu:///system uses the system unix socket and asks for qemu:///system', () => {
    const p = parseUri('qemu:///system');
    assert.equal(p.uri, 'qemu:///system');
    assert.equal(p.driver, 'qemu');
    assert.deepEqual(p.transport, { kind: 'unix', path: '/run/libvirt/libvirt-sock' });
    assert.equal(SYSTEM_SOCKET, '/run/libvirt/libvirt-sock');
    assert.equal(p.name, 'qemu:///system');
    assert.equal(p.readOnly, false);
  });

  test('a read-only connection uses the read-only socket', () => {
    const p = parseUri('qemu:///system', { readOnly: true });
    assert.deepEqual(p.transport, { kind: 'unix', path: '/run/libvirt/libvirt-sock-ro' });
    assert.equal(SYSTEM_SOCKET_RO, '/run/libvirt/libvirt-sock-ro');
    assert.equal(p.readOnly, true);
    assert.equal(p.name, 'qemu:///system');
  });

  test('the socket parameter picks the unix socket and is not passed on in the name', () => {
    const p = parseUri('qemu:///system?socket=/x');
    assert.deepEqual(p.transport, { kind: 'unix', path: '/x' });
    assert.equal(p.name, 'qemu:///system');
  });

  test('an explicit +unix transport is the same as none', () => {
    const p = parseUri('qemu+unix:///system');
    assert.deepEqual(p.transport, { kind: 'unix', path: SYSTEM_SOCKET });
    assert.equal(p.name, 'qemu:///system');
  });

  test('test:///tmp/x.xml keeps its file path in the name', () => {
    const p = parseUri('test:///tmp/x.xml');
    assert.equal(p.driver, 'test');
    assert.equal(p.transport.kind, 'unix');
    assert.equal(p.name, 'test:///tmp/x.xml');
  });

  test('parameters that are not the transport’s stay in the name', () => {
    const p = parseUri('qemu:///system?socket=/x&foo=bar');
    assert.equal(p.name, 'qemu:///system?foo=bar');
  });

  test('qemu+tcp://host/system connects to port 16509 and asks for qemu:///system', () => {
    const p = parseUri('qemu+tcp://host/system');
    assert.deepEqual(p.transport, { kind: 'tcp', host: 'host', port: 16509 });
    assert.equal(DEFAULT_TCP_PORT, 16509);
    assert.equal(p.name, 'qemu:///system');
  });

  test('a bracketed IPv6 host with a port is read as host and port', () => {
    const p = parseUri('qemu+tcp://[::1]:1234/system');
    assert.deepEqual(p.transport, { kind: 'tcp', host: '::1', port: 1234 });
    assert.equal(p.name, 'qemu:///system');
  });

  test('qemu+ssh with user, port and transport parameters removes them from the name', () => {
    const p = parseUri('qemu+ssh://user@host:2222/system?keyfile=/k&no_verify=1');
    assert.deepEqual(p.transport, {
      kind: 'ssh',
      host: 'host',
      port: 2222,
      user: 'user',
      keyfile: '/k',
      knownHosts: undefined,
      noVerify: true,
      socket: undefined,
      command: 'ssh',
      netcat: 'nc',
      proxy: 'auto',
    });
    assert.equal(p.name, 'qemu:///system');
  });

  test('every ssh transport parameter is consumed, other parameters are kept', () => {
    const p = parseUri(
      'qemu+ssh://h/system?known_hosts=/kh&no_tty=1&command=/usr/bin/ssh&netcat=nc&proxy=netcat&mode=legacy&socket=/s&keep=1',
    );
    assert.equal(p.name, 'qemu:///system?keep=1');
    assert.equal(p.transport.kind, 'ssh');
    if (p.transport.kind !== 'ssh') return;
    assert.equal(p.transport.knownHosts, '/kh');
    assert.equal(p.transport.command, '/usr/bin/ssh');
    assert.equal(p.transport.proxy, 'netcat');
    assert.equal(p.transport.socket, '/s');
    assert.equal(p.transport.port, undefined);
    assert.equal(p.transport.user, undefined);
  });

  test('a socket or netcat parameter on ssh selects the netcat proxy', () => {
    for (const uri of ['qemu+ssh://h/system?socket=/s', 'qemu+ssh://h/system?netcat=nc']) {
      const p = parseUri(uri);
      assert.equal(p.transport.kind === 'ssh' && p.transport.proxy, 'netcat', uri);
    }
  });

  test('an unknown hypervisor driver is a bad URI', () => {
    assert.throws(() => parseUri('nosuch:///system'), isBadUri);
  });

  test('an unknown transport is a bad URI', () => {
    assert.throws(() => parseUri('qemu+carrier://host/system'), isBadUri);
  });

  test('the tcp and ssh transports without a host are bad URIs', () => {
    assert.throws(() => parseUri('qemu+tcp:///system'), isBadUri);
    assert.throws(() => parseUri('qemu+ssh:///system'), isBadUri);
  });

  test('a unix transport with a host is a bad URI', () => {
    assert.throws(() => parseUri('qemu+unix://host/system'), isBadUri);
  });

  test('garbage is a bad URI', () => {
    for (const uri of ['', 'garbage', 'qemu:/system', '://x', 'qemu:///system#frag', 'http//x']) {
      assert.throws(() => parseUri(uri), isBadUri, JSON.stringify(uri));
    }
  });

  test('tls, explicit or implied by a host without transport, is not supported yet', () => {
    assert.throws(
      () => parseUri('qemu+tls://host/system'),
      (err: unknown) => {
        assert.ok(isBadUri(err));
        assert.match((err as Error).message, /tls/);
        return true;
      },
    );
    assert.throws(() => parseUri('qemu://host/system'), isBadUri);
  });

  test('a port out of range or not a number is a bad URI', () => {
    assert.throws(() => parseUri('qemu+tcp://host:0/system'), isBadUri);
    assert.throws(() => parseUri('qemu+tcp://host:65536/system'), isBadUri);
    assert.throws(() => parseUri('qemu+tcp://host:http/system'), isBadUri);
  });

  test('an unknown ssh proxy is a bad URI', () => {
    assert.throws(() => parseUri('qemu+ssh://h/system?proxy=carrier'), isBadUri);
  });

  test('a bad URI error names the URI', () => {
    assert.throws(
      () => parseUri('nosuch:///system'),
      (err: unknown) => {
        assert.ok(err instanceof LibvirtClientError);
        assert.match(err.message, /nosuch:\/\/\/system/);
        assert.equal(err.details['uri'], 'nosuch:///system');
        return true;
      },
    );
  });
});

describe('ssh transport command line', () => {
  test('the netcat proxy runs nc on the given socket', () => {
    const p = parseUri('qemu+ssh://root@host/system?socket=/var/run/libvirt/libvirt-sock');
    assert.equal(sshRemoteCommand(p), "nc -U '/var/run/libvirt/libvirt-sock'");
    assert.deepEqual(withoutSharing(sshArgs(p)), [
      '-T',
      '-e',
      'none',
      '-o',
      'BatchMode=yes',
      '-l',
      'root',
      '--',
      'host',
      "nc -U '/var/run/libvirt/libvirt-sock'",
    ]);
  });

  test('the netcat proxy without a socket uses the system socket, or the read-only one', () => {
    assert.equal(
      sshRemoteCommand(parseUri('qemu+ssh://h/system?proxy=netcat')),
      "nc -U '/run/libvirt/libvirt-sock'",
    );
    assert.equal(
      sshRemoteCommand(parseUri('qemu+ssh://h/system?proxy=netcat', { readOnly: true })),
      "nc -U '/run/libvirt/libvirt-sock-ro'",
    );
  });

  test('the netcat parameter names the netcat binary run on the remote host', () => {
    const p = parseUri('qemu+ssh://h/system?netcat=/usr/bin/ncat');
    assert.match(sshRemoteCommand(p), /^'?\/usr\/bin\/ncat'? -U /);
  });

  test('the auto proxy prefers virt-ssh-helper and falls back to netcat, quoted for the remote shell', () => {
    const p = parseUri('qemu+ssh://user@host:2222/system?keyfile=/k&no_verify=1');
    const inner =
      "if command -v virt-ssh-helper >/dev/null 2>&1; then exec virt-ssh-helper 'qemu:///system'; " +
      "else exec nc -U '/run/libvirt/libvirt-sock'; fi";
    const remote = `sh -c '${inner.replace(/'/g, `'\\''`)}'`;
    assert.equal(sshRemoteCommand(p), remote);
    assert.equal(
      remote,
      "sh -c 'if command -v virt-ssh-helper >/dev/null 2>&1; then exec virt-ssh-helper '\\''qemu:///system'\\''; else exec nc -U '\\''/run/libvirt/libvirt-sock'\\''; fi'",
    );
    assert.deepEqual(withoutSharing(sshArgs(p)), [
      '-T',
      '-e',
      'none',
      '-o',
      'BatchMode=yes',
      '-p',
      '2222',
      '-l',
      'user',
      '-i',
      '/k',
      '-o',
      'StrictHostKeyChecking=no',
      '--',
      'host',
      remote,
    ]);
  });

  test('the auto proxy of a read-only connection runs virt-ssh-helper -r and the read-only socket', () => {
    const p = parseUri('qemu+ssh://host/system', { readOnly: true });
    const cmd = sshRemoteCommand(p);
    assert.match(cmd, /exec virt-ssh-helper -r '\\''qemu:\/\/\/system'\\''/);
    assert.match(cmd, /nc -U '\\''\/run\/libvirt\/libvirt-sock-ro'\\''/);
  });

  test('the native proxy runs virt-ssh-helper with the name, and known_hosts becomes an ssh option', () => {
    const p = parseUri('qemu+ssh://host/system?proxy=native&known_hosts=/kh');
    assert.equal(sshRemoteCommand(p), "virt-ssh-helper 'qemu:///system'");
    assert.deepEqual(withoutSharing(sshArgs(p)), [
      '-T',
      '-e',
      'none',
      '-o',
      'BatchMode=yes',
      '-o',
      'UserKnownHostsFile=/kh',
      '--',
      'host',
      "virt-ssh-helper 'qemu:///system'",
    ]);
  });

  test('sshArgs refuses a URI that is not ssh', () => {
    assert.throws(() => sshArgs(parseUri('qemu:///system')));
    assert.throws(() => sshRemoteCommand(parseUri('qemu+tcp://h/system')));
  });
});
