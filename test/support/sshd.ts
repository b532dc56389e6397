/**
 * A private OpenSSH server on 127.0.0.1 for transport tests: its own host
 * key, config, authorized key and client key in a temporary directory, on a
 * free port. Nothing of the host's ssh set-up is read or changed.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as net from 'node:net';
import { HANG_MS } from '../../src/util/testing/index.js';

export class TestSshd {
  private constructor(
    private readonly proc: ChildProcess,
    readonly dir: string,
    readonly port: number,
    readonly clientKey: string,
    readonly knownHosts: string,
  ) {}

  /** `extraConfig`: more sshd_config lines (e.g. `SetEnv PATH=...` for a host without a tool). */
  static async start(o: { extraConfig?: string[] } = {}): Promise<TestSshd> {
    const dir = mkdtempSync(join(tmpdir(), 'brankas-test-sshd-'));
    const keygen = (file: string): void => {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
    };
    keygen(join(dir, 'host_key'));
    keygen(join(dir, 'client_key'));
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')));
    const port = await freePort();
    const hostPub = readFileSync(join(dir, 'host_key.pub'), 'utf8').trim();
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostPub}\n`);
    writeFileSync(
      join(dir, 'sshd_config'),
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${join(dir, 'host_key')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        'LogLevel ERROR',
        ...(o.extraConfig ?? []),
      ].join('\n') + '\n',
    );
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const proc = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // sshd starts in a moment; only a hang may fail, not a loaded machine.
    for (const deadline = Date.now() + HANG_MS; Date.now() < deadline;) {
      if (await canConnect(port)) {
        return new TestSshd(proc, dir, port, join(dir, 'client_key'), knownHosts);
      }
      if (proc.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    proc.kill();
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`test sshd did not start: ${stderr}`);
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null) {
      const exited = new Promise((r) => this.proc.once('exit', r));
      this.proc.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.createConnection({ host: '127.0.0.1', port });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}
