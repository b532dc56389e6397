/**
 * Snapshots of a VM: the tree (with the chain warnings), and create, revert and delete as jobs
 * of the service's queue (one job per VM, under the VM's lock, like the CLI). Revert and delete
 * are destructive: `{"dryRun": true}` returns the engine's plan (for revert, what will be lost),
 * `{"confirm": true}` does it, and neither is API_CONFIRM_REQUIRED.
 */
import type { Hono } from 'hono';
import {
  chainWarnings,
  createSnapshot,
  executeDelete,
  executeRevert,
  findVm,
  planDelete,
  planRevert,
  snapshotTree,
} from '../engine/index.js';
import { readDomainXml } from '../libvirt/index.js';
import type { ApiDeps } from './app.js';
import { json } from './json.js';
import {
  confirmation,
  jsonObject,
  optionalBoolean,
  optionalString,
  snapshotName,
  vmName,
} from './validate.js';

export function snapshotRoutes(app: Hono, deps: ApiDeps): void {
  app.get('/api/v1/vms/:name/snapshots', async (c) => {
    const vm = await findVm(await deps.connect(), vmName(c.req.param('name')));
    const nodes = await snapshotTree(vm);
    const warnings = chainWarnings(vm.name, nodes, readDomainXml(await vm.xml()).disks);
    return json({ vm: vm.name, snapshots: nodes, warnings });
  });

  app.post('/api/v1/vms/:name/snapshots', async (c) => {
    const name = vmName(c.req.param('name'));
    const body = await jsonObject(c.req, ['name', 'description', 'wait']);
    const snapshot = snapshotName(typeof body['name'] === 'string' ? body['name'] : undefined);
    const description = optionalString(body, 'description', 1000);
    const job = await deps.queue.submit({
      vm: name,
      kind: 'snapshot',
      wait: optionalBoolean(body, 'wait'),
      work: async () =>
        createSnapshot(await findVm(await deps.connect(), name), { name: snapshot, description }),
    });
    return json(job, 202);
  });

  app.post('/api/v1/vms/:name/snapshots/:snapshot/revert', async (c) => {
    const name = vmName(c.req.param('name'));
    const snapshot = snapshotName(c.req.param('snapshot'));
    const body = await jsonObject(c.req, ['confirm', 'dryRun', 'safetySnapshot', 'wait']);
    const how = confirmation(body, 'revert');
    const safetySnapshot = optionalBoolean(body, 'safetySnapshot');
    const vm = await findVm(await deps.connect(), name);
    // Planned now, so a bad name or an external snapshot is a 4xx, not a failed job.
    const plan = await planRevert(vm, snapshot);
    if (how === 'plan') return json({ plan });
    const job = await deps.queue.submit({
      vm: name,
      kind: 'snapshot',
      wait: optionalBoolean(body, 'wait'),
      // Planned again inside the job: the VM may have changed while the job waited.
      work: async () => executeRevert(vm, await planRevert(vm, snapshot), { safetySnapshot }),
    });
    return json(job, 202);
  });

  app.delete('/api/v1/vms/:name/snapshots/:snapshot', async (c) => {
    const name = vmName(c.req.param('name'));
    const snapshot = snapshotName(c.req.param('snapshot'));
    const body = await jsonObject(c.req, ['confirm', 'dryRun', 'children', 'wait']);
    const how = confirmation(body, 'delete');
    const children = optionalBoolean(body, 'children');
    const vm = await findVm(await deps.connect(), name);
    const plan = await planDelete(vm, snapshot, { children });
    if (how === 'plan') return json({ plan });
    const job = await deps.queue.submit({
      vm: name,
      kind: 'snapshot',
      wait: optionalBoolean(body, 'wait'),
      work: async () => executeDelete(vm, await planDelete(vm, snapshot, { children })),
    });
    return json(job, 202);
  });
}
