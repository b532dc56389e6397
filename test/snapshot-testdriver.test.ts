/**
 * The snapshot engine and its CLI against libvirt's test driver: the
 * guardrails and error paths, fast. (Real QEMU guests are exercised in
 * snapshot-qemu.test.ts.)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Connection } from '../src/libvirt/index.js';
import {
  createSnapshot,
  executeDelete,
  executeRevert,
  planDelete,
  planRevert,
  snapshotTree,
  findVm,
} from '../src/engine/snapshot/index.js';
import { hostStatus } from '../src/engine/status.js';
import { repoPath } from './support/guest.js';
import { cli } from './support/cli.js';

const URI = `test://${repoPath('test', 'fixtures', 'test-host.xml')}`;
const QCOW = 'brankas-test-web01';
const RAW = 'brankas-test-db01';
const APP = 'brankas-test-app01';

let conn: Connection;
before(async () => {
  conn = await Connection.open(URI);
});
after(async () => {
  await conn?.close();
});

describe('snapshot engine', () => {
  test('snapshots form a tree with the current one marked and children in order', async () => {
    const vm = await findVm(conn, QCOW);
    await createSnapshot(vm, { name: 'sebelum-update', description: 'Snapshot sebelum update' });
    await createSnapshot(vm, { name: 'setelah-update' });
    const nodes = await snapshotTree(vm);
    assert.deepEqual(
      nodes.map((n) => [n.name, n.depth, n.current, n.children]),
      [
        ['sebelum-update', 0, false, ['setelah-update']],
        ['setelah-update', 1, true, []],
      ],
    );
    assert.equal(nodes[0]!.description, 'Snapshot sebelum update');
    assert.equal(nodes[0]!.location, 'internal');
    assert.equal(nodes[0]!.memory, 'internal');
    assert.equal(nodes[0]!.state, 'running');
    const del = await planDelete(vm, 'sebelum-update', { children: true });
    assert.deepEqual(del.removes, ['setelah-update', 'sebelum-update']);
    await executeDelete(vm, del);
    assert.deepEqual(await snapshotTree(vm), []);
  });

  test('a VM with a raw disk is refused an internal snapshot, naming the disk and the ways out', async () => {
    const vm = await findVm(conn, RAW);
    await assert.rejects(createSnapshot(vm, { name: 'snap-awal' }), (e: unknown) => {
      const err = e as { code: string; message: string; details: Record<string, unknown> };
      assert.equal(err.code, 'SNAPSHOT_RAW_DISK');
      assert.deepEqual([err.details['disk'], err.details['format']], ['vda', 'raw']);
      assert.match(err.message, /qcow2/);
      assert.match(err.message, /--disk-only/);
      return true;
    });
    assert.equal(await vm.snapshotCount(), 0);
  });

  test('a duplicate name and a name libvirt would reject are refused', async () => {
    const vm = await findVm(conn, QCOW);
    await createSnapshot(vm, { name: 'dup' });
    await assert.rejects(createSnapshot(vm, { name: 'dup' }), { code: 'SNAPSHOT_EXISTS' });
    await assert.rejects(createSnapshot(vm, { name: 'a/b' }), { code: 'SNAPSHOT_INVALID_NAME' });
    await assert.rejects(createSnapshot(vm, { name: '  ' }), { code: 'SNAPSHOT_INVALID_NAME' });
    await executeDelete(vm, await planDelete(vm, 'dup'));
  });

  test('more snapshots than the threshold warn, naming the oldest as candidates', async () => {
    const vm = await findVm(conn, QCOW);
    let last;
    for (let i = 1; i <= 4; i++)
      last = await createSnapshot(vm, { name: `s${i}`, chainThreshold: 3 });
    assert.equal(last!.warnings.length, 1);
    assert.equal(last!.warnings[0]!.kind, 'snapshot-count');
    assert.equal(last!.warnings[0]!.count, 4);
    assert.deepEqual(last!.warnings[0]!.oldest, ['s1']);
    await executeDelete(vm, await planDelete(vm, 's1', { children: true }));
  });

  test('deleting a snapshot with children without --children is refused', async () => {
    const vm = await findVm(conn, QCOW);
    await createSnapshot(vm, { name: 'parent' });
    await createSnapshot(vm, { name: 'child' });
    await assert.rejects(planDelete(vm, 'parent'), (e: unknown) => {
      assert.equal((e as { code: string }).code, 'SNAPSHOT_HAS_CHILDREN');
      assert.match((e as Error).message, /child/);
      return true;
    });
    assert.equal(await vm.snapshotCount(), 2);
    await executeDelete(vm, await planDelete(vm, 'parent', { children: true }));
  });

  test('a revert plan says what will be lost; executing it can take a safety snapshot first', async () => {
    const vm = await findVm(conn, QCOW);
    const { snapshot } = await createSnapshot(vm, { name: 'snap-awal' });
    const plan = await planRevert(vm, 'snap-awal');
    assert.equal(plan.loseChangesSince, snapshot.creationTime);
    assert.equal(plan.losesRunningMemory, true);
    assert.equal(plan.finalState, 'running');
    const result = await executeRevert(vm, plan, { safetySnapshot: true, safetyName: 'pengaman' });
    assert.equal(result.safetySnapshot, 'pengaman');
    assert.equal(result.finalState, 'running');
    assert.ok((await snapshotTree(vm)).some((n) => n.name === 'pengaman'));
    assert.equal((await planRevert(vm, 'snap-awal', 'paused')).finalState, 'paused');
    await executeDelete(vm, await planDelete(vm, 'snap-awal', { children: true }));
  });

  test('an unknown VM and an unknown snapshot are typed errors naming them', async () => {
    await assert.rejects(findVm(conn, 'brankas-test-nope'), {
      code: 'VM_NOT_FOUND',
      message: /brankas-test-nope/,
    });
    const vm = await findVm(conn, QCOW);
    await assert.rejects(planRevert(vm, 'nope'), { code: 'SNAPSHOT_NOT_FOUND', message: /nope/ });
    await assert.rejects(planDelete(vm, 'nope'), { code: 'SNAPSHOT_NOT_FOUND' });
  });

  test('status warns about a VM with snapshots and no backup', async () => {
    const vm = await findVm(conn, QCOW);
    await createSnapshot(vm, { name: 'only' });
    const [s] = await hostStatus(conn, QCOW);
    assert.equal(s!.snapshots.length, 1);
    assert.equal(s!.backups, undefined);
    assert.deepEqual(s!.warnings, [{ kind: 'snapshots-without-backup', vm: QCOW, snapshots: 1 }]);
    await executeDelete(vm, await planDelete(vm, 'only'));
  });
});

describe('snapshot CLI', () => {
  test('revert refuses without confirmation when stdin is not a TTY', async () => {
    const r = await cli(['snapshot', 'revert', APP, 'snap-awal', '-c', URI]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /will be LOST/);
    assert.match(r.stderr, /--yes/);
    const json = await cli(['snapshot', 'revert', APP, 'snap-awal', '-c', URI, '--json']);
    assert.equal(JSON.parse(json.stdout).error.code, 'CONFIRMATION_REQUIRED');
  });

  test('revert with --yes reverts and says so', async () => {
    const r = await cli(['snapshot', 'revert', APP, 'snap-awal', '--yes', '-c', URI]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /back at snapshot 'snap-awal'/);
  });

  test('delete of a snapshot with children without --children is refused; with it both go', async () => {
    const r = await cli(['snapshot', 'delete', APP, 'snap-awal', '-c', URI]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /snap-kedua/);
    const ok = await cli([
      'snapshot',
      'delete',
      APP,
      'snap-awal',
      '--children',
      '-c',
      URI,
      '--json',
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout).removes, ['snap-kedua', 'snap-awal']);
  });

  test('list shows the tree with the current marker', async () => {
    const r = await cli(['snapshot', 'list', APP, '-c', URI]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /snap-awal/);
    assert.match(r.stdout, /└ snap-kedua \*/);
    const info = await cli(['snapshot', 'info', APP, 'snap-kedua', '-c', URI, '--json']);
    assert.equal(JSON.parse(info.stdout).parent, 'snap-awal');
  });

  test('create on a raw disk exits 1 with the refusal, in Indonesian with --lang id', async () => {
    const r = await cli(['snapshot', 'create', RAW, 'snap-awal', '-c', URI, '--lang', 'id']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /format disk 'qcow2'/);
    assert.doesNotMatch(r.stderr, /at .*\.js/); // no stack trace
  });

  test('--json prints a machine-readable error', async () => {
    const r = await cli(['snapshot', 'list', 'brankas-test-nope', '-c', URI, '--json']);
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.stdout).error.code, 'VM_NOT_FOUND');
  });

  test('bad arguments are usage errors with exit code 2', async () => {
    assert.equal((await cli(['snapshot', 'create', QCOW])).code, 2);
    assert.equal((await cli(['snapshot', 'frobnicate'])).code, 2);
    assert.equal((await cli(['snapshot', 'list', QCOW, '--bogus'])).code, 2);
    assert.equal((await cli(['nonsense'])).code, 2);
  });

  test('list --json gives the tree', async () => {
    const r = await cli(['snapshot', 'list', QCOW, '-c', URI, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { vm: QCOW, snapshots: [], warnings: [] });
  });
});
