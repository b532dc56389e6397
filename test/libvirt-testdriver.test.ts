/**
 * The libvirt client against libvirt's test driver, served by the real
 * libvirtd: every procedure the test driver implements, fast. Each
 * connection to test:///PATH gets a private instance, so tests cannot touch
 * each other or anything real.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Connection,
  DomainUndefine,
  LifecycleEvent,
  SnapshotDelete,
  SnapshotList,
  isNotFound,
  isAlreadyExists,
  lifecycleEventName,
  readDomainXml,
  type DomainEventMap,
} from '../src/libvirt/index.js';
import { waitUntil } from '../src/util/testing/index.js';
import { repoPath } from './support/guest.js';

const FIXTURE = `test://${repoPath('test', 'fixtures', 'test-host.xml')}`;
const WEB = 'brankas-test-web01';
const WEB_UUID = '8f0b0c9e-3a55-4c1e-9c7c-1a2b3c4d5e01';

let conn: Connection;
before(async () => {
  conn = await Connection.open(FIXTURE);
});
after(async () => {
  await conn?.close();
});

describe('connection', () => {
  test('reports host facts: hostname, hypervisor type and versions, capabilities', async () => {
    assert.ok((await conn.hostname()).length > 0);
    assert.equal(await conn.hypervisorType(), 'TEST');
    const lib = await conn.libVersion();
    assert.ok(lib.major >= 9, `libvirt ${lib.major}.${lib.minor}`);
    assert.ok((await conn.hypervisorVersion()).packed > 0);
    assert.match(await conn.capabilities(), /<capabilities>/);
  });

  test('close is idempotent and later calls reject with a typed error', async () => {
    const c = await Connection.open(FIXTURE);
    await c.close();
    await c.close();
    await assert.rejects(c.hostname(), { code: 'LIBVIRT_CONNECTION_CLOSED' });
  });
});

describe('domains', () => {
  test('lists all domains with names and UUIDs', async () => {
    const names = (await conn.listDomains()).map((d) => d.name).sort();
    assert.deepEqual(names, ['brankas-test-app01', 'brankas-test-db01', WEB]);
  });

  test('looks a domain up by name and by UUID', async () => {
    const byName = await conn.lookupDomain(WEB);
    assert.equal(byName.uuid, WEB_UUID);
    const byUuid = await conn.lookupDomainByUuid(WEB_UUID);
    assert.equal(byUuid.name, WEB);
  });

  test('an unknown domain is a not-found error naming it', async () => {
    const err = await conn.lookupDomain('brankas-test-missing').catch((e: unknown) => e);
    assert.ok(isNotFound(err));
    assert.equal((err as { code: string }).code, 'LIBVIRT_NO_DOMAIN');
    assert.match((err as Error).message, /brankas-test-missing/);
  });

  test('reads XML, state and info', async () => {
    const d = await conn.lookupDomain(WEB);
    const facts = readDomainXml(await d.xml());
    assert.equal(facts.name, WEB);
    assert.deepEqual(
      facts.disks.map((x) => [x.target, x.format, x.source]),
      [['vda', 'qcow2', '/guest/web01.qcow2']],
    );
    assert.equal((await d.state()).state, 'running');
    const info = await d.info();
    assert.equal(info.maxMemKiB, 262144n);
    assert.equal(info.vcpus, 1);
    assert.equal(await d.isActive(), true);
    assert.equal(await d.isPersistent(), true);
    const block = await d.blockInfo('vda');
    assert.ok(block.capacity > 0n);
  });

  test('defines, starts, shuts down, destroys and undefines a domain', async () => {
    const xml = (await (await conn.lookupDomain(WEB)).xml())
      .replace(/<name>[^<]*<\/name>/, '<name>brankas-test-new</name>')
      .replace(/<uuid>[^<]*<\/uuid>/, '');
    const d = await conn.defineDomain(xml);
    assert.equal((await d.state()).state, 'shutoff');
    await d.start();
    // The qemu driver says OPERATION_INVALID, the test driver INTERNAL_ERROR: both are typed.
    await assert.rejects(d.start(), { name: 'LibvirtError', message: /already running/ });
    assert.equal((await d.state()).state, 'running');
    await d.shutdown();
    assert.equal((await d.state()).state, 'shutoff');
    await d.start();
    await d.destroy();
    assert.equal((await d.state()).state, 'shutoff');
    await d.undefine(DomainUndefine.SNAPSHOTS_METADATA);
    await assert.rejects(conn.lookupDomain('brankas-test-new'), (e: unknown) => isNotFound(e));
  });

  test('suspends and resumes', async () => {
    const d = await conn.lookupDomain(WEB);
    await d.suspend();
    assert.equal((await d.state()).state, 'paused');
    await d.resume();
    assert.equal((await d.state()).state, 'running');
  });

  test('creates a transient domain from XML', async () => {
    const xml = (await (await conn.lookupDomain(WEB)).xml())
      .replace(/<name>[^<]*<\/name>/, '<name>brankas-test-transient</name>')
      .replace(/<uuid>[^<]*<\/uuid>/, '');
    const d = await conn.createDomain(xml);
    assert.equal(await d.isPersistent(), false);
    await d.destroy();
    await assert.rejects(conn.lookupDomain('brankas-test-transient'), (e: unknown) =>
      isNotFound(e),
    );
  });
});

describe('snapshots', () => {
  test('create, list, XML, lookup, current, parent, children, revert and delete', async () => {
    const d = await conn.lookupDomain('brankas-test-db01');
    const s1 = await d.createSnapshot(
      '<domainsnapshot><name>snap-awal</name><description>first</description></domainsnapshot>',
    );
    const s2 = await d.createSnapshot('<domainsnapshot><name>snap-kedua</name></domainsnapshot>');
    assert.equal(s1.name, 'snap-awal');
    assert.equal(await d.snapshotCount(), 2);
    assert.deepEqual((await d.listSnapshots()).map((s) => s.name).sort(), [
      'snap-awal',
      'snap-kedua',
    ]);
    assert.deepEqual(
      (await d.listSnapshots(SnapshotList.ROOTS)).map((s) => s.name),
      ['snap-awal'],
    );
    assert.match(await s1.xml(), /<description>first<\/description>/);
    assert.equal((await d.lookupSnapshot('snap-kedua')).name, 'snap-kedua');
    assert.equal((await d.currentSnapshot())?.name, 'snap-kedua');
    assert.equal(await s2.isCurrent(), true);
    assert.equal(await s2.hasMetadata(), true);
    assert.equal((await s2.parent())?.name, 'snap-awal');
    assert.equal(await s1.parent(), null);
    assert.deepEqual(
      (await s1.children()).map((s) => s.name),
      ['snap-kedua'],
    );

    await s1.revert();
    assert.equal((await d.currentSnapshot())?.name, 'snap-awal');

    await assert.rejects(
      d.createSnapshot('<domainsnapshot><name>snap-awal</name></domainsnapshot>'),
      // The test driver reports a duplicate snapshot as a failed operation.
      { name: 'LibvirtError', code: 'LIBVIRT_OPERATION_FAILED', message: /snap-awal/ },
    );
    await s1.delete(SnapshotDelete.CHILDREN);
    assert.equal(await d.snapshotCount(), 0);
    assert.equal(await d.currentSnapshot(), null);
    await assert.rejects(d.lookupSnapshot('snap-awal'), (e: unknown) => isNotFound(e));
  });
});

describe('checkpoints', () => {
  test('create, list, XML, lookup and delete', async () => {
    const d = await conn.lookupDomain(WEB);
    const cp = await d.createCheckpoint(
      '<domaincheckpoint><name>cp-1</name><disks><disk name="vda"/></disks></domaincheckpoint>',
    );
    assert.equal(cp.name, 'cp-1');
    assert.deepEqual(
      (await d.listCheckpoints()).map((c) => c.name),
      ['cp-1'],
    );
    assert.match(await cp.xml(), /<name>cp-1<\/name>/);
    assert.equal((await d.lookupCheckpoint('cp-1')).name, 'cp-1');
    await cp.delete();
    assert.deepEqual(await d.listCheckpoints(), []);
    await assert.rejects(d.lookupCheckpoint('cp-1'), (e: unknown) => isNotFound(e));
  });
});

describe('storage', () => {
  test('lists pools, reads info and XML, lists and looks up volumes', async () => {
    const pools = await conn.listStoragePools();
    assert.ok(pools.some((p) => p.name === 'brankas-test-pool'));
    const pool = await conn.lookupStoragePool('brankas-test-pool');
    assert.equal((await conn.lookupStoragePoolByUuid(pool.uuid)).name, pool.name);
    const info = await pool.info();
    assert.equal(info.state, 'running');
    assert.match(await pool.xml(), /<name>brankas-test-pool<\/name>/);
    const vols = await pool.listVolumes();
    assert.deepEqual(
      vols.map((v) => v.name),
      ['disk1.qcow2'],
    );
    const vol = await pool.lookupVolume('disk1.qcow2');
    assert.equal(await vol.path(), '/brankas-test-pool/disk1.qcow2');
    assert.equal((await vol.info()).capacity, 10737418240n);
    assert.equal(
      (await conn.lookupStorageVolumeByPath('/brankas-test-pool/disk1.qcow2')).name,
      vol.name,
    );
    assert.equal((await vol.pool()).name, pool.name);
  });

  test('creates and deletes a volume; a duplicate is refused', async () => {
    const pool = await conn.lookupStoragePool('brankas-test-pool');
    const xml =
      '<volume><name>disk2.raw</name><capacity unit="G">10</capacity><target><format type="raw"/></target></volume>';
    const vol = await pool.createVolume(xml);
    assert.equal((await vol.info()).capacity, 10n * 1024n ** 3n);
    await assert.rejects(
      pool.createVolume(xml),
      (e: unknown) =>
        isAlreadyExists(e) || (e as { code?: string }).code === 'LIBVIRT_OPERATION_FAILED',
    );
    await vol.delete();
    await assert.rejects(pool.lookupVolume('disk2.raw'), (e: unknown) => isNotFound(e));
  });

  test('defines, starts, stops and undefines a pool', async () => {
    const xml =
      '<pool type="dir"><name>brankas-test-p2</name><target><path>/brankas-test-p2</path></target></pool>';
    const pool = await conn.defineStoragePool(xml);
    assert.equal((await pool.info()).state, 'inactive');
    await pool.start();
    assert.equal((await pool.info()).state, 'running');
    await pool.refresh();
    await pool.destroy();
    await pool.undefine();
    await assert.rejects(conn.lookupStoragePool('brankas-test-p2'), (e: unknown) => isNotFound(e));
  });
});

describe('events', () => {
  test('lifecycle events arrive for stop and start, filtered by domain', async () => {
    const d = await conn.lookupDomain(WEB);
    const seen: DomainEventMap['lifecycle'][] = [];
    const off = await conn.onDomainEvent('lifecycle', (e) => seen.push(e), d);
    await d.destroy();
    await d.start();
    // Events come after the replies; wait until both are in.
    await waitUntil(() => seen.length >= 2, 'both lifecycle events');
    await off();
    assert.deepEqual(
      seen.map((e) => [e.domain.name, e.event]),
      [
        [WEB, lifecycleEventName(LifecycleEvent.STOPPED)],
        [WEB, lifecycleEventName(LifecycleEvent.STARTED)],
      ],
    );
  });
});

describe('events shared', () => {
  test('two subscribers of one kind and domain both get its events; one leaving keeps the other', async () => {
    // libvirt refuses a second registration of the same event and domain on a connection.
    const d = await conn.lookupDomain(WEB);
    const a: string[] = [];
    const b: string[] = [];
    let wake: (() => void) | undefined;
    const until = (cond: () => boolean): Promise<void> =>
      new Promise<void>((resolve) => {
        wake = () => {
          if (cond()) resolve();
        };
        wake();
      });
    const offA = await conn.onDomainEvent('lifecycle', (e) => (a.push(e.event), wake?.()), d);
    const offB = await conn.onDomainEvent('lifecycle', (e) => (b.push(e.event), wake?.()), d);
    await d.destroy();
    await until(() => a.length >= 1 && b.length >= 1);
    assert.deepEqual([a, b], [['stopped'], ['stopped']]);
    await offA();
    await d.start();
    await until(() => b.length >= 2);
    assert.deepEqual([a, b], [['stopped'], ['stopped', 'started']]);
    await offB();
  });
});
