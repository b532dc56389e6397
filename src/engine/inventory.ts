/**
 * Inventory: what a libvirt host has, as brankas sees it — the hypervisor and
 * its versions, and every VM with its state, disks (format, virtual size) and
 * snapshot count. The first thing `brankas` shows, and the base of `status`.
 */
import {
  isNotFound,
  readDomainXml,
  versionString,
  type Connection,
  type Domain,
  type DomainStateName,
} from '../libvirt/index.js';

export interface DiskSummary {
  target: string;
  device: string;
  format: string | undefined;
  source: string | undefined;
  /** Bytes the guest sees; undefined when libvirt cannot tell (e.g. a missing file). */
  virtualSize: bigint | undefined;
  /** Bytes of host storage the image occupies. */
  allocation: bigint | undefined;
  /** Why the sizes are unknown, when they are. */
  problem: string | undefined;
}

export interface VmSummary {
  name: string;
  uuid: string;
  state: DomainStateName;
  persistent: boolean;
  snapshotCount: number;
  disks: DiskSummary[];
}

export interface HostInventory {
  uri: string;
  hostname: string;
  hypervisor: { type: string; version: string };
  libvirtVersion: string;
  vms: VmSummary[];
}

export async function summarizeVm(domain: Domain): Promise<VmSummary> {
  const [xml, state, persistent, snapshotCount] = await Promise.all([
    domain.xml(),
    domain.state(),
    domain.isPersistent(),
    domain.snapshotCount(),
  ]);
  const facts = readDomainXml(xml);
  const disks = await Promise.all(
    facts.disks.map(async (d): Promise<DiskSummary> => {
      const base = { target: d.target, device: d.device, format: d.format, source: d.source };
      if (d.device !== 'disk' || !d.source) {
        return { ...base, virtualSize: undefined, allocation: undefined, problem: undefined };
      }
      try {
        const info = await domain.blockInfo(d.target);
        return {
          ...base,
          virtualSize: info.capacity,
          allocation: info.allocation,
          problem: undefined,
        };
      } catch (err) {
        return {
          ...base,
          virtualSize: undefined,
          allocation: undefined,
          problem: (err as Error).message,
        };
      }
    }),
  );
  return {
    name: domain.name,
    uuid: domain.uuid,
    state: state.state,
    persistent,
    snapshotCount,
    disks,
  };
}

export async function inventory(conn: Connection): Promise<HostInventory> {
  const [hostname, type, hvVersion, libVersion, domains] = await Promise.all([
    conn.hostname(),
    conn.hypervisorType(),
    conn.hypervisorVersion(),
    conn.libVersion(),
    conn.listDomains(),
  ]);
  const vms: VmSummary[] = [];
  for (const d of domains) {
    try {
      vms.push(await summarizeVm(d));
    } catch (err) {
      // A VM undefined while we looked at it is simply not there any more.
      if (!isNotFound(err)) throw err;
    }
  }
  vms.sort((a, b) => a.name.localeCompare(b.name));
  return {
    uri: conn.uri.uri,
    hostname,
    hypervisor: { type, version: versionString(hvVersion) },
    libvirtVersion: versionString(libVersion),
    vms,
  };
}
