/**
 * The boot files a domain's XML names (kernel, initrd, NVRAM...) travel with
 * every backup, cold or live, as `boot-<kind>` entries; a file unchanged since
 * the parent backup is taken over unread (unchanged.ts). The files of a
 * remote host are read over ssh, always whole and all at once (remote/files.ts).
 */
import { readFile, stat } from 'node:fs/promises';
import type { DomainXmlFacts } from '../../libvirt/index.js';
import type { Manifest } from '../../repo/manifest.js';
import { bufferSource, type ExtentSource } from '../../repo/source.js';
import type { BackupWriter } from '../../repo/writer.js';
import { fileStates, unchangedSince } from './unchanged.js';
import { LOCAL, type DataHost } from '../remote/host.js';
import { readRemoteFile } from '../remote/files.js';

export interface AddedFiles {
  unchanged: string[];
  unchangedBytes: number;
  readBytes: number;
  newPlainBytes: number;
  newStoredBytes: number;
}

/**
 * A boot file the writer is expected to take over from the previous backup
 * unread; should it read after all (a pending garbage collection plan makes
 * it look every chunk up), the bytes come from the file then.
 */
function lazyFile(path: string, size: number): ExtentSource {
  let data: Promise<Buffer> | undefined;
  return {
    virtualSize: size,
    async *extents() {
      if (size > 0) yield { offset: 0, length: size, kind: 'data' };
    },
    async read(offset, length) {
      data ??= readFile(path);
      return Buffer.from((await data).subarray(offset, offset + length));
    },
  };
}

export async function addBootFiles(
  writer: BackupWriter,
  files: DomainXmlFacts['bootFiles'],
  previous: Manifest | undefined,
  signal?: AbortSignal,
  host: DataHost = LOCAL,
): Promise<AddedFiles> {
  const r: AddedFiles = {
    unchanged: [],
    unchangedBytes: 0,
    readBytes: 0,
    newPlainBytes: 0,
    newStoredBytes: 0,
  };
  // A remote host's files are asked for all at once: each is an ssh session, a login there
  // (0.2-0.3 s on the benchmark host), and a kernel with its initrd need not wait in line.
  const remoteFiles =
    host.kind === 'ssh'
      ? Promise.all(files.map((f) => readRemoteFile(host.ssh, f.path, signal)))
      : undefined;
  // Still read after a failure here stops the loop: that outcome is no one's to handle.
  remoteFiles?.catch(() => undefined);
  for (const [i, f] of files.entries()) {
    signal?.throwIfAborted();
    if (remoteFiles) {
      const remote = (await remoteFiles)[i];
      if (!remote) continue;
      const m = await writer.addDisk({
        name: `boot-${f.kind}`,
        source: bufferSource(remote.data),
        format: 'file',
        formatOptions: { path: f.path, kind: f.kind, mode: remote.mode & 0o7777 },
      });
      r.readBytes += m.dataBytes;
      r.newPlainBytes += m.newPlainBytes;
      r.newStoredBytes += m.newStoredBytes;
      continue;
    }
    const st = await stat(f.path).catch(() => undefined);
    if (!st?.isFile()) continue;
    const name = `boot-${f.kind}`;
    const states = await fileStates([f.path]);
    const same = unchangedSince(previous, name, states);
    const unchanged = same !== undefined && same.virtualSize === st.size;
    const m = await writer.addDisk({
      name,
      source: unchanged ? lazyFile(f.path, st.size) : bufferSource(await readFile(f.path)),
      format: 'file',
      formatOptions: {
        path: f.path,
        kind: f.kind,
        mode: st.mode & 0o7777,
        ...(states ? { fileState: states } : {}),
      },
      ...(unchanged ? { changedRanges: [] } : {}),
    });
    if (unchanged) {
      r.unchanged.push(name);
      r.unchangedBytes += m.dataBytes;
    } else r.readBytes += m.dataBytes;
    r.newPlainBytes += m.newPlainBytes;
    r.newStoredBytes += m.newStoredBytes;
  }
  return r;
}
