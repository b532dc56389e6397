/**
 * The domain XML a restore will define, made and checked before anything is
 * written: the saved XML with the planned paths (xml.ts), its graphical
 * consoles secured (graphics.ts), and compared with the reference VM (the
 * one the restore replaces, or else the backed-up VM still defined under its
 * UUID) for host access that VM does not have and for files and sockets
 * placed outside the restore's target (host-access.ts).
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { DomainXml, type Connection, type Domain } from '../../libvirt/index.js';
import { EngineError } from '../errors.js';
import {
  graphicsPasswords,
  redactPasswords,
  secureGraphics,
  type GraphicsDecision,
} from './graphics.js';
import {
  capabilityEmulators,
  describeHostAccess,
  fileDirs,
  newHostAccess,
  type HostAccess,
} from './host-access.js';
import { rewriteDomainXml, unixSocketPaths } from './xml.js';

export interface PlannedPath {
  disk: { name: string };
  path: string;
  format: string;
  /** A boot file (kernel, initrd...), named `boot-KIND`. */
  boot: boolean;
  /** Whether a file is there now, when the caller knows (a remote host's files); else looked up here. */
  exists?: boolean;
}

export interface DefinitionOptions {
  as?: string | undefined;
  toDir?: string | undefined;
  socketDir?: string | undefined;
  dropInterfaces?: boolean | undefined;
  graphicsPassword?: string | undefined;
}

export interface Definition {
  xml: string;
  graphics: GraphicsDecision[];
  /** Host access the reference VM does not have (empty when none). */
  hostAccess: HostAccess[];
  /** The reference VM's name, when there is one. */
  reference: string | undefined;
}

/** The reference VM's XML with its console passwords (without them when that is not allowed). */
async function referenceXml(vm: Domain | undefined): Promise<string | undefined> {
  if (!vm) return undefined;
  return vm.xml(DomainXml.INACTIVE | DomainXml.SECURE).catch(() => vm.xml(DomainXml.INACTIVE));
}

/** Directories of the host's storage pools (dir, fs, netfs): places meant for disk images. */
async function poolDirs(conn: Connection): Promise<string[]> {
  const dirs: string[] = [];
  for (const pool of await conn.listStoragePools().catch(() => [])) {
    const xml = await pool.xml().catch(() => '');
    if (!/<pool type=['"](dir|fs|netfs)['"]/.test(xml)) continue;
    const path = /<target>\s*<path>([^<]+)<\/path>/.exec(xml)?.[1];
    if (path) dirs.push(path);
  }
  return dirs;
}

export async function planDefinition(
  conn: Connection,
  savedXml: string,
  plan: PlannedPath[],
  reference: Domain | undefined,
  o: DefinitionOptions,
): Promise<Definition> {
  const refXml = await referenceXml(reference);
  const disks = plan.filter((p) => !p.boot);
  const socketDir = o.as
    ? (o.socketDir ?? o.toDir ?? (disks[0] ? dirname(disks[0].path) : undefined))
    : undefined;
  const rewritten = rewriteDomainXml(savedXml, {
    disks: new Map(
      disks.map((p) => [
        p.disk.name,
        { path: p.path, format: p.format === 'raw' ? 'raw' : 'qcow2' },
      ]),
    ),
    bootFiles: new Map(
      plan.filter((p) => p.boot).map((p) => [p.disk.name.slice('boot-'.length), p.path]),
    ),
    newName: o.as,
    socketDir,
    dropInterfaces: o.dropInterfaces ?? false,
  });
  const { xml, graphics } = secureGraphics(rewritten, {
    password: o.graphicsPassword,
    inherited: refXml ? graphicsPasswords(refXml) : undefined,
  });
  // A copy's sockets are placed by the restore, like its files: judged by where they go.
  const sockets =
    socketDir === undefined ? [] : unixSocketPaths(xml).filter((p) => dirname(p) === socketDir);
  const hostAccess = newHostAccess({
    xml,
    reference: refXml,
    written: [...new Set([...plan.map((p) => p.path), ...sockets])],
    replaced: plan.filter((p) => p.exists ?? existsSync(p.path)).map((p) => p.path),
    writeDirs: [...(refXml ? fileDirs(refXml) : []), ...(await poolDirs(conn))],
    ownDirs: [o.toDir, o.socketDir].filter((d): d is string => d !== undefined),
    emulators: capabilityEmulators(await conn.capabilities()),
  });
  return { xml, graphics, hostAccess, reference: reference?.name };
}

/** RESTORE_HOST_ACCESS: what it would grant, on one line, and the XML (passwords removed). */
export function hostAccessRefused(
  backup: string,
  vm: string,
  reference: string | undefined,
  hostAccess: HostAccess[],
  xml: string,
): EngineError {
  const parts = describeHostAccess(hostAccess);
  return new EngineError(
    'RESTORE_HOST_ACCESS',
    `restoring backup ${backup} as VM '${vm}' would give it host access that ` +
      `${reference ? `VM '${reference}' does not have` : 'no VM defined here vouches for'}: ` +
      `${parts}. Nothing was written. Check the XML it would define (--dry-run shows it); ` +
      'restore --to a directory of its own, or with --allow-host-access to grant it',
    {
      details: {
        vm,
        backup,
        reference: reference ?? null,
        parts,
        hostAccess,
        xml: redactPasswords(xml),
      },
    },
  );
}
