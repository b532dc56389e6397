/**
 * What the host has: the hypervisor, its VMs (power state, disks, snapshot count, last
 * backup) and the backups in the repository. Reads only.
 */
import type { Hono } from 'hono';
import {
  findVm,
  inventory,
  listBackupCatalogue,
  summarizeVm,
  verificationOf,
} from '../engine/index.js';
import type { BackupCatalogue } from '../engine/index.js';
import type { ApiDeps } from './app.js';
import { json } from './json.js';
import { vmName } from './validate.js';

async function catalogue(deps: ApiDeps): Promise<BackupCatalogue> {
  const repo = await deps.openRepo();
  try {
    return await listBackupCatalogue(repo);
  } finally {
    await repo.close();
  }
}

function backupRow(b: BackupCatalogue['backups'][number]) {
  return {
    id: b.id,
    vm: b.manifest.vm.name,
    time: b.manifest.startedAt,
    method: b.manifest.method,
    disks: b.manifest.disks.map((d) => d.name),
    /** Per disk: what the guest sees and what the backup read (data, not zeros or holes). */
    diskBytes: b.manifest.disks.map((d) => ({
      name: d.name,
      virtualSize: d.virtualSize,
      dataBytes: d.dataBytes,
    })),
    logicalBytes: b.manifest.disks.reduce((n, d) => n + d.virtualSize, 0),
    dataBytes: b.manifest.disks.reduce((n, d) => n + d.dataBytes, 0),
    verified: b.verified,
    /** The last restore test recorded in the backup, or null. */
    verification: verificationOf(b.manifest),
  };
}

/** The newest intact backup of each VM, by name. */
function lastBackups(c: BackupCatalogue): Map<string, ReturnType<typeof backupRow>> {
  const last = new Map<string, ReturnType<typeof backupRow>>();
  for (const b of c.backups) last.set(b.manifest.vm.name, backupRow(b)); // oldest first
  return last;
}

export function vmRoutes(app: Hono, deps: ApiDeps): void {
  app.get('/api/v1/host', async () => {
    const inv = await inventory(await deps.connect());
    return json({
      uri: inv.uri,
      hostname: inv.hostname,
      hypervisor: inv.hypervisor,
      libvirtVersion: inv.libvirtVersion,
      vms: inv.vms.length,
    });
  });

  app.get('/api/v1/vms', async () => {
    const [inv, cat] = await Promise.all([inventory(await deps.connect()), catalogue(deps)]);
    const last = lastBackups(cat);
    return json({ vms: inv.vms.map((vm) => ({ ...vm, lastBackup: last.get(vm.name) ?? null })) });
  });

  app.get('/api/v1/vms/:name', async (c) => {
    const name = vmName(c.req.param('name'));
    const vm = await summarizeVm(await findVm(await deps.connect(), name));
    const cat = await catalogue(deps);
    const backups = cat.backups.filter((b) => b.manifest.vm.name === name).map(backupRow);
    return json({ ...vm, lastBackup: backups.at(-1) ?? null, backups: backups.length });
  });

  app.get('/api/v1/backups', async (c) => {
    const q = c.req.query('vm');
    const vm = q === undefined ? undefined : vmName(q);
    const cat = await catalogue(deps);
    return json({
      backups: cat.backups
        .filter((b) => vm === undefined || b.manifest.vm.name === vm)
        .map(backupRow),
      damaged: cat.damaged.filter((d) => vm === undefined || d.vm === null || d.vm === vm),
    });
  });
}
