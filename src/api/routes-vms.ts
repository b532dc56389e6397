/**
 * What the host has: the hypervisor, its VMs (power state, disks, snapshot count, last
 * backup, and the schedule that covers each: so a face can tell a backup that is late against
 * its policy, and a VM no policy covers) and the backups in the repository. Reads only.
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
import { cronOf, matches, type Policy } from '../service/index.js';
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

/** The schedule of a VM: the policies that match it, their soonest run, their shortest period. */
export interface VmSchedule {
  policies: string[];
  nextRun: string | null;
  /** Seconds between two runs of the most frequent policy (null: a cron that does not repeat). */
  everySeconds: number | null;
}

/** Seconds between the next two runs of a policy. */
function period(p: Policy): number | null {
  const [a, b] = cronOf(p).nextRuns(2);
  return a && b ? Math.round((b.getTime() - a.getTime()) / 1000) : null;
}

/** The schedule of each VM by name (none without a scheduler, or for a VM no policy matches). */
async function schedulesOf(
  deps: ApiDeps,
  names: string[],
): Promise<Map<string, VmSchedule | null>> {
  const out = new Map<string, VmSchedule | null>(names.map((n) => [n, null]));
  const s = deps.schedules;
  if (!s) return out;
  const policies = await s.file.read();
  for (const name of names) {
    const mine = policies.filter((p) => p.vms.some((pattern) => matches(pattern, name)));
    if (mine.length === 0) continue;
    const next = mine
      .map((p) => s.nextRun(p))
      .filter((d): d is Date => d !== undefined)
      .sort((a, b) => a.getTime() - b.getTime())[0];
    const periods = mine.map(period).filter((n): n is number => n !== null);
    out.set(name, {
      policies: mine.map((p) => p.id),
      nextRun: next?.toISOString() ?? null,
      everySeconds: periods.length ? Math.min(...periods) : null,
    });
  }
  return out;
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
    const schedules = await schedulesOf(
      deps,
      inv.vms.map((vm) => vm.name),
    );
    return json({
      vms: inv.vms.map((vm) => ({
        ...vm,
        lastBackup: last.get(vm.name) ?? null,
        schedule: schedules.get(vm.name) ?? null,
      })),
    });
  });

  app.get('/api/v1/vms/:name', async (c) => {
    const name = vmName(c.req.param('name'));
    const vm = await summarizeVm(await findVm(await deps.connect(), name));
    const cat = await catalogue(deps);
    const backups = cat.backups.filter((b) => b.manifest.vm.name === name).map(backupRow);
    const schedule = (await schedulesOf(deps, [name])).get(name) ?? null;
    return json({ ...vm, lastBackup: backups.at(-1) ?? null, backups: backups.length, schedule });
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
