import { test } from 'node:test';
import assert from 'node:assert/strict';
import { localDisksXml, nbdSockets, overlayXml, qemuOwner } from './xml.js';

const DOMAIN = `<domain type='qemu'><name>copy</name><devices>
  <disk type='file' device='disk'>
    <driver name='qemu' type='qcow2'/>
    <source file='/vm/copy-vda.qcow2'/>
    <backingStore type='file'><format type='qcow2'/><source file='/vm/base.qcow2'/></backingStore>
    <target dev='vda' bus='virtio'/>
  </disk>
  <disk type='file' device='cdrom'>
    <source file='/iso/install.iso'/>
    <target dev='sda' bus='sata'/>
  </disk>
</devices></domain>`;

test('overlayXml backs the named disk by its NBD socket, stops on I/O errors, and leaves other disks alone', () => {
  const xml = overlayXml(DOMAIN, [{ disk: 'vda', socket: '/vm/copy-vda.sock' }]);
  assert.match(xml, /<driver name="qemu" type="qcow2" error_policy="stop"\/>/);
  assert.match(
    xml,
    /<source file="\/vm\/copy-vda.qcow2"\/><backingStore type="network"><format type="raw"\/><source protocol="nbd"><host transport="unix" socket="\/vm\/copy-vda.sock"\/><\/source><backingStore\/><\/backingStore>/,
  );
  assert.doesNotMatch(xml, /base\.qcow2/, 'the old chain is gone');
  assert.match(xml, /<source file="\/iso\/install.iso"\/>\s*<target dev="sda"/);
  assert.deepEqual(nbdSockets(xml), ['/vm/copy-vda.sock']);
});

test('nbdSockets finds none in a domain of local files', () => {
  assert.deepEqual(nbdSockets(DOMAIN), []);
});

test('localDisksXml makes the disk a standalone local qcow2 again', () => {
  const over = overlayXml(DOMAIN, [{ disk: 'vda', socket: '/vm/copy-vda.sock' }]);
  const xml = localDisksXml(over, [{ disk: 'vda', path: '/vm/copy-vda.local.qcow2' }]);
  assert.deepEqual(nbdSockets(xml), []);
  assert.doesNotMatch(xml, /backingStore|error_policy/);
  assert.match(xml, /<source file="\/vm\/copy-vda.local.qcow2"\/>/);
});

test("qemuOwner reads the DAC base label of the host's capabilities", () => {
  const caps = `<capabilities><host>
    <secmodel><model>none</model><doi>0</doi></secmodel>
    <secmodel><model>dac</model><doi>0</doi>
      <baselabel type='kvm'>+64055:+64055</baselabel>
      <baselabel type='qemu'>+64055:+64055</baselabel>
    </secmodel></host></capabilities>`;
  assert.deepEqual(qemuOwner(caps), { uid: 64055, gid: 64055 });
  assert.equal(qemuOwner('<capabilities><host/></capabilities>'), undefined);
});
