/**
 * `brankas service install` in-process, into temp directories: --dry-run prints the unit and
 * writes nothing, --unit-dir writes it (with the state directory, repository and password file
 * this shell uses), and where systemd does not run it says so and how to run serve in the
 * foreground. Where systemd runs, the cases that would enable the unit on the host are skipped.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cli } from '../../../test/support/cli.js';
import { systemdHere, unitText } from './service.js';

let dir: string;
let systemd: boolean;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'brankas-test-service-'));
  systemd = (await systemdHere(process.env['PATH'])).running;
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('brankas service install', () => {
  test('--dry-run prints the unit for serve and writes nothing', async () => {
    const units = join(dir, 'dry');
    const r = await cli(['service', 'install', '--dry-run', '--unit-dir', units], {
      BRANKAS_STATE_DIR: join(dir, 'state'),
      BRANKAS_REPO: join(dir, 'my repo'),
      PATH: process.env['PATH'] ?? '',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Would write ${units}/brankas.service`));
    assert.match(r.stdout, /^ExecStart=\S+ \S+main\.js serve --listen 127\.0\.0\.1:8765$/m);
    assert.match(r.stdout, new RegExp(`^Environment="BRANKAS_REPO=${dir}/my repo"$`, 'm'));
    assert.match(r.stdout, /^KillMode=mixed$/m);
    await assert.rejects(stat(units), { code: 'ENOENT' });
  });

  test('--unit-dir writes the unit; without systemd it says so and how to run serve in the foreground', async (t) => {
    if (systemd) return t.skip('systemd runs here: this would enable the unit on the host');
    const units = join(dir, 'units');
    const r = await cli(['service', 'install', '--unit-dir', units, '--listen', '127.0.0.1:9999'], {
      BRANKAS_STATE_DIR: join(dir, 'state'),
      BRANKAS_REPO: join(dir, 'repo'),
      BRANKAS_PASSWORD_FILE: join(dir, 'pw'),
      PATH: process.env['PATH'] ?? '',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readdir(units), ['brankas.service']);
    const unit = await readFile(join(units, 'brankas.service'), 'utf8');
    assert.match(unit, /serve --listen 127\.0\.0\.1:9999\n/);
    assert.match(unit, new RegExp(`^Environment=BRANKAS_PASSWORD_FILE=${dir}/pw$`, 'm'));
    assert.match(unit, /^WantedBy=multi-user\.target$/m);
    assert.match(r.stdout, /systemd is not running here .*nothing was enabled/);
    assert.match(
      r.stdout,
      new RegExp(
        `BRANKAS_STATE_DIR=${dir}/state BRANKAS_REPO=${dir}/repo \\S+ \\S+main\\.js serve`,
      ),
    );
    assert.match(r.stdout, /systemctl enable --now brankas\.service/);
  });

  test('without systemd and without --unit-dir nothing is written and it fails, in Indonesian too', async (t) => {
    if (systemd) return t.skip('systemd runs here: this would enable the unit on the host');
    const r = await cli(['service', 'install', '--lang', 'id'], {
      BRANKAS_STATE_DIR: join(dir, 'state'),
      PATH: process.env['PATH'] ?? '',
    });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /systemd tidak berjalan di sini/);
  });

  test('a --listen that is not loopback is a usage error', async () => {
    const r = await cli(['service', 'install', '--dry-run', '--listen', '0.0.0.0:8765'], {});
    assert.equal(r.code, 2);
    assert.match(r.stderr, /loopback/);
  });

  test('values with spaces or quotes are quoted as systemd reads them', () => {
    const unit = unitText({
      node: '/opt/my node/bin/node',
      main: '/x/main.js',
      listen: '127.0.0.1:1',
      repo: '/r',
      stateDir: '/s',
      env: { BRANKAS_PASSWORD_COMMAND: 'pass show "brankas"' },
    });
    assert.match(unit, /^ExecStart="\/opt\/my node\/bin\/node" \/x\/main\.js serve/m);
    assert.match(unit, /^Environment="BRANKAS_PASSWORD_COMMAND=pass show \\"brankas\\""$/m);
  });
});
