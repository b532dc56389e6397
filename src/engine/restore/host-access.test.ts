import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  capabilityEmulators,
  describeHostAccess,
  fileDirs,
  newHostAccess,
  type HostAccessCheck,
} from './host-access.js';

const EMULATOR = '/usr/bin/qemu-system-x86_64';

function domain(devices: string, extra = ''): string {
  return `<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>web01</name>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>hvm</type><kernel>/var/lib/libvirt/boot/web01-vmlinuz</kernel><cmdline>root=/dev/vda</cmdline></os>
  <devices>
    <emulator>${EMULATOR}</emulator>
    <disk type='file' device='disk'>
      <source file='/var/lib/libvirt/images/web01.qcow2'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/>
    </disk>
    <serial type='unix'><source mode='bind' path='/run/web01/console.sock'/><target port='0'/></serial>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
${devices}
  </devices>
${extra}
</domain>`;
}

const saved = domain('');

function check(xml: string, o: Partial<HostAccessCheck> = {}): ReturnType<typeof newHostAccess> {
  return newHostAccess({
    xml,
    reference: saved,
    written: ['/var/lib/libvirt/images/web01.qcow2'],
    writeDirs: fileDirs(saved),
    ownDirs: [],
    emulators: new Set([EMULATOR]),
    ...o,
  });
}

test('the VM as it was has no new host access: same paths, devices, emulator', () => {
  assert.deepEqual(check(saved), []);
});

test('filesystem passthrough, host devices, QEMU arguments and host interfaces are new host access', () => {
  const xml = domain(
    `    <filesystem type='mount' accessmode='passthrough'><source dir='/'/><target dir='hostroot'/></filesystem>
    <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x03' slot='0x00' function='0x0'/></source></hostdev>
    <interface type='ethernet'><script path='/tmp/x.sh'/></interface>
    <interface type='network'><source network='default'/></interface>`,
    `  <qemu:commandline><qemu:arg value='-set'/></qemu:commandline>
  <seclabel type='none'/>`,
  );
  const found = check(xml);
  assert.deepEqual(
    found.map((a) => a.where),
    ['devices/filesystem', 'devices/hostdev', 'devices/interface', 'qemu:commandline', 'seclabel'],
  );
  assert.ok(found.every((a) => a.kind === 'device'));
  assert.match(describeHostAccess(found), /devices\/filesystem: <filesystem .*dir="\/"/);
});

test('a device the reference VM has, as it is (addresses aside), is not new', () => {
  const fs = `<filesystem type='mount'><source dir='/srv/share'/><target dir='share'/></filesystem>`;
  const reference = domain(
    `<filesystem type='mount'>\n <source dir='/srv/share'/>\n <target dir='share'/>\n <address type='pci' slot='0x07'/></filesystem>`,
  );
  assert.deepEqual(check(domain(fs), { reference }), []);
  // The same device sharing another directory is new.
  const other = fs.replace('/srv/share', '/');
  assert.equal(check(domain(other), { reference }).length, 1);
});

test('host paths the reference does not name are new: chardev files, a cdrom image, a kernel, a log', () => {
  const xml =
    domain(`    <serial type='file'><source path='/root/.ssh/authorized_keys'/><target port='1'/></serial>
    <disk type='file' device='cdrom'><source file='/etc/shadow'/><target dev='hdc' bus='ide'/></disk>
    <console type='pty'><log file='/etc/cron.d/x'/></console>`).replace(
      '/var/lib/libvirt/boot/web01-vmlinuz',
      '/tmp/evil-kernel',
    );
  assert.deepEqual(
    check(xml).map((a) => `${a.where} ${a.value}`),
    [
      'os/kernel#text /tmp/evil-kernel',
      'devices/serial/source@path /root/.ssh/authorized_keys',
      'devices/disk/source@file /etc/shadow',
      'devices/console/log@file /etc/cron.d/x',
    ],
  );
});

test('an emulator the host does not list is new; entropy sources and firmware are not', () => {
  const xml = domain('').replace(EMULATOR, '/tmp/qemu');
  assert.deepEqual(
    check(xml, { reference: undefined, written: [], writeDirs: [] })
      .filter((a) => a.kind === 'emulator')
      .map((a) => a.value),
    ['/tmp/qemu'],
  );
  const firmware = domain('').replace(
    '<kernel>',
    "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader><kernel>",
  );
  assert.deepEqual(check(firmware), []);
  const escape = firmware.replace('/usr/share/OVMF/OVMF_CODE.fd', '/usr/share/../../dev/sda');
  assert.deepEqual(
    check(escape).map((a) => a.value),
    ['/usr/share/../../dev/sda'],
  );
});

test('files written outside the target directories are new; inside --to or a reference directory they are not', () => {
  const copy = saved
    .replace('/var/lib/libvirt/images/web01.qcow2', '/restore/web02-vda.qcow2')
    .replace('/run/web01/console.sock', '/restore/web02.console.sock');
  assert.deepEqual(
    check(copy, { written: ['/restore/web02-vda.qcow2'], ownDirs: ['/restore'] }),
    [],
  );
  const escaped = check(copy, {
    written: ['/restore/../etc/web02-vda.qcow2'],
    ownDirs: ['/restore'],
  });
  assert.deepEqual(
    escaped.map((a) => `${a.kind} ${a.value}`),
    ['write /restore/../etc/web02-vda.qcow2'],
  );
  // Without a reference VM and without --to, a manifest's directory is not a target.
  const alone = check(saved, {
    reference: undefined,
    writeDirs: [],
  });
  assert.deepEqual(
    alone.map((a) => `${a.kind} ${a.value}`),
    [
      'path /var/lib/libvirt/boot/web01-vmlinuz',
      'path /run/web01/console.sock',
      'write /var/lib/libvirt/images/web01.qcow2',
    ],
  );
  assert.deepEqual(
    check(saved, { reference: undefined, writeDirs: ['/var/lib/libvirt/images'] }).map(
      (a) => a.value,
    ),
    ['/var/lib/libvirt/boot/web01-vmlinuz', '/run/web01/console.sock'],
  );
});

test("the emulators come from the host's capabilities", () => {
  const caps = `<capabilities><guest><arch name='x86_64'><emulator>/usr/bin/qemu-system-x86_64</emulator>
    <domain type='qemu'/><domain type='kvm'><emulator>/usr/bin/kvm</emulator></domain></arch></guest></capabilities>`;
  assert.deepEqual([...capabilityEmulators(caps)].sort(), ['/usr/bin/kvm', EMULATOR]);
});

test("libvirt's dynamic security labels are not host access; static or no labels, or no relabelling, are", () => {
  const labelled = (label: string): string => domain('', label);
  const none = check(labelled("  <seclabel type='dynamic' model='dac' relabel='yes'/>"), {
    reference: undefined,
    writeDirs: ['/'],
  });
  assert.deepEqual(
    none.filter((a) => a.where === 'seclabel'),
    [],
  );
  for (const risky of [
    "<seclabel type='none'/>",
    "<seclabel type='static' model='dac' relabel='no'><label>+0:+0</label></seclabel>",
    "<seclabel type='dynamic' model='selinux' relabel='no'/>",
  ]) {
    assert.deepEqual(
      check(labelled(risky)).map((a) => a.where),
      ['seclabel'],
      risky,
    );
  }
});

test("a file replaced (--force) must be one the reference VM names: not another VM's disk in the same pool", () => {
  const other = '/var/lib/libvirt/images/db01.qcow2';
  const forgedXml = saved.replace('/var/lib/libvirt/images/web01.qcow2', other);
  const found = check(forgedXml, {
    written: [other],
    replaced: [other],
    writeDirs: ['/var/lib/libvirt/images'],
  });
  assert.deepEqual(
    found.map((a) => `${a.kind} ${a.value}`),
    [`write ${other}`],
  );
  // Its own disk, replaced in the disaster case, is fine.
  assert.deepEqual(check(saved, { replaced: ['/var/lib/libvirt/images/web01.qcow2'] }), []);
  // A new file in a pool directory is fine without a reference.
  assert.deepEqual(
    check(forgedXml, {
      reference: undefined,
      written: [other],
      writeDirs: ['/var/lib/libvirt/images'],
    }).filter((a) => a.kind === 'write'),
    [],
  );
});

test('relative host paths count as host paths', () => {
  const xml = domain(
    "    <serial type='file'><source path='../../etc/cron.d/x'/><target port='1'/></serial>",
  ).replace('/var/lib/libvirt/boot/web01-vmlinuz', 'vmlinuz');
  assert.deepEqual(
    check(xml).map((a) => `${a.where} ${a.value}`),
    ['os/kernel#text vmlinuz', 'devices/serial/source@path ../../etc/cron.d/x'],
  );
});
