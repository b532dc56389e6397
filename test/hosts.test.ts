/**
 * Hosts registered by name (`brankas host add|list|remove`), `-c NAME`, and
 * `inventory`/`status --all-hosts` over several connections: libvirt's test
 * driver stands for the hosts (a fixture file and the built-in default), a
 * closed loopback port for one that is down.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as net from 'node:net';
import { cli } from './support/cli.js';
import { repoPath } from './support/guest.js';

const FIXTURE = `test://${repoPath('test', 'fixtures', 'test-host.xml')}`;
const OTHER = 'test:///default';
let stateDir: string;
let downUri: string;
const env = (): NodeJS.ProcessEnv => ({ BRANKAS_STATE_DIR: stateDir });
const run = (args: string[]) => cli(args, env());

/** A loopback port nothing listens on (taken and released). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

before(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'brankas-test-hosts-'));
  downUri = `qemu+tcp://127.0.0.1:${await closedPort()}/system`;
});
after(async () => {
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

describe('brankas host', () => {
  test('add, list and remove keep a version 1 hosts file in the state directory', async () => {
    const a = await run(['host', 'add', 'lab1', FIXTURE, '--json']);
    assert.equal(a.code, 0, a.stderr + a.stdout);
    assert.equal(JSON.parse(a.stdout).uri, FIXTURE);
    const file = JSON.parse(await readFile(join(stateDir, 'hosts.json'), 'utf8'));
    assert.equal(file.version, 1);
    assert.deepEqual(
      file.hosts.map((h: { name: string; uri: string }) => [h.name, h.uri]),
      [['lab1', FIXTURE]],
    );
    const again = await run(['host', 'add', 'lab1', OTHER, '--json']);
    assert.equal(again.code, 1);
    assert.equal(JSON.parse(again.stdout).error.code, 'HOST_EXISTS');
    const bad = await run(['host', 'add', 'no/slash', OTHER, '--json']);
    assert.equal(JSON.parse(bad.stdout).error.code, 'HOST_INVALID_NAME');
    const badUri = await run(['host', 'add', 'lab9', 'nonsense', '--json']);
    assert.equal(JSON.parse(badUri.stdout).error.code, 'LIBVIRT_BAD_URI');

    assert.equal((await run(['host', 'add', 'lab2', OTHER])).code, 0);
    const list = await run(['host', 'list', '--json']);
    assert.deepEqual(
      JSON.parse(list.stdout).hosts.map((h: { name: string }) => h.name),
      ['lab1', 'lab2'],
    );
    const text = await run(['host', 'list']);
    assert.match(text.stdout, /lab1\s+test:\/\//);

    const removed = await run(['host', 'remove', 'lab2', '--json']);
    assert.equal(removed.code, 0, removed.stderr);
    const gone = await run(['host', 'remove', 'lab2', '--json']);
    assert.equal(JSON.parse(gone.stdout).error.code, 'HOST_NOT_FOUND');
    assert.deepEqual(
      JSON.parse((await run(['host', 'list', '--json'])).stdout).hosts.map(
        (h: { name: string }) => h.name,
      ),
      ['lab1'],
    );
  });

  test('-c takes a registered name for its URI; an unknown name is HOST_NOT_FOUND', async () => {
    const r = await run(['inventory', '-c', 'lab1', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(JSON.parse(r.stdout).uri, FIXTURE);
    const unknown = await run(['inventory', '-c', 'nosuchhost', '--json']);
    assert.equal(unknown.code, 1);
    assert.equal(JSON.parse(unknown.stdout).error.code, 'HOST_NOT_FOUND');
  });

  test('inventory and status --all-hosts cover every host; one that is down is named, the rest shown', async () => {
    assert.equal((await run(['host', 'add', 'other', OTHER])).code, 0);
    assert.equal((await run(['host', 'add', 'down', downUri])).code, 0);
    try {
      const inv = await run(['inventory', '--all-hosts', '-c', FIXTURE, '--json']);
      assert.equal(inv.code, 1, 'a host was down');
      const hosts = JSON.parse(inv.stdout).hosts;
      // This connection first (it is lab1), then the others; lab1 not twice.
      assert.deepEqual(
        hosts.map((h: { name: string }) => h.name),
        ['lab1', 'other', 'down'],
      );
      assert.ok(hosts[0].inventory.vms.length > 0);
      assert.equal(hosts[1].uri, OTHER);
      assert.ok(hosts[1].inventory.vms.some((v: { name: string }) => v.name === 'test'));
      assert.equal(hosts[2].error.code, 'LIBVIRT_CONNECT_FAILED');
      assert.equal(hosts[2].inventory, undefined);

      const st = await run(['status', '--all-hosts', '-c', FIXTURE, '--json']);
      assert.equal(st.code, 1);
      const sh = JSON.parse(st.stdout);
      assert.deepEqual(
        sh.hosts.map((h: { name: string; vms?: unknown[] }) => [h.name, Array.isArray(h.vms)]),
        [
          ['lab1', true],
          ['other', true],
          ['down', false],
        ],
      );
      const text = await run(['status', '--all-hosts', '-c', FIXTURE]);
      assert.match(text.stdout, /== other \(test:\/\/\/default\)/);
      assert.match(text.stdout, /== down \(.*\)\n {2}cannot reach it: /);
    } finally {
      await run(['host', 'remove', 'other']);
      await run(['host', 'remove', 'down']);
    }
  });
});
