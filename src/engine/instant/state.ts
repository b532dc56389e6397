/**
 * What a run is now, for `run --list`, `--stop` and `--resume`: the VM
 * (defined or not, its state, paused for an I/O error or not), whether its
 * disks still read from the export's sockets, and from that the run's state
 * (docs/instant-recovery.md): `serving`, `broken` (the serving process is
 * gone and the VM still depends on it), `persisted` (on local disks now) or
 * `idle` (nothing depends on it any more).
 */
import { DomainXml, type Connection, type Domain } from '../../libvirt/index.js';
import { EngineError } from '../errors.js';
import { lookup } from '../restore/restore.js';
import { nbdSockets } from './xml.js';

import { PAUSED_IOERROR } from './resume.js';

export type RunState = 'serving' | 'broken' | 'persisted' | 'idle';

export interface RunFacts {
  vm: string;
  backup: string;
  sockets: string[];
  /** The serving process runs (the caller checks its identity). */
  serverAlive: boolean;
  serverPid: number;
  persisted: boolean;
}

export interface RunInspection {
  vm: string;
  state: RunState;
  defined: boolean;
  /** libvirt's state name (running, paused, shutoff...), null when not defined. */
  vmState: string | null;
  /** Paused at a read the export could not answer (the server gone). */
  pausedForIoError: boolean;
  /** Its disks (live ones when it runs) still name one of the export's sockets. */
  dependsOnExport: boolean;
}

export async function domainDependsOn(domain: Domain, sockets: string[]): Promise<boolean> {
  const active = await domain.isActive();
  const xmls = [await domain.xml(DomainXml.INACTIVE)];
  if (active) xmls.push(await domain.xml());
  return xmls.some((x) => nbdSockets(x).some((s) => sockets.includes(s)));
}

export async function inspectRun(conn: Connection, f: RunFacts): Promise<RunInspection> {
  const domain = await lookup(conn, f.vm);
  const st = domain ? await domain.state() : undefined;
  const dependsOnExport = domain ? await domainDependsOn(domain, f.sockets) : false;
  const state: RunState = f.serverAlive
    ? 'serving'
    : dependsOnExport
      ? 'broken'
      : f.persisted
        ? 'persisted'
        : 'idle';
  return {
    vm: f.vm,
    state,
    defined: domain !== undefined,
    vmState: st?.state ?? null,
    pausedForIoError: st?.state === 'paused' && st.reason === PAUSED_IOERROR,
    dependsOnExport,
  };
}

/**
 * RUN_VM_DEPENDS unless the export may stop: the VM is gone, or no longer reads from it
 * (persisted), or `force`.
 */
export async function checkStoppable(
  conn: Connection,
  f: RunFacts,
  force: boolean,
): Promise<RunInspection> {
  const i = await inspectRun(conn, f);
  if (i.dependsOnExport && f.serverAlive && !force) {
    throw new EngineError(
      'RUN_VM_DEPENDS',
      `VM '${f.vm}' still reads its disks from backup ${f.backup}, served by process ${f.serverPid}: without it the VM pauses at its next read. Persist it first (brankas run --persist ${f.vm}) or remove the VM, or stop with --force`,
      { details: { vm: f.vm, backup: f.backup, pid: f.serverPid } },
    );
  }
  return i;
}
