/**
 * `brankas service install`: runs `brankas serve` (the API and the scheduler) as a systemd
 * service where systemd runs: writes the unit, then `systemctl daemon-reload` and `enable
 * --now`. Where systemd does not run (a container, another init), it says so and how to run
 * serve in the foreground under another supervisor. `--dry-run` prints the unit and writes
 * nothing; `--unit-dir` writes it elsewhere than /etc/systemd/system.
 */
import { execFile } from 'node:child_process';
import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { UsageError, type Command } from '../command.js';
import { stateDir } from '../vm-job.js';
import { repoLocation, repoOption } from './repo-location.js';
import { DEFAULT_LISTEN } from './serve.js';
import { cliEntry } from '../entry.js';

export const UNIT_NAME = 'brankas.service';
const DEFAULT_UNIT_DIR = '/etc/systemd/system';

export interface UnitInput {
  node: string;
  main: string;
  listen: string;
  repo: string;
  stateDir: string;
  /** Variables passed on as they are (the repository's password file...). */
  env: Record<string, string>;
}

/** A value in a unit file's ExecStart or Environment: quoted when it needs it. */
function quoted(v: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(v) ? v : `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export function unitText(u: UnitInput): string {
  const env = { BRANKAS_STATE_DIR: u.stateDir, BRANKAS_REPO: u.repo, ...u.env };
  return [
    '# Written by brankas service install.',
    '[Unit]',
    'Description=brankas: backups of libvirt/KVM VMs (API and scheduler)',
    'After=network.target libvirtd.service',
    'Wants=libvirtd.service',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${[u.node, u.main, 'serve', '--listen', u.listen].map(quoted).join(' ')}`,
    ...Object.entries(env).map(([k, v]) => `Environment=${quoted(`${k}=${v}`)}`),
    // SIGTERM to serve alone: it cancels its jobs, which put their VMs back, before it exits.
    'KillMode=mixed',
    'TimeoutStopSec=15min',
    'Restart=on-failure',
    'RestartSec=10s',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

async function executable(name: string, path: string | undefined): Promise<boolean> {
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      await access(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/** Whether systemd runs here: PID 1 is systemd and systemctl is on the PATH. */
export async function systemdHere(path: string | undefined): Promise<{
  running: boolean;
  init: string;
  systemctl: boolean;
}> {
  const init = (await readFile('/proc/1/comm', 'utf8').catch(() => 'unknown')).trim();
  const systemctl = await executable('systemctl', path);
  return { running: init === 'systemd' && systemctl, init, systemctl };
}

const PASSED_ON = ['BRANKAS_PASSWORD_FILE', 'BRANKAS_PASSWORD_COMMAND', 'BRANKAS_AUTH_KEY_FILE'];

export const serviceInstall: Command = {
  name: 'service install',
  summary: 'Run brankas serve as a systemd service (writes and enables the unit)',
  usage:
    'brankas service install [--dry-run] [--unit-dir DIR] [--listen 127.0.0.1:PORT] [--repo PATH] [--json]',
  help:
    `Writes ${UNIT_NAME} into --unit-dir (default ${DEFAULT_UNIT_DIR}) for brankas serve with\n` +
    'this state directory and repository (and BRANKAS_PASSWORD_FILE/_COMMAND when set), then,\n' +
    'where systemd runs, systemctl daemon-reload and enable --now. Where it does not, says so and\n' +
    'how to run brankas serve in the foreground. --dry-run prints the unit and writes nothing.',
  options: {
    ...repoOption,
    'dry-run': { type: 'boolean' },
    'unit-dir': { type: 'string' },
    listen: { type: 'string' },
  },
  positionals: { min: 0, max: 0, names: '' },
  async run(ctx, args) {
    const env = ctx.io.env;
    const listen = (args.values['listen'] as string | undefined) ?? DEFAULT_LISTEN;
    if (!/^(127\.\d+\.\d+\.\d+|\[::1\]|localhost):\d{1,5}$/.test(listen)) {
      throw UsageError.say('usage.serviceListen', { value: listen });
    }
    const input: UnitInput = {
      node: process.execPath,
      main: cliEntry(),
      listen,
      repo: resolve(repoLocation(ctx, args)),
      stateDir: resolve(stateDir(ctx)),
      env: Object.fromEntries(
        PASSED_ON.filter((k) => env[k]).map((k) => [
          k,
          k.endsWith('_FILE') ? resolve(env[k]!) : env[k]!,
        ]),
      ),
    };
    const unit = unitText(input);
    const unitDir = (args.values['unit-dir'] as string | undefined) ?? DEFAULT_UNIT_DIR;
    const path = join(unitDir, UNIT_NAME);
    const dryRun = args.values['dry-run'] === true;
    const systemd = await systemdHere(env['PATH']);
    const foreground = [
      `BRANKAS_STATE_DIR=${input.stateDir}`,
      `BRANKAS_REPO=${input.repo}`,
      input.node,
      input.main,
      'serve',
      '--listen',
      listen,
    ]
      .map(quoted)
      .join(' ');
    // Without systemd, the default place means nothing: only an explicit --unit-dir is written.
    const write = !dryRun && (systemd.running || args.values['unit-dir'] !== undefined);
    if (write) {
      await mkdir(unitDir, { recursive: true });
      const tmp = `${path}.${process.pid}.tmp`;
      await writeFile(tmp, unit, { mode: 0o644 });
      await rename(tmp, path);
    }
    let enabled = false;
    if (write && systemd.running) {
      const run = promisify(execFile);
      await run('systemctl', ['daemon-reload']);
      await run('systemctl', ['enable', '--now', UNIT_NAME]);
      enabled = true;
    }
    if (ctx.json) {
      ctx.printJson({
        unitPath: path,
        unit,
        written: write,
        enabled,
        systemd: systemd.running,
        foreground: systemd.running ? null : foreground,
      });
      return systemd.running || dryRun || write ? 0 : 1;
    }
    if (dryRun) {
      ctx.print(ctx.t('service.dryRun', { path }));
      ctx.print(unit);
    } else if (write) {
      ctx.print(ctx.t('service.written', { path }));
    }
    if (enabled) ctx.print(ctx.t('service.enabled', { unit: UNIT_NAME }));
    if (!systemd.running) {
      ctx.print(
        ctx.t('service.noSystemd', {
          init: systemd.init,
          systemctl: systemd.systemctl ? '' : ctx.t('service.noSystemctl'),
          command: foreground,
        }),
      );
      if (write) ctx.print(ctx.t('service.enableBy', { unit: UNIT_NAME }));
      return dryRun || write ? 0 : 1;
    }
    return 0;
  },
};
