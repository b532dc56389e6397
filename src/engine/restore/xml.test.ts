import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_SOCKET_PATH, rewriteDomainXml } from './xml.js';
import { EngineError } from '../errors.js';

const saved = `<domain type='qemu'>
  <name>web01</name>
  <uuid>8f0c5bb6-2a4e-4e4c-9d0e-2f6a0d4c8a11</uuid>
  <os><type>hvm</type><kernel>/boot/vmlinuz</kernel></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/web01-overlay.qcow2'/>
      <backingStore type='file'><format type='qcow2'/><source file='/base.qcow2'/></backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'><mac address='52:54:00:aa:bb:cc'/><source network='default'/></interface>
    <serial type='unix'><source mode='bind' path='/run/web01/console.sock'/><target port='0'/></serial>
  </devices>
</domain>`;

const disks = new Map([['vda', { path: '/restore/web01-vda.raw', format: 'raw' }]]);

test('disks point at the restored flat files; boot files move', () => {
  const xml = rewriteDomainXml(saved, { disks, bootFiles: new Map([['kernel', '/r/vmlinuz']]) });
  assert.match(
    xml,
    /<source file="\/restore\/web01-vda.raw"\/>|<source file='\/restore\/web01-vda.raw'\/>/,
  );
  assert.match(xml, /type=["']raw["']/);
  assert.doesNotMatch(xml, /backingStore/);
  assert.match(xml, /<kernel>\/r\/vmlinuz<\/kernel>/);
  // Without a new name the identity stays.
  assert.match(xml, /<name>web01<\/name>/);
  assert.match(xml, /8f0c5bb6/);
  assert.match(xml, /52:54:00:aa:bb:cc/);
});

test('a copy --as gets a new name, no UUID, no MACs, sockets of its own', () => {
  const xml = rewriteDomainXml(saved, {
    disks,
    bootFiles: new Map(),
    newName: 'web01-copy',
    socketDir: '/tmp/s',
  });
  assert.match(xml, /<name>web01-copy<\/name>/);
  assert.doesNotMatch(xml, /<uuid>/);
  assert.doesNotMatch(xml, /52:54:00:aa:bb:cc/);
  assert.match(xml, /path=["']\/tmp\/s\/web01-copy.console.sock["']/);
  const isolated = rewriteDomainXml(saved, {
    disks,
    bootFiles: new Map(),
    newName: 'x',
    dropInterfaces: true,
  });
  assert.doesNotMatch(isolated, /<interface/);
  // Without a socket directory the name inside the old path is replaced.
  assert.match(isolated, /path=["']\/run\/x\/console.sock["']/);
});

test('a socket path longer than a unix socket may be is refused, naming it', () => {
  const dir = '/' + 'd'.repeat(MAX_SOCKET_PATH);
  assert.throws(
    () => rewriteDomainXml(saved, { disks, bootFiles: new Map(), newName: 'c', socketDir: dir }),
    (e: unknown) =>
      e instanceof EngineError &&
      e.code === 'RESTORE_SOCKET_PATH_TOO_LONG' &&
      e.message.includes(dir) &&
      e.details['max'] === MAX_SOCKET_PATH,
  );
  // Exactly at the limit is fine.
  const fits = '/' + 'd'.repeat(MAX_SOCKET_PATH - '/c.console.sock'.length - 1);
  rewriteDomainXml(saved, { disks, bootFiles: new Map(), newName: 'c', socketDir: fits });
});
