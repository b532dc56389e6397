/**
 * Opens the byte stream a connection runs over: a unix socket, a TCP socket,
 * or an SSH session whose remote end is wired to the daemon's socket (through
 * virt-ssh-helper, or netcat on older hosts), as libvirt's own client does.
 * Every way of failing becomes a LibvirtClientError naming what was tried.
 */
import * as net from 'node:net';
import { spawn } from 'node:child_process';
import { Duplex, PassThrough } from 'node:stream';
import { shellQuote, sshFailed, sshOptions, SSH_OWN_FAILURE } from '../util/ssh.js';
import { LibvirtClientError } from './errors.js';
import { SYSTEM_SOCKET, SYSTEM_SOCKET_RO, type ParsedUri } from './uri.js';

export async function openTransport(parsed: ParsedUri, timeoutMs: number): Promise<Duplex> {
  const t = parsed.transport;
  switch (t.kind) {
    case 'unix':
      return connectSocket(
        net.createConnection({ path: t.path }),
        `unix socket ${t.path}`,
        timeoutMs,
      );
    case 'tcp':
      return connectSocket(
        net.createConnection({ host: t.host, port: t.port }),
        `tcp ${t.host}:${t.port}`,
        timeoutMs,
      );
    case 'ssh':
      return spawnSsh(parsed, timeoutMs);
  }
}

function connectSocket(socket: net.Socket, what: string, timeoutMs: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new LibvirtClientError('LIBVIRT_CONNECT_FAILED', `timed out connecting to ${what}`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.setNoDelay?.(true);
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(
        new LibvirtClientError(
          'LIBVIRT_CONNECT_FAILED',
          `cannot connect to the libvirt daemon at ${what}: ${hint(err)}`,
          { cause: err },
        ),
      );
    });
  });
}

function hint(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return 'no such socket (is libvirtd running?)';
    case 'ECONNREFUSED':
      return 'connection refused (is libvirtd running and listening?)';
    case 'EACCES':
      return 'permission denied (try as root, or the read-only socket)';
    default:
      return err.message;
  }
}

/** The command run on the remote host to reach its daemon. */
export function sshRemoteCommand(parsed: ParsedUri): string {
  const t = parsed.transport;
  if (t.kind !== 'ssh') throw new Error('not an ssh transport');
  const socket = t.socket ?? (parsed.readOnly ? SYSTEM_SOCKET_RO : SYSTEM_SOCKET);
  const nc = /^[\w./-]+$/.test(t.netcat) ? t.netcat : shellQuote(t.netcat);
  const netcat = `${nc} -U ${shellQuote(socket)}`;
  const helper = `virt-ssh-helper ${parsed.readOnly ? '-r ' : ''}${shellQuote(parsed.name)}`;
  switch (t.proxy) {
    case 'netcat':
      return netcat;
    case 'native':
      return helper;
    case 'auto':
      return `sh -c ${shellQuote(
        `if command -v virt-ssh-helper >/dev/null 2>&1; then exec ${helper}; else exec ${netcat}; fi`,
      )}`;
  }
}

export function sshArgs(parsed: ParsedUri): string[] {
  const t = parsed.transport;
  if (t.kind !== 'ssh') throw new Error('not an ssh transport');
  return [...sshOptions(t), '--', t.host, sshRemoteCommand(parsed)];
}

function spawnSsh(parsed: ParsedUri, timeoutMs: number): Promise<Duplex> {
  const t = parsed.transport;
  if (t.kind !== 'ssh') throw new Error('not an ssh transport');
  return new Promise((resolve, reject) => {
    const child = spawn(t.command, sshArgs(parsed), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    let settled = false;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      if (stderr.length < 4096) stderr += s;
    });
    // The daemon's bytes end only once ssh has exited, so a session ssh itself ended (a refused
    // key, a lost host) fails the connection with ssh's reason instead of a bare end of stream.
    const readable = new PassThrough();
    child.stdout.pipe(readable, { end: false });
    const duplex = Duplex.from({ readable, writable: child.stdin });
    // Ending the connection ends the ssh process too.
    duplex.on('close', () => {
      if (child.exitCode === null) child.kill('SIGTERM');
    });
    const fail = (why: string, cause?: unknown): void => {
      clearTimeout(timer);
      duplex.destroy();
      reject(
        new LibvirtClientError(
          'LIBVIRT_CONNECT_FAILED',
          `cannot reach the libvirt daemon over ssh to ${t.host}: ${why}`,
          { cause },
        ),
      );
    };
    const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms`), timeoutMs);
    child.once('error', (err) => fail(err.message, err));
    child.once('close', (code) => {
      if (settled) {
        if (code === SSH_OWN_FAILURE) readable.destroy(sshFailed(t, stderr));
        else readable.end();
        return;
      }
      fail(`ssh exited with code ${code}${stderr ? `: ${stderr.trim()}` : ''}`);
    });
    // ssh gives no "connected" signal on stdout: the process being alive once
    // spawned is the best we know; the first RPC call proves the rest.
    child.once('spawn', () => {
      settled = true;
      clearTimeout(timer);
      resolve(duplex);
    });
  });
}
