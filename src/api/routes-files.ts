/**
 * A backup's files without restoring it (docs/file-restore.md), through the engine's
 * `listFiles` and `getFiles` as `brankas files` calls them: a directory's entries, and a
 * download, either one file as it is or a tar archive of paths of one volume, streamed as the
 * engine reads it (download.ts) with its name in `Content-Disposition`.
 */
import type { Hono } from 'hono';
import { getFiles, listFiles } from '../engine/index.js';
import type { ApiDeps } from './app.js';
import { badRequest } from './errors.js';
import { json } from './json.js';
import { backupId } from './validate.js';
import { contentDisposition, tarMember, tarStream, webStream } from './download.js';

/** A path on the backup's disk as a query gives it (the engine refuses '..' and the like). */
function filePath(value: string | undefined, name = 'path'): string {
  if (value === undefined || value === '' || value.length > 4096 || value.includes('\0')) {
    throw badRequest(`'${name}' must be a path on the disk, at most 4096 characters`);
  }
  return value;
}

const DISK = /^[a-z][a-z0-9]{0,31}$/;

function diskOf(value: string | undefined): { disk?: string } {
  if (value === undefined) return {};
  if (!DISK.test(value)) throw badRequest(`'${value.slice(0, 40)}' is not a disk name (vda...)`);
  return { disk: value };
}

function baseName(path: string): string {
  return (
    path
      .split('/')
      .filter((p) => p !== '' && p !== '.')
      .at(-1) ?? 'files'
  );
}

/** Helper VMs at once (each 256 MiB); more requests wait their turn. */
const HELPERS_AT_ONCE = 2;

function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    if (active >= n) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

export function fileRoutes(app: Hono, deps: ApiDeps): void {
  const helper = limiter(HELPERS_AT_ONCE);
  app.get('/api/v1/backups/:id/files', async (c) => {
    const id = backupId(c.req.param('id'));
    const path = filePath(c.req.query('path') ?? '/');
    const disk = diskOf(c.req.query('disk'));
    const repo = await deps.openRepo();
    try {
      // libvirt is asked for only if a helper VM must boot (the host reader needs none).
      return json(await helper(() => listFiles(() => deps.connect(), repo, id, path, disk)));
    } finally {
      await repo.close();
    }
  });

  app.get('/api/v1/backups/:id/files/download', async (c) => {
    const id = backupId(c.req.param('id'));
    const paths = (c.req.queries('path') ?? []).map((p) => filePath(p));
    if (paths.length === 0 || paths.length > 256) {
      throw badRequest("'path' must be given once or more (at most 256 times)");
    }
    const format = c.req.query('format') ?? (paths.length === 1 ? 'file' : 'tar');
    if (format !== 'file' && format !== 'tar') throw badRequest("'format' must be file or tar");
    if (format === 'file' && paths.length > 1) {
      throw badRequest("one 'path' with format=file; several paths come as a tar");
    }
    const disk = diskOf(c.req.query('disk'));
    const tar = await tarStream((tarPath, signal) =>
      helper(async () => {
        const repo = await deps.openRepo();
        try {
          // The path is this request's own FIFO, made a moment ago: `force` lets the engine use it.
          return await getFiles(() => deps.connect(), repo, id, paths, {
            ...disk,
            tar: tarPath,
            force: true,
            signal,
          });
        } finally {
          await repo.close();
        }
      }),
    );
    if (format === 'tar') {
      const name = `${id}-${paths.length === 1 ? baseName(paths[0]!) : 'files'}.tar`;
      // The first bytes before the status: an engine that refuses (no such path) is a 4xx.
      let first;
      try {
        first = await tar.chunks.next();
      } catch (err) {
        tar.cancel();
        throw err;
      }
      const head = first;
      const body = (async function* () {
        if (head.done) return;
        yield head.value;
        for (let r = await tar.chunks.next(); !r.done; r = await tar.chunks.next()) yield r.value;
      })();
      return new Response(webStream(body, tar.cancel), {
        headers: {
          'content-type': 'application/x-tar',
          'content-disposition': contentDisposition(name),
          'cache-control': 'no-store',
        },
      });
    }
    let m;
    try {
      m = await tarMember(tar.chunks);
    } catch (err) {
      tar.cancel();
      throw err;
    }
    if (m.type !== '0') {
      tar.cancel();
      throw badRequest(`'${paths[0]}' is not a file: download it as a tar (format=tar)`);
    }
    const member = m;
    const content = (async function* () {
      yield* member.body;
      await member.finish();
    })();
    return new Response(webStream(content, tar.cancel), {
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(member.size),
        'content-disposition': contentDisposition(baseName(paths[0]!)),
        'cache-control': 'no-store',
      },
    });
  });
}
