/**
 * Host status against libvirt's test driver: a host whose VMs come and go.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Connection } from '../src/libvirt/index.js';
import { hostStatus } from '../src/engine/status.js';
import { repoPath } from './support/guest.js';

const URI = `test://${repoPath('test', 'fixtures', 'test-host.xml')}`;

let conn: Connection;
before(async () => {
  conn = await Connection.open(URI);
});
after(async () => {
  await conn?.close();
});

test('status leaves out a VM undefined between the listing and its questions', async () => {
  const name = 'brankas-test-vanishing';
  const vm = await conn.defineDomain(
    `<domain type='test'><name>${name}</name><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>`,
  );
  const listed = await conn.listDomains();
  await vm.undefine();
  // The listing as it was a moment before the VM went (as on a host where others work).
  const stale = Object.assign(Object.create(conn) as Connection, {
    listDomains: async () => listed,
  });
  const status = await hostStatus(stale);
  const names = status.map((s) => s.name);
  assert.ok(!names.includes(name), 'the vanished VM is left out');
  assert.equal(names.length, listed.length - 1, 'every other VM is there');
});

test('every domain and its state come in one call, as each domain reports its own', async () => {
  const name = 'brankas-test-running';
  const running = await conn.createDomain(
    `<domain type='test'><name>${name}</name><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>`,
  );
  try {
    const listed = await conn.listDomainsWithState();
    const each = await conn.listDomains();
    assert.deepEqual(listed.map((d) => d.domain.name).sort(), each.map((d) => d.name).sort());
    for (const { domain, state } of listed) assert.deepEqual(state, await domain.state());
    assert.equal(listed.find((d) => d.domain.name === name)?.state.state, 'running');
  } finally {
    await running.destroy();
  }
});
