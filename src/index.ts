/**
 * brankas as a library: the libvirt client and the engines.
 */
export * from './libvirt/index.js';
export * from './util/errors.js';
export { inventory, summarizeVm } from './engine/inventory.js';
export type { HostInventory, VmSummary, DiskSummary } from './engine/inventory.js';
