/**
 * The client's transports and failure paths against the real libvirtd:
 * unix (read-write and read-only), TCP, SSH, and what happens when the
 * daemon is missing, dies mid-call, or stops answering.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Connection, isConnectionLost, SYSTEM_SOCKET_RO } from '../src/libvirt/index.js';
import { CONNECT_GET_HOSTNAME } from '../src/libvirt/calls.js';
import { DaemonProxy } from './support/proxy.js';
import { TestSshd } from './support/sshd.js';

describe('unix socket', () => {
  test('qemu:///system opens over the default socket', async () => {
    const c = await Connection.open('qemu:///system');
    try {
      assert.equal(await c.hypervisorType(), 'QEMU');
    } finally {
      await c.close();
    }
  });

  test('a read-only connection uses the read-only socket and may not change anything', async () => {
    const c = await Connection.open('qemu:///system', { readOnly: true });
    try {
      assert.equal(c.uri.transport.kind === 'unix' && c.uri.transport.path, SYSTEM_SOCKET_RO);
      await c.listDomains();
      await assert.rejects(
        c.defineDomain('<domain type="qemu"><name>brankas-test-ro</name></domain>'),
        { code: 'LIBVIRT_OPERATION_DENIED' },
      );
    } finally {
      await c.close();
    }
  });

  test('a socket that is not there is a clear error naming the socket', async () => {
    await assert.rejects(Connection.open('qemu:///system?socket=/run/brankas-test-none.sock'), {
      code: 'LIBVIRT_CONNECT_FAILED',
      message: /brankas-test-none\.sock.*is libvirtd running/,
    });
  });

  test('an unknown URI scheme is a clear error naming the URI', async () => {
    await assert.rejects(Connection.open('vmware:///nothing'), {
      code: 'LIBVIRT_BAD_URI',
      message: /vmware:\/\/\/nothing/,
    });
  });
});

describe('tcp', () => {
  let proxy: DaemonProxy;
  before(async () => {
    proxy = await DaemonProxy.start();
  });
  after(async () => {
    await proxy.close();
  });

  test('qemu+tcp:// talks to the daemon over TCP', async () => {
    const c = await Connection.open(`qemu+tcp://127.0.0.1:${proxy.port}/system`);
    try {
      assert.equal(await c.hypervisorType(), 'QEMU');
      assert.equal(c.uri.name, 'qemu:///system');
    } finally {
      await c.close();
    }
  });

  test('a daemon that dies mid-call rejects the call and every later call', async () => {
    const c = await Connection.open(`qemu+tcp://127.0.0.1:${proxy.port}/system`);
    const closed = new Promise((resolve) => c.rpc.once('close', resolve));
    const calls = [c.capabilities(), c.listDomains(), c.hostname()];
    proxy.cut();
    for (const call of calls) {
      await assert.rejects(call, (e: unknown) => isConnectionLost(e));
    }
    await closed;
    await assert.rejects(c.hostname(), { code: 'LIBVIRT_CONNECTION_CLOSED' });
    await c.close();
  });

  test('a call that never returns times out with an error naming the call', async () => {
    const p = await DaemonProxy.start();
    const c = await Connection.open(`qemu+tcp://127.0.0.1:${p.port}/system`, {
      keepaliveIntervalMs: 0,
    });
    try {
      p.blackhole();
      await assert.rejects(
        c.call(CONNECT_GET_HOSTNAME, undefined, {
          timeoutMs: 300,
        }),
        {
          code: 'LIBVIRT_TIMEOUT',
          message: /CONNECT_GET_HOSTNAME.*300 ms/,
        },
      );
    } finally {
      c.destroy();
      await p.close();
    }
  });

  test('keepalive notices a peer that stopped answering', async () => {
    const p = await DaemonProxy.start();
    const c = await Connection.open(`qemu+tcp://127.0.0.1:${p.port}/system`, {
      keepaliveIntervalMs: 50,
      keepaliveCount: 3,
    });
    try {
      const closed = new Promise<Error>((resolve) => c.rpc.once('close', resolve));
      p.blackhole();
      const reason = await closed;
      assert.equal((reason as { code?: string }).code, 'LIBVIRT_KEEPALIVE_TIMEOUT');
      assert.equal(c.closed, true);
    } finally {
      c.destroy();
      await p.close();
    }
  });

  test('a port where no daemon listens is a clear error', async () => {
    const p = await DaemonProxy.start();
    const port = p.port;
    await p.close();
    await assert.rejects(Connection.open(`qemu+tcp://127.0.0.1:${port}/system`), {
      code: 'LIBVIRT_CONNECT_FAILED',
      message: new RegExp(`127\\.0\\.0\\.1:${port}`),
    });
  });
});

describe('ssh', () => {
  let sshd: TestSshd;
  before(async () => {
    sshd = await TestSshd.start();
  });
  after(async () => {
    await sshd?.stop();
  });

  const uri = (extra = ''): string =>
    `qemu+ssh://root@127.0.0.1:${sshd.port}/system?keyfile=${sshd.clientKey}&known_hosts=${sshd.knownHosts}${extra}`;

  test('qemu+ssh:// reaches the daemon through virt-ssh-helper', async () => {
    const c = await Connection.open(uri());
    try {
      assert.equal(await c.hypervisorType(), 'QEMU');
      // (Not capabilities: through virt-ssh-helper that call takes 15-20 s here, for virsh too.)
      assert.ok(Array.isArray(await c.listDomains()));
    } finally {
      await c.close();
    }
  });

  test('qemu+ssh:// with socket= reaches the daemon through netcat', async () => {
    const c = await Connection.open(uri('&socket=/run/libvirt/libvirt-sock'));
    try {
      assert.equal(await c.hypervisorType(), 'QEMU');
    } finally {
      await c.close();
    }
  });

  test('an ssh login that fails is a clear error with ssh’s own words', async () => {
    await assert.rejects(
      Connection.open(
        `qemu+ssh://nobody-brankas@127.0.0.1:${sshd.port}/system?keyfile=${sshd.clientKey}&known_hosts=${sshd.knownHosts}`,
      ),
      (e: unknown) => {
        const err = e as { code?: string; message: string };
        // ssh's own reason, not the closed connection it left behind.
        assert.equal(err.code, 'SSH_FAILED');
        assert.match(
          err.message,
          /^ssh to nobody-brankas@127\.0\.0\.1:\d+ failed: .*Permission denied/,
        );
        return true;
      },
    );
  });
});
