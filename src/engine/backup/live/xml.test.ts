import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backupXml, bitmapContext, checkpointXml, dacOwner, readCheckpointXml } from './xml.js';
import { linePrefix, sequenceOf } from './line.js';
import { parseXml } from '../../../util/xml.js';

test('the pull-mode backup XML sets each disk full or incremental, with our export and bitmap names', () => {
  const xml = backupXml('/run/x/nbd.sock', [
    { target: 'vda', scratch: '/run/x/vda.scratch', incremental: 'brankas-0f1e2d3c-4' },
    { target: 'vdb', scratch: "/run/x/it's.scratch" },
  ]);
  assert.equal(
    xml,
    `<domainbackup mode='pull'>
  <server transport='unix' socket='/run/x/nbd.sock'/>
  <disks>
    <disk name='vda' backup='yes' type='file' backupmode='incremental' incremental='brankas-0f1e2d3c-4' exportbitmap='brankas-dirty-vda' exportname='vda'>
      <scratch file='/run/x/vda.scratch'/>
    </disk>
    <disk name='vdb' backup='yes' type='file' backupmode='full' exportname='vdb'>
      <scratch file='/run/x/it&apos;s.scratch'/>
    </disk>
  </disks>
</domainbackup>
`,
  );
  parseXml(xml);
  assert.equal(bitmapContext('vda'), 'qemu:dirty-bitmap:brankas-dirty-vda');
});

test('the checkpoint keeps a bitmap on qcow2 disks and none on raw ones', () => {
  const xml = checkpointXml('brankas-0f1e2d3c-5', 'a <note>', [
    { target: 'vda', bitmap: true },
    { target: 'vdb', bitmap: false },
  ]);
  assert.match(xml, /<name>brankas-0f1e2d3c-5<\/name>/);
  assert.match(xml, /<description>a &lt;note&gt;<\/description>/);
  assert.match(xml, /<disk name='vda' checkpoint='bitmap'\/>/);
  assert.match(xml, /<disk name='vdb' checkpoint='no'\/>/);
});

test("a checkpoint's XML gives its name, time and the disks with a bitmap", () => {
  const facts = readCheckpointXml(`<domaincheckpoint>
  <name>brankas-0f1e2d3c-5</name>
  <creationTime>1796531460</creationTime>
  <disks>
    <disk name='vda' checkpoint='bitmap' bitmap='brankas-0f1e2d3c-5' size='983040'/>
    <disk name='vdb' checkpoint='no'/>
  </disks>
</domaincheckpoint>`);
  assert.equal(facts.name, 'brankas-0f1e2d3c-5');
  assert.equal(facts.creationTime, 1796531460);
  assert.deepEqual([...facts.bitmaps], [['vda', 'brankas-0f1e2d3c-5']]);
});

test("QEMU's uid and gid come from the running domain's DAC label", () => {
  const xml = `<domain type='qemu'><name>x</name>
  <seclabel type='dynamic' model='selinux' relabel='yes'><label>system_u:r:svirt_t:s0</label></seclabel>
  <seclabel type='dynamic' model='dac' relabel='yes'><label>+64055:+994</label></seclabel>
</domain>`;
  assert.deepEqual(dacOwner(xml), { uid: 64055, gid: 994 });
  assert.equal(dacOwner(`<domain><name>x</name></domain>`), undefined);
});

test("a repository's line is its own: names carry the repository id and a sequence", () => {
  const prefix = linePrefix('0f1e2d3c4b5a69788796a5b4c3d2e1f0');
  assert.equal(prefix, 'brankas-0f1e2d3c-');
  assert.equal(sequenceOf(prefix, 'brankas-0f1e2d3c-12'), 12);
  assert.equal(sequenceOf(prefix, 'brankas-aaaaaaaa-12'), undefined);
  assert.equal(sequenceOf(prefix, 'brankas-0f1e2d3c-12b'), undefined);
  assert.equal(sequenceOf(prefix, 'mine'), undefined);
});
