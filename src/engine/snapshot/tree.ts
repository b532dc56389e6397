/**
 * Reads every snapshot of a VM into a tree (parents before children, in
 * creation order), with the current marker.
 */
import {
  isNotFound,
  type Connection,
  type Domain,
  type DomainSnapshot,
} from '../../libvirt/index.js';
import { EngineError } from '../errors.js';
import { parseSnapshotXml, type SnapshotNode } from './model.js';

export async function findVm(conn: Connection, name: string): Promise<Domain> {
  try {
    return await conn.lookupDomain(name);
  } catch (err) {
    if (isNotFound(err)) {
      throw new EngineError('VM_NOT_FOUND', `no VM named '${name}' on ${conn.uri.uri}`, {
        cause: err,
        details: { vm: name },
      });
    }
    throw err;
  }
}

export async function findSnapshot(vm: Domain, name: string): Promise<DomainSnapshot> {
  try {
    return await vm.lookupSnapshot(name);
  } catch (err) {
    if (isNotFound(err)) {
      throw new EngineError(
        'SNAPSHOT_NOT_FOUND',
        `VM '${vm.name}' has no snapshot named '${name}'`,
        {
          cause: err,
          details: { vm: vm.name, snapshot: name },
        },
      );
    }
    throw err;
  }
}

export async function snapshotTree(vm: Domain): Promise<SnapshotNode[]> {
  // Most VMs have no snapshot: then there is no current one to ask for either.
  const snaps = await vm.listSnapshots();
  const current = snaps.length > 0 ? await vm.currentSnapshot() : null;
  const facts = await Promise.all(snaps.map(async (s) => parseSnapshotXml(await s.xml())));
  const byName = new Map(facts.map((f) => [f.name, f]));
  const kids = new Map<string, string[]>();
  for (const f of facts) {
    const parent = f.parent && byName.has(f.parent) ? f.parent : '';
    kids.set(parent, [...(kids.get(parent) ?? []), f.name]);
  }
  const byTime = (a: string, b: string): number =>
    byName.get(a)!.creationTime - byName.get(b)!.creationTime || a.localeCompare(b);
  const out: SnapshotNode[] = [];
  const visit = (name: string, depth: number): void => {
    const f = byName.get(name)!;
    const children = [...(kids.get(name) ?? [])].sort(byTime);
    out.push({ ...f, current: current?.name === name, children, depth });
    for (const c of children) visit(c, depth + 1);
  };
  for (const root of [...(kids.get('') ?? [])].sort(byTime)) visit(root, 0);
  return out;
}

/** The snapshot and all its descendants, deepest first (the order to delete them). */
export function descendants(nodes: SnapshotNode[], name: string): string[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const out: string[] = [];
  const walk = (n: string): void => {
    for (const c of byName.get(n)?.children ?? []) walk(c);
    out.push(n);
  };
  walk(name);
  return out;
}
