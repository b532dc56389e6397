/**
 * "This is the socket": once the exports listen, the overlays are created
 * over them (`qemu-img create -b nbd+unix://... -F raw`, which asks the
 * export for its size), missing boot files written from the backup, and the
 * VM defined from the plan's XML (and started). A failure at any step
 * removes everything this step made, so no VM is left over a half-made
 * chain; the exports are the caller's to stop.
 */
import { execFile } from 'node:child_process';
import { unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { Connection, Domain } from '../../libvirt/index.js';
import type { Repository } from '../../repo/repository.js';
import { EngineError } from '../errors.js';
import { nbdUri } from '../mount/index.js';
import { writeBootFile } from '../restore/write.js';
import type { RunPlan } from './plan.js';

const exec = promisify(execFile);

export interface StartedRun {
  vm: string;
  uuid: string;
  started: boolean;
}

async function createOverlay(plan: RunPlan, overlay: string, socket: string): Promise<void> {
  try {
    await exec('qemu-img', [
      'create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', nbdUri({ socketPath: socket }), overlay,
    ]); // prettier-ignore
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    const message = `cannot create the overlay ${overlay}: ${(e.stderr || e.message).trim()}`;
    throw new EngineError('RUN_SERVER_FAILED', message, {
      cause: err,
      details: { vm: plan.vm, backup: plan.backup, message },
    });
  }
}

export async function defineRun(
  conn: Connection,
  repo: Repository,
  plan: RunPlan,
  o: { start?: boolean; signal?: AbortSignal } = {},
): Promise<StartedRun> {
  const made: string[] = [];
  let domain: Domain | undefined;
  try {
    for (const b of plan.bootFiles) {
      o.signal?.throwIfAborted();
      made.push(b.path);
      await writeBootFile(repo, plan.backup, b.disk, {
        path: b.path,
        final: b.path,
        inPlace: false,
      });
    }
    for (const d of plan.disks) {
      o.signal?.throwIfAborted();
      made.push(d.overlay);
      await createOverlay(plan, d.overlay, d.socket);
    }
    o.signal?.throwIfAborted();
    domain = await conn.defineDomain(plan.xml);
    if (o.start) await domain.start();
    return { vm: domain.name, uuid: domain.uuid, started: o.start === true };
  } catch (err) {
    if (domain) {
      if (await domain.isActive().catch(() => false)) await domain.destroy().catch(() => undefined);
      await domain.undefine().catch(() => undefined);
    }
    for (const path of made) await unlink(path).catch(() => undefined);
    throw err;
  }
}
