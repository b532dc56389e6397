/**
 * A disk image written on a remote host, as a DiskWriter (so copyDisk, the
 * inner loop of every restore, writes it like a local file): `qemu-img
 * create` makes the empty image there over ssh, and qemu-nbd, run there
 * writable with its socket forwarded here (nbd/remote-qemu-nbd.ts), takes
 * the data over NBD. Zero and hole runs are not sent at all: a fresh image
 * reads zero. close() flushes (qemu-nbd syncs the image on NBD_CMD_FLUSH) and
 * ends the remote qemu-nbd; abort() ends it and removes the file.
 */
import type { DiskWriter, WriterFormat } from '../../image/index.js';
import type { NbdClient, RemoteQemuNbd } from '../../nbd/index.js';
import { shellQuote, sshExec, type SshTarget } from '../../util/ssh.js';
import { EngineError } from '../errors.js';

export interface RemoteDiskOptions {
  format: WriterFormat;
  virtualSize: number;
  clusterSize?: number | undefined;
  compat?: '0.10' | '1.1' | undefined;
  signal?: AbortSignal | undefined;
}

/** Runs a command on the host; a non-zero exit is REMOTE_COMMAND_FAILED naming `what`. */
export async function remoteRun(
  ssh: SshTarget,
  command: string,
  what: string,
  o: { signal?: AbortSignal | undefined; input?: Uint8Array } = {},
): Promise<string> {
  const r = await sshExec(ssh, command, o);
  if (r.code !== 0) {
    throw new EngineError(
      'REMOTE_COMMAND_FAILED',
      `${what} on ${ssh.host} failed: ${r.stderr.trim() || `exit code ${r.code}`}`,
      { details: { host: ssh.host, exitCode: r.code, stderr: r.stderr } },
    );
  }
  return r.stdout.toString('utf8');
}

export async function createRemoteDisk(
  ssh: SshTarget,
  path: string,
  o: RemoteDiskOptions,
): Promise<DiskWriter> {
  const opts = [
    ...(o.format === 'qcow2' && o.clusterSize ? [`cluster_size=${o.clusterSize}`] : []),
    ...(o.format === 'qcow2' && o.compat ? [`compat=${o.compat}`] : []),
  ];
  await remoteRun(
    ssh,
    `qemu-img create -q -f ${o.format}${opts.length ? ` -o ${shellQuote(opts.join(','))}` : ''} ` +
      `${shellQuote(path)} ${o.virtualSize}`,
    `creating ${path}`,
    { signal: o.signal },
  );
  const remove = (): Promise<unknown> =>
    sshExec(ssh, `rm -f ${shellQuote(path)}`).catch(() => undefined);
  // The NBD client loads only when a remote disk is written (as disk-source.ts does).
  const nbd = await import('../../nbd/index.js');
  let server: RemoteQemuNbd | undefined;
  let client: NbdClient | undefined;
  try {
    server = await nbd.RemoteQemuNbd.start({
      ssh,
      image: path,
      format: o.format,
      readOnly: false,
      ...(o.signal ? { signal: o.signal } : {}),
    });
    client = await nbd.NbdClient.connect(server.target);
  } catch (err) {
    await server?.stop();
    await remove();
    throw err;
  }
  const c = client;
  const s = server;
  let done: Promise<void> | undefined;
  return {
    path,
    format: o.format,
    virtualSize: o.virtualSize,
    write: (offset, data) => c.write(offset, data),
    // A fresh image reads zero everywhere: nothing to send.
    writeZeroes: async () => undefined,
    close() {
      done ??= (async () => {
        try {
          await c.flush();
          await c.close();
        } finally {
          await s.stop();
        }
      })();
      return done;
    },
    abort() {
      done ??= (async () => {
        await c.close().catch(() => undefined);
        await s.stop();
        await remove();
      })();
      return done;
    },
  };
}

/**
 * A fresh directory on the host, `PREFIX` + random, mode 0711 (QEMU, another user, passes
 * through to the files libvirt gives it; nothing world-writable, as guest/work-dir.ts).
 */
export async function remoteTempDir(ssh: SshTarget, prefix: string): Promise<string> {
  const out = await remoteRun(
    ssh,
    `d=$(mktemp -d ${shellQuote(prefix)}XXXXXXXX) && chmod 0711 "$d" && printf %s "$d"`,
    `making a directory ${prefix}*`,
  );
  return out.trim();
}

/** Removes a directory tree on the host; never throws. */
export async function removeRemoteDir(ssh: SshTarget, dir: string): Promise<void> {
  await sshExec(ssh, `rm -rf ${shellQuote(dir)}`).catch(() => undefined);
}
